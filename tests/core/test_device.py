"""--device and --precision: one choice per process, checked before any work, used by every loop.

This machine may have no GPU, so the GPU rules are checked against a faked ``torch.cuda`` (what
``configure`` asks of it), the loops' device against the ``meta`` device (a device that is not the
CPU, on which a forward pass runs without data: a batch or a model left on the CPU shows there),
and bf16 for real on the CPU, where torch's autocast does bf16.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from tests.helpers.results import read_result
from tests.helpers.tiny import (
    REPO,
    TINY_PROFILE,
    fit_with_card,
    write_tiny_models,
    write_tiny_protocols,
)
from vpbench.core import distributed
from vpbench.core.errors import VPBenchError
from vpbench.data.builder import build_dataset
from vpbench.data.frames.store import FrameStore
from vpbench.evaluation import EvaluationRequest, evaluate
from vpbench.evaluation.engine import (
    TrainConfig,
    predict_frames,
    predict_videos,
    train_frame_recognizer,
    train_video_recognizer,
)
from vpbench.methods import FitData, create_method
from vpbench.networks.recognizers import create_recognizer

LEARNED = ["stprivacy", "vita", "spact", "collective"]
META = torch.device("meta")


@pytest.fixture(autouse=True)
def _default_choice_after_each_test():
    """The choice is process-wide: every test leaves the one it found (other test files fit in this process)."""
    saved = dict(distributed._chosen)
    yield
    distributed._chosen.update(saved)


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    """Every test of this file on one thread (tests/conftest.py: one_thread)."""


@contextlib.contextmanager
def forwards():
    """Every module's forward call while active: the devices of its tensor inputs, parameters and buffers,
    and whether it ran under CPU bf16 autocast."""
    seen: list[dict] = []

    def hook(module, args):
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        tensors += list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))
        seen.append(
            {
                "module": type(module).__name__,
                "devices": {t.device.type for t in tensors},
                "bf16": torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16,
            }
        )

    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def _on_meta(fn) -> list[dict]:
    """Run ``fn`` with the configured device set to ``meta`` and record its forward calls. A meta tensor has
    no values, so the loop stops at its first ``.item()`` or ``.numpy()``: by then its forward passes ran."""
    distributed._chosen.update(device=META, precision="fp32")  # configure() accepts real devices only
    with forwards() as seen:
        try:
            fn()
        except (RuntimeError, NotImplementedError) as exc:  # what copying out of a meta tensor raises
            assert "meta" in str(exc).lower(), exc  # and not, say, a device mismatch
    assert seen, "no forward pass ran"
    return seen


def _off_device(seen: list[dict], device: str) -> list[str]:
    return sorted({s["module"] for s in seen if s["devices"] - {device}})


# --------------------------------------------------------------------------- the GPU rules, on faked GPUs


@pytest.fixture
def fake_gpus(monkeypatch):
    """``torch.cuda`` as a machine with two GPUs of compute capability ``gpus["capability"]`` shows it."""
    gpus = {"count": 2, "capability": (8, 0), "current": []}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus["count"])
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda dev=None: gpus["capability"])
    monkeypatch.setattr(torch.cuda, "set_device", lambda dev: gpus["current"].append(torch.device(dev)))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda dev=None: "Fake GPU")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    return gpus


def test_a_gpu_index_out_of_range_is_refused_and_one_in_range_is_used(fake_gpus):
    with pytest.raises(VPBenchError, match=r"^--device cuda:2: this machine has 2 CUDA device\(s\), cuda:0 to cuda:1$"):
        distributed.configure("cuda:2")
    assert distributed.configure("cuda:1") == torch.device("cuda", 1) == distributed.device()
    assert fake_gpus["current"] == [torch.device("cuda", 1)]  # made the current GPU too
    assert distributed.configure("auto") == torch.device("cuda", 0)
    assert distributed.configure("cuda") == torch.device("cuda", 0)
    assert distributed.configure("cpu") == torch.device("cpu")


def test_under_torchrun_each_rank_takes_its_local_rank_gpu(fake_gpus, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.configure("auto") == torch.device("cuda", 1)
    assert distributed.configure("cuda") == torch.device("cuda", 1)
    with pytest.raises(VPBenchError, match="under torchrun: each rank takes its LOCAL_RANK GPU"):
        distributed.configure("cuda:0")  # both ranks on one GPU
    monkeypatch.setenv("LOCAL_RANK", "2")
    with pytest.raises(VPBenchError, match="local rank 2 but this machine has 2 CUDA device"):
        distributed.configure("auto")


def test_bf16_is_refused_on_a_gpu_that_cannot_and_allowed_on_the_cpu(fake_gpus):
    fake_gpus["capability"] = (7, 0)  # a V100: bf16 only emulated
    assert distributed.configure("cuda", "fp32") == torch.device("cuda", 0)
    with pytest.raises(VPBenchError, match=r"^--precision bf16: cuda:0 has compute capability 7\.0, bf16 needs 8\.0"):
        distributed.configure("cuda", "bf16")
    # A refused choice changes nothing: the process keeps the one it had.
    assert distributed.precision() == "fp32" and distributed.device() == torch.device("cuda", 0)
    assert distributed.configure("cpu", "bf16") == torch.device("cpu") and distributed.precision() == "bf16"
    fake_gpus["capability"] = (9, 0)
    distributed.configure("cuda:1", "bf16")
    assert distributed.describe() == {
        "device": "cuda:1",
        "device_name": "Fake GPU",
        "requested_device": "cuda:1",
        "precision": "bf16",
        "world_size": 1,
    }


def test_unknown_device_or_precision_names_the_choices(fake_gpus):
    cases = {
        "gpu": "unknown device 'gpu' (did you mean 'cuda'?); choose from: auto, cpu, cuda, cuda:K",
        "cuda1": "unknown device 'cuda1' (did you mean 'cuda:1'?); choose from: auto, cpu, cuda, cuda:K",
        "cpus": "unknown device 'cpus' (did you mean 'cpu'?); choose from: auto, cpu, cuda, cuda:K",
        "mps": "unknown device 'mps'; choose from: auto, cpu, cuda, cuda:K",
    }
    for spec, message in cases.items():
        with pytest.raises(VPBenchError) as err:
            distributed.configure(spec)
        assert str(err.value) == message
    with pytest.raises(
        VPBenchError,
        match=r"^unknown precision 'fp16' \(did you mean 'bf16'\?\); choose from: fp32, "
        r"bf16$",
    ):
        distributed.configure("cpu", "fp16")


# --------------------------------------------------------------------------- the command line, without CUDA

HARNESS = r"""
import contextlib, io, json, sys
from vpbench.cli import main
results = []
for argv in json.loads(sys.stdin.read()):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code
    results.append({"code": code, "stderr": err.getvalue()})
print(json.dumps(results))
"""


def test_cli_refuses_a_device_it_lacks_in_one_line_before_any_work(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    src = tmp_path / "in.avi"
    src.write_bytes(b"not read: the device is checked first")
    evaluate_args = [
        "evaluate",
        "--method",
        "raw",
        "--protocol",
        "known",
        "--dataset",
        "synth-hmdb51",
        "--data-root",
        str(data),
        "--out",
        str(out),
    ]
    cases = [
        (evaluate_args + ["--device", "cuda"], "error: --device cuda: this machine has no CUDA device torch can use"),
        (
            evaluate_args + ["--device", "cuda:1"],
            "error: --device cuda:1: this machine has no CUDA device torch can use",
        ),
        (
            evaluate_args + ["--device", "gpu"],
            "error: unknown device 'gpu' (did you mean 'cuda'?); choose from: auto, cpu, cuda, cuda:K",
        ),
        (
            evaluate_args + ["--device", "cpu", "--precision", "fp16"],
            "error: unknown precision 'fp16' (did you mean 'bf16'?); choose from: fp32, bf16",
        ),
        (
            ["anonymize", "--method", "raw", "--device", "cuda", str(src), str(tmp_path / "out.mp4")],
            "error: --device cuda: this machine has no CUDA device torch can use",
        ),
    ]
    # No GPU visible, whatever this machine has: the test means the same everywhere.
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", HARNESS],
        input=json.dumps([argv for argv, _ in cases]),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for (argv, start), got in zip(cases, json.loads(proc.stdout)):
        assert got["code"] == 2, (argv, got)
        lines = got["stderr"].splitlines()
        assert len(lines) == 1 and lines[0].startswith(start), (argv, got["stderr"])
    # Before any work: VP-Synth not built on first use, no results folder, no output video or record.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.avi"]


# --------------------------------------------------------------------------- bf16 for real, on the CPU


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("device")
    build_dataset("synth-hmdb51", root / "data" / "synth-hmdb51", size="tiny", seed=0, progress=False)
    return {
        "root": root,
        "models": write_tiny_models(root / "models"),
        "protocols": write_tiny_protocols(root / "protocols"),
    }


def _finite(value) -> bool:
    """Every number in a JSON-like value is finite."""
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


def test_raw_evaluates_end_to_end_on_the_cpu_in_bf16_and_records_it(synth, tmp_path):
    request = EvaluationRequest(
        method="raw",
        protocol="known",
        suite="synth",
        dataset="synth-hmdb51",
        data_root=synth["root"] / "data",
        out=tmp_path,
        models_dir=synth["models"],
        protocols_dir=synth["protocols"],
        progress=False,
        device="cpu",
        precision="bf16",
    )
    with forwards() as seen:
        [path] = evaluate(request)
    r = read_result(path)
    assert (
        r["hardware"]["device"] == "cpu"
        and r["hardware"]["precision"] == "bf16"
        and r["hardware"]["requested_device"] == "cpu"
    )
    numbers = [s[k] for s in r["scores"].values() for k in ("value", "ci_low", "ci_high")]
    # the three headline scores, their three frozen twins, PSNR and SSIM
    assert len(numbers) == 24 and all(math.isfinite(v) for v in numbers) and _finite(r["per_attribute"])
    # Both recognizers trained and tested, every forward pass under bf16 autocast.
    assert "VideoCNN" in {s["module"] for s in seen}
    assert [s["module"] for s in seen if not s["bf16"]] == []


def _tiny_fit_data(n: int = 8, frames: int = 10) -> FitData:
    rng = np.random.default_rng(0)
    return FitData(
        videos=[rng.integers(0, 256, (frames, 32, 40, 3), dtype=np.uint8) for _ in range(n)],
        actions=rng.integers(0, 3, n),
        privacy=rng.integers(0, 2, (n, 5)).astype(np.float32),
        num_actions=3,
    )


def _fit(method, models):
    # STPrivacy's tubelets are 2 frames x 8 x 8 over clips of the profile's 8 frames; the baselines take 4-frame clips.
    return fit_with_card(
        method, _tiny_fit_data(), {**TINY_PROFILE, "clip_len": 8 if method.name == "stprivacy" else 4}, models
    )


@pytest.mark.parametrize("name", LEARNED)
def test_each_learned_method_fits_and_transforms_in_bf16_on_the_cpu(name, synth):
    distributed.configure("cpu", "bf16")
    method = create_method(name)
    with forwards() as seen:
        _fit(method, synth["models"])
        videos = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (2, 8, 32, 40, 3), dtype=np.uint8))
        out = method.transform(videos)
    assert len(seen) > 20 and [s["module"] for s in seen if not s["bf16"]] == []
    assert out.shape == videos.shape and out.dtype == torch.uint8 and out.device.type == "cpu"
    assert all(torch.isfinite(p).all() for p in method.net.parameters())
    assert _finite(method.log) and method.log


def test_the_frame_loops_run_in_bf16_on_the_cpu_and_give_finite_scores():
    distributed.configure("cpu", "bf16")
    store, videos = _frame_store()
    model = create_recognizer(TINY_PROFILE["frame_privacy"], 5, 1, 32)
    cfg = TrainConfig.from_dict({**TINY_PROFILE["frame_train"], "clip_len": 1, "crop": 32})
    with forwards() as seen:
        done = train_frame_recognizer(model, store, videos, cfg, seed=0, progress=False)
        probs, labels, owner = predict_frames(model, store, videos, 32, num_crops=3)
    assert [s["module"] for s in seen if not s["bf16"]] == [] and len(seen) > 4
    assert math.isfinite(done["final_loss"]) and probs.dtype == np.float64 and np.isfinite(probs).all()
    assert probs.shape == labels.shape == (store.total_frames, 5) and len(owner) == len(probs)


# --------------------------------------------------------------------------- the device every loop uses


def _frame_store(n: int = 4, frames: int = 10) -> tuple[FrameStore, np.ndarray]:
    rng = np.random.default_rng(0)
    store = FrameStore.from_offsets(
        rng.integers(0, 256, (n * frames, 32, 40, 3), dtype=np.uint8),
        np.arange(0, n * frames + 1, frames, dtype=np.int64),
        [f"v{i}" for i in range(n)],
        frame_labels=rng.integers(0, 2, (n * frames, 5)).astype(np.int8),
    )
    return store, np.arange(n)


def test_the_recognizer_loops_use_the_configured_device():
    store, videos = _frame_store()
    spec = TINY_PROFILE["action"]
    cfg = TrainConfig.from_dict({**TINY_PROFILE["train"], "clip_len": 8, "crop": 32})
    frame_cfg = TrainConfig.from_dict({**TINY_PROFILE["frame_train"], "clip_len": 1, "crop": 32})
    loops = {
        "train_video_recognizer": lambda: train_video_recognizer(
            create_recognizer(spec, 3, 8, 32), store, videos, np.array([0, 1, 2, 0]), "action", cfg, 0, progress=False
        ),
        "predict_videos": lambda: predict_videos(
            create_recognizer(spec, 5, 8, 32), store, videos, "privacy", 8, 32, 2, 3, progress=False
        ),
        "train_frame_recognizer": lambda: train_frame_recognizer(
            create_recognizer(TINY_PROFILE["frame_privacy"], 5, 1, 32), store, videos, frame_cfg, 0, progress=False
        ),
        "predict_frames": lambda: predict_frames(
            create_recognizer(TINY_PROFILE["frame_privacy"], 5, 1, 32), store, videos, 32, 3
        ),
    }
    for name, loop in loops.items():
        assert _off_device(_on_meta(loop), "meta") == [], name


@pytest.fixture(scope="module")
def adversarial_first(tmp_path_factory):
    """Model cards whose fits skip every pre-training stage, so that the first step trains against every adversary."""
    models = write_tiny_models(tmp_path_factory.mktemp("adv-first"))
    skip = {
        "recon_steps": 0,
        "action_pretrain_epochs": 0,
        "privacy_pretrain_steps": 0,
        "discriminator_pretrain_epochs": 0,
        "restart_pretrain_steps": 0,
        "init_epochs": 0,
        "pab_warmup_epochs": 0,
    }
    for card_path in (models / "methods").glob("*.yaml"):
        card = yaml.safe_load(card_path.read_text())
        if card["name"] in LEARNED:
            card["profiles"]["cpu"].update({k: v for k, v in skip.items() if k in card["profiles"]["cpu"]})
            card_path.write_text(yaml.safe_dump(card))
    return models


# The networks each fit's first adversarial (or auxiliary) step runs: all of them must be on the device.
FIRST_STEP = {
    "vita": {"FrameAnonymizer", "BudgetEnsemble", "VideoCNN"},
    "spact": {"FrameAnonymizer", "ProjectedEncoder", "VideoCNN"},
    "collective": {"FrameAnonymizer", "VideoCNN"},
    "stprivacy": {"STPrivacyNet", "VideoCNN"},
}


@pytest.mark.parametrize("name", LEARNED)
def test_each_learned_fit_and_transform_use_the_configured_device(name, synth, adversarial_first):
    seen = _on_meta(lambda: _fit(create_method(name), adversarial_first))
    assert FIRST_STEP[name] <= {s["module"] for s in seen}, {s["module"] for s in seen}
    assert _off_device(seen, "meta") == []
    # A method trained (on the CPU) and loaded from its checkpoint runs where the process is configured to.
    distributed.configure("cpu")
    method = create_method(name)
    _fit(method, synth["models"])
    again = create_method(name)
    again.load_state_dict(method.state_dict())
    videos = torch.zeros(1, 8, 32, 40, 3, dtype=torch.uint8)
    seen = _on_meta(lambda: again.transform(videos))
    assert _off_device(seen, "meta") == []
