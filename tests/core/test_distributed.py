"""Two processes under torchrun (gloo, CPU) give the result one process gives with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from tests.helpers.tiny import (
    TINY_PROFILE,
    TINY_STPRIVACY,
    write_tiny_models,
    write_tiny_protocols,
)
from vpbench.core import distributed
from vpbench.core.errors import VPBenchError
from vpbench.data.builder import build_dataset

# No BatchNorm and no dropout: with them, per-rank batch statistics and per-rank dropout masks
# differ from one process's by design (SyncBatchNorm needs GPUs); a ViT has neither.
VIT = {"arch": "video-vit", "tubelet": [2, 8, 8], "dim": 16, "depth": 1, "heads": 2}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    build_dataset("synth-hmdb51", root / "data" / "synth-hmdb51", size="tiny", seed=0, progress=False)
    models = write_tiny_models(root / "models")
    # A global batch of 5 over 12 training videos: batches of 5 split 3 + 2 (uneven shares, weighted), the last
    # batch (2) splits 1 + 1.
    profile = {
        **TINY_PROFILE,
        "action": VIT,
        "privacy": VIT,
        "train": {**TINY_PROFILE["train"], "epochs": 2, "batch_size": 5},
    }
    (models / "recognizers.yaml").write_text(
        yaml.safe_dump({"name": "recognizers", "version": 1, "profiles": {"cpu": profile}})
    )
    # STPrivacy with the paper's linear tubelet projection (the cpu profile's conv stem has BatchNorm).
    card_path = models / "methods" / "stprivacy.yaml"
    card = yaml.safe_load(card_path.read_text())
    card["profiles"]["cpu"] = {
        **TINY_STPRIVACY,
        "stem": "linear",
        "batch_size": 5,
        "aux_action": VIT,
        "aux_privacy": VIT,
        "train_min_scale": 0.8,
    }  # the scale-jitter crops, drawn for the global batch, split too
    card_path.write_text(yaml.safe_dump(card))
    return {"root": root, "models": models, "protocols": write_tiny_protocols(root / "protocols")}


def _evaluate(env, out, launcher: list[str], method: str = "raw") -> dict:
    cmd = [
        *launcher,
        "-m",
        "vpbench",
        "evaluate",
        "--method",
        method,
        "--protocol",
        "known",
        "--dataset",
        "synth-hmdb51",
        "--data-root",
        str(env["root"] / "data"),
        "--models-dir",
        str(env["models"]),
        "--protocols-dir",
        str(env["protocols"]),
        "--out",
        str(out),
    ]
    environ = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=environ, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    run = f"known/synth-hmdb51/{method}/cpu-seed0"
    kept = [f"{run}.json", f"{run}.preview.png", f"{run}.curves.csv", f"{run}.curves.png"]
    assert files == sorted(kept + ([f"{run}.pt"] if method != "raw" else [])), files
    return json.loads((out / f"{run}.json").read_text())


def _torchrun(nproc: int = 2) -> list[str]:
    port = 29500 + (os.getpid() * 7 + nproc) % 2000
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


def _numbers(doc: dict) -> dict:
    out = {f"{k}.{f}": v[f] for k, v in doc["scores"].items() for f in ("value", "ci_low", "ci_high")}
    for attr, scores in doc["per_attribute"].items():
        out.update({f"{attr}.{k}": v for k, v in scores.items() if isinstance(v, (int, float))})
    return out


def test_two_gloo_processes_equal_one_process_with_the_same_global_batch(env, tmp_path):
    single = _evaluate(env, tmp_path / "single", [sys.executable])
    double = _evaluate(env, tmp_path / "ddp", _torchrun())
    a, b = _numbers(single), _numbers(double)
    assert a.keys() == b.keys() and len(a) > 6
    # Float tolerance: the two processes sum the gradient in another order than one process does.
    np.testing.assert_allclose([b[k] for k in a], [a[k] for k in a], rtol=0, atol=1e-4)
    assert single["wall_time_s"]["train_action"] > 0 and double["counts"] == single["counts"]


def test_stprivacy_fit_under_two_gloo_processes_equals_one_process(env, tmp_path):
    """Every stage of STPrivacy's fit (init, PAB and auxiliary warm starts, adversarial) under DDP."""
    import torch

    single = _evaluate(env, tmp_path / "single", [sys.executable], "stprivacy")
    double = _evaluate(env, tmp_path / "ddp", _torchrun(), "stprivacy")
    run = "known/synth-hmdb51/stprivacy/cpu-seed0.pt"
    s1 = torch.load(tmp_path / "single" / run, weights_only=False)["state"]
    s2 = torch.load(tmp_path / "ddp" / run, weights_only=False)["state"]
    # Each rank trained on its share of every global batch (12 train videos, batches 5 + 5 + 2, rank 0 taking
    # 2 + 2 + 1; 4 epochs in all: init, PAB warm start, auxiliary warm start, adversarial).
    assert s1["log"]["work"] == {"world_size": 1, "clips": 48, "clips_here": 48}
    assert s2["log"]["work"] == {"world_size": 2, "clips": 48, "clips_here": 20}
    assert [len(s2["log"][stage]) for stage in ("phase1", "pab_warmup", "aux_warmup", "phase2")] == [1, 1, 1, 1]
    w1, w2 = s1["weights"], s2["weights"]
    assert w1.keys() == w2.keys() and len(w1) > 20
    for k in w1:
        np.testing.assert_allclose(w2[k].numpy(), w1[k].numpy(), rtol=0, atol=1e-4, err_msg=k)
    # The scores are not compared: rounding the output to uint8 turns the weights' 1e-6 differences
    # into one-level pixel differences, which the recognizers trained on them then amplify.
    assert single["method"]["trained_on"] == "synth-hmdb51" and double["counts"] == single["counts"]


def test_shares_cover_a_batch_once_with_weights_that_average_to_one(monkeypatch):
    for size in (1, 2, 3, 8):
        for n in (1, 2, 5, 6, 17):
            parts, weights = [], []
            for rank in range(size):
                monkeypatch.setattr(distributed, "world", lambda rank=rank: (rank, size))
                part, weight = distributed.share(n)
                parts.extend(range(n)[part])
                weights.append(weight)
            assert parts == list(range(n))
            assert sum(weights) / size == pytest.approx(1.0)


def test_alone_nothing_is_distributed():
    assert distributed.world() == (0, 1) and distributed.is_main() and not distributed.init_from_env()
    assert distributed.share(7) == (slice(0, 7), 1.0)


def test_the_group_waits_longer_than_torchs_default(monkeypatch):
    # Rank 0 may decode a whole dataset into its clip cache while the others wait at a barrier; NCCL's own
    # default (10 min) would end the job there.
    import torch.distributed as dist

    seen = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend, **kw: seen.update(backend=backend, **kw))
    monkeypatch.delenv("VPBENCH_DIST_TIMEOUT_MIN", raising=False)
    assert distributed.init_from_env()
    assert seen["timeout"].total_seconds() == distributed.DIST_TIMEOUT_MIN * 60 > 30 * 60
    monkeypatch.setenv("VPBENCH_DIST_TIMEOUT_MIN", "600")
    distributed.init_from_env()
    assert seen["timeout"].total_seconds() == 600 * 60
    for bad in ("0", "soon", "inf"):
        monkeypatch.setenv("VPBENCH_DIST_TIMEOUT_MIN", bad)
        with pytest.raises(VPBenchError, match="VPBENCH_DIST_TIMEOUT_MIN"):
            distributed.init_from_env()
