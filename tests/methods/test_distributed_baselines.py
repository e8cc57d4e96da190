"""VITA, SPAct and Collective under torchrun: two gloo processes fit what one process fits with the same global batch.

As for STPrivacy (tests/core/test_distributed.py): every rank draws the random numbers of the whole global
batch, trains on its share of it through DDP, and weights its loss by the share; SPAct's NT-Xent,
whose negatives are the whole batch, gathers the embeddings. The networks here have no BatchNorm
(per-rank batch statistics differ from one process's by design; SyncBatchNorm needs GPUs) and no
dropout: the anonymizers' instance norm, ViT recognizers, frame models with ``norm: group``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from tests.helpers.tiny import REPO, TINY_PROFILE, write_tiny_models
from vpbench.networks.anonymizers import AnonymizerConfig, FrameAnonymizer

BASELINES = ["vita", "spact", "collective"]
VIT = {"arch": "video-vit", "tubelet": [2, 8, 8], "dim": 16, "depth": 1, "heads": 2}
# 10 videos: batches of 6 split 3 + 3, the last (4) 2 + 2; privacy batches of 5 split 3 + 2 (an uneven gather).
CHANGES = {
    "vita": {
        "action_model": VIT,
        "batch_size": 6,
        "recon_batch": 3,
        "budget_batch": 5,
        "action_threshold": 1.01,
        "budget_models": [
            {"arch": "frame-resnet", "widths": [4, 8], "norm": "group"},
            {"arch": "frame-mobilenet", "widths": [4, 8, 8], "norm": "group"},
        ],
    },
    "spact": {
        "action_model": VIT,
        "batch_size": 6,
        "recon_batch": 3,
        "privacy_batch": 5,
        "anonymizer": {"arch": "degradation", "widths": [4, 8, 8], "blocks": 1, "outer_kernel": 3},
        "privacy_encoder": {"arch": "frame-resnet", "widths": [4, 8], "norm": "group"},
    },
    "collective": {"action_model": VIT, "discriminator": VIT, "batch_size": 6, "recon_batch": 3},
}

# Fits every baseline on the same 10 random videos and writes, per rank, what it decoded; rank 0 also
# the trained weights and the fit logs.
SCRIPT = r"""
import json, sys
import numpy as np, torch
from vpbench.core import distributed
from vpbench.core.config import method_settings
from vpbench.methods import FitContext, FitData, create_method
from vpbench.methods.anonymizer_method import ClipDraw

models, out = sys.argv[1], sys.argv[2]
distributed.configure("cpu")
distributed.init_from_env()
rank, size = distributed.world()
counts = {"world_size": size, "clips": 0, "clips_here": 0}
clips = ClipDraw.clips

def counted(self, sel):
    got = clips(self, sel)
    counts["clips"] += len(sel)
    counts["clips_here"] += len(got)
    return got

ClipDraw.clips = counted
rng = np.random.default_rng(0)
videos = [rng.integers(0, 256, (8, 32, 40, 3), dtype=np.uint8) for _ in range(10)]
data = FitData(videos=videos, actions=rng.integers(0, 3, 10),
               privacy=rng.integers(0, 2, (10, 5)).astype(np.float32), num_actions=3)
context = FitContext.of({**json.loads(sys.argv[3]), "clip_len": 4}, seed=0, progress=False)
fitted = {}
for name in ["vita", "spact", "collective"]:
    method = create_method(name)
    method.fit(data, method_settings(name, "cpu", models), context)
    state = method.state_dict()
    fitted[name] = {"weights": state["weights"], "log": state["log"]}
json.dump(counts, open(f"{out}/counts{rank}.json", "w"))
if rank == 0:
    torch.save(fitted, f"{out}/fitted.pt")
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    models = write_tiny_models(tmp_path_factory.mktemp("ddp-baselines"))
    for name, changes in CHANGES.items():
        path = models / "methods" / f"{name}.yaml"
        card = yaml.safe_load(path.read_text())
        card["profiles"]["cpu"].update(changes)
        path.write_text(yaml.safe_dump(card))
    return models


def _fit(models, out, launcher: list[str]) -> tuple[dict, list[dict]]:
    out.mkdir()
    script = out / "fit.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [*launcher, str(script), str(models), str(out), json.dumps(TINY_PROFILE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = [json.loads(p.read_text()) for p in sorted(out.glob("counts*.json"))]
    return torch.load(out / "fitted.pt", weights_only=False), counts


def _torchrun(nproc: int = 2) -> list[str]:
    port = 29500 + (os.getpid() * 7 + nproc + 1000) % 2000  # another port than tests/core/test_distributed.py's
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        str(nproc),
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
    ]


def _numbers(log) -> list[float]:
    """Every number of a fit log, in order (booleans and counts included)."""
    if isinstance(log, dict):
        return [x for k in sorted(log) for x in _numbers(log[k])]
    if isinstance(log, list):
        return [x for v in log for x in _numbers(v)]
    return [float(log)] if isinstance(log, (int, float)) and log is not None else []


def _noise_only() -> set[str]:
    """The degradation net's convolution biases. Each feeds an instance norm, which subtracts it again:
    its gradient is zero but for float rounding, which Adam scales up to full-size steps, so its value
    is rounding noise in any two runs that sum in another order (measured: up to 5e-3 here, while every
    other weight agrees within 2e-6)."""
    net = FrameAnonymizer(
        AnonymizerConfig("degradation", {"widths": [4, 8, 8], "blocks": 1, "outer_kernel": 3}, 32, 40, 4)
    )
    return {f"{name}.bias" for name, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))}


def test_baseline_fits_under_two_gloo_processes_equal_one_process(models, tmp_path):
    single, [alone] = _fit(models, tmp_path / "single", [sys.executable])
    double, ranks = _fit(models, tmp_path / "ddp", _torchrun())
    # Each rank decoded half of every global batch's clips; together, what one process decoded.
    assert alone["world_size"] == 1 and alone["clips_here"] == alone["clips"] > 50
    assert [r["world_size"] for r in ranks] == [2, 2] and all(r["clips"] == alone["clips"] for r in ranks)
    assert sum(r["clips_here"] for r in ranks) == alone["clips"] and all(
        r["clips_here"] < 0.6 * alone["clips"] for r in ranks
    )
    noise = _noise_only()
    for name in BASELINES:
        w1, w2 = single[name]["weights"], double[name]["weights"]
        assert w1.keys() == w2.keys() and len(w1) > 10 and len(noise & w1.keys()) == 8, name
        # Float tolerance: the two processes sum the gradient in another order than one process does.
        for k in sorted(w1.keys() - noise):
            np.testing.assert_allclose(w2[k].numpy(), w1[k].numpy(), rtol=0, atol=1e-5, err_msg=f"{name} {k}")
        # The logs (the global batches' losses, the schedules, VITA's accuracy monitor) too.
        l1, l2 = _numbers(single[name]["log"]), _numbers(double[name]["log"])
        assert len(l1) == len(l2) > 10, name
        np.testing.assert_allclose(l2, l1, rtol=0, atol=2e-4, err_msg=name)


def test_frame_models_with_group_norm_have_no_batch_statistics_and_a_bad_norm_is_refused():
    from vpbench.core.errors import VPBenchError
    from vpbench.networks.frame_models import create_frame_model

    # The premise of the test above: with norm: group nothing in a frame model depends on the rest of the batch.
    for arch in ("frame-resnet", "frame-mobilenet"):
        grouped = create_frame_model({"arch": arch, "widths": [4, 8, 8], "norm": "group"}, 5)
        assert not [m for m in grouped.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        assert [
            m
            for m in create_frame_model({"arch": arch, "widths": [4, 8, 8]}, 5).modules()
            if isinstance(m, nn.BatchNorm2d)
        ]
        x = torch.rand(4, 3, 16, 16)
        grouped.train()  # in training, where BatchNorm would use the batch's statistics
        with torch.no_grad():
            torch.testing.assert_close(grouped(x)[:2], grouped(x[:2]))  # an item's output does not depend on the others
    with pytest.raises(VPBenchError, match="^frame model norm must be one of batch, group, got 'layer'$"):
        create_frame_model({"arch": "frame-resnet", "norm": "layer"}, 5)
