"""Crash safety, resumption, determinism and untrusted files.

The central test kills `vpbench evaluate` (SIGKILL, in a subprocess) in the
middle of each phase in turn — STPrivacy's fit, action recognizer training,
privacy recognizer training, testing — resumes it with --resume each time,
and checks that the result equals that of a run that was never stopped.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.helpers.results import read_result
from tests.helpers.tiny import (
    REPO,
    TINY_PROFILE,
    TINY_STPRIVACY,
    evaluation_request,
    fit_with_card,
    write_tiny_models,
    write_tiny_protocols,
)
from vpbench.core.atomic import (
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    stale_temporaries,
)
from vpbench.core.checkpoint import Checkpointer
from vpbench.core.errors import VPBenchError
from vpbench.data.builder import build_dataset
from vpbench.evaluation import evaluate
from vpbench.evaluation.engine import (
    TrainConfig,
    train_frame_recognizer,
    train_video_recognizer,
)
from vpbench.networks.recognizers import create_recognizer

# One thread per process: the machine is shared, and every run here must compute the same numbers.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


# --------------------------------------------------------------------------- atomic writes


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = atomic_write_text(tmp_path / "r.json", "old\n")

    def half_then_crash(tmp: Path) -> None:
        tmp.write_text('{"half": ')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_crash)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_atomic_write_fsyncs_the_file_and_then_its_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else None)
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    atomic_write_json(tmp_path / "x.json", {"a": 1})
    assert synced in ([False, True], [None, None])


def test_atomic_files_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "r.json", "{}\n")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_writer_killed_mid_write_leaves_no_partial_target(tmp_path):
    target = tmp_path / "result.json"
    script = (
        "import sys, time\n"
        "from vpbench.core.atomic import atomic_write\n"
        "def slow(tmp):\n"
        "    with open(tmp, 'w') as f:\n"
        "        f.write('{\"half\": '); f.flush(); print('writing', flush=True); time.sleep(60)\n"
        f"atomic_write({str(target)!r}, slow)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=ENV, cwd=REPO)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not target.exists()
    [temp] = stale_temporaries(target)
    assert temp.read_text() == '{"half": '


def test_every_save_is_atomic_and_every_load_is_safe_in_the_package():
    """An audit of the source: new code that saves or loads unsafely fails here."""
    rules = [
        (r"torch\.load\(", "weights_only=True"),
        (r"np\.load\(", "allow_pickle=False"),
        (r"torch\.save\(", "atomic_write"),
        (r"\.to_parquet\(", "atomic_write"),
    ]
    offending = []
    for path in sorted((REPO / "vpbench").rglob("*.py")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bpickle\.loads?\(", line):
                offending.append(f"{path.name}:{lineno}: pickle.load (use safe_pickle.load_label_pickle)")
            for call, required in rules:
                if re.search(call, line) and required not in line:
                    offending.append(f"{path.name}:{lineno}: {call} without {required}")
    assert offending == []


# --------------------------------------------------------------------------- training checkpoints


class _Crash(Exception):
    pass


def _count_saves(monkeypatch, crash_after: int | None = None) -> dict:
    """Count checkpoint saves (epochs trained); with ``crash_after``, the n-th save is the last thing the run does."""
    real = Checkpointer.save
    count = {"saves": 0}

    def save(self, epoch, **extra):
        real(self, epoch, **extra)
        count["saves"] += 1
        if count["saves"] == crash_after:
            raise _Crash

    monkeypatch.setattr(Checkpointer, "save", save)
    return count


def _tiny_store(frame_labels: bool = False):
    from vpbench.data.frames.store import FrameStore

    rng = np.random.default_rng(0)
    lengths = [10, 12, 9, 11, 10, 13]
    frames = rng.integers(0, 255, (sum(lengths), 32, 40, 3), dtype=np.uint8)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    labels = rng.integers(0, 2, (sum(lengths), 5)).astype(np.int8) if frame_labels else None
    return FrameStore.from_offsets(frames, offsets, [f"v{i}" for i in range(len(lengths))], frame_labels=labels)


def _train(kind: str, checkpoint=None):
    cfg = TrainConfig(epochs=3, batch_size=2, lr=0.01, warmup_epochs=0, clip_len=4, crop=32)
    torch.manual_seed(3)
    if kind == "video":
        model = create_recognizer({"arch": "video-cnn", "widths": [4, 8, 8, 8]}, 3, 4, 32)
        store = _tiny_store()
        log = train_video_recognizer(
            model, store, np.arange(6), np.array([0, 1, 2, 0, 1, 2]), "action", cfg, 7, False, checkpoint=checkpoint
        )
    else:
        model = create_recognizer({"arch": "frame-cnn", "widths": [4, 8, 8, 8]}, 5, 1, 32)
        store = _tiny_store(frame_labels=True)
        log = train_frame_recognizer(
            model,
            store,
            np.arange(6),
            TrainConfig(**{**cfg.__dict__, "batch_size": 16}),
            7,
            False,
            checkpoint=checkpoint,
        )
    return model.state_dict(), log


@pytest.mark.parametrize("kind", ["video", "frame"])
@pytest.mark.parametrize("crash_after", [1, 2])
def test_recognizer_training_resumed_after_a_crash_equals_an_uninterrupted_one(
    tmp_path, monkeypatch, kind, crash_after
):
    reference, ref_log = _train(kind)
    with monkeypatch.context() as m:
        _count_saves(m, crash_after)
        with pytest.raises(_Crash):
            _train(kind, tmp_path / "ckpt.pt")
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["epoch"] == crash_after
    with monkeypatch.context() as m:
        count = _count_saves(m)
        resumed, log = _train(kind, tmp_path / "ckpt.pt")
    assert count["saves"] == 3 - crash_after  # only the epochs left were trained
    assert log == ref_log
    assert reference.keys() == resumed.keys()
    assert all(torch.equal(reference[k], resumed[k]) for k in reference)


def test_a_checkpoint_of_other_settings_is_refused(tmp_path):
    _train("video", tmp_path / "ckpt.pt")
    model = create_recognizer({"arch": "video-cnn", "widths": [4, 8, 8, 8]}, 3, 4, 32)
    other = TrainConfig(epochs=4, batch_size=2, lr=0.01, warmup_epochs=0, clip_len=4, crop=32)
    with pytest.raises(VPBenchError, match=r"ckpt.pt: training checkpoint written with other settings; delete it"):
        train_video_recognizer(
            model,
            _tiny_store(),
            np.arange(6),
            np.array([0, 1, 2, 0, 1, 2]),
            "action",
            other,
            7,
            False,
            checkpoint=tmp_path / "ckpt.pt",
        )


def _fit_stprivacy(models_dir, checkpoint_dir=None):
    from vpbench.methods import FitData, create_method

    rng = np.random.default_rng(0)
    videos = [rng.integers(0, 255, (10, 32, 40, 3), dtype=np.uint8) for _ in range(8)]
    data = FitData(
        videos=videos, actions=np.arange(8) % 3, privacy=rng.integers(0, 2, (8, 5)).astype(np.float32), num_actions=3
    )
    method = create_method("stprivacy")
    fit_with_card(method, data, TINY_PROFILE, models_dir, seed=5, checkpoint_dir=checkpoint_dir)
    return method


@pytest.fixture(scope="module")
def staged_models(tmp_path_factory):
    """STPrivacy with several epochs in each stage (phase 1, PAB warm start, auxiliary warm start, phase 2)."""
    models = write_tiny_models(tmp_path_factory.mktemp("staged"))
    card = yaml.safe_load((models / "methods" / "stprivacy.yaml").read_text())
    card["profiles"]["cpu"] = {
        **TINY_STPRIVACY,
        "batch_size": 4,
        "init_epochs": 2,
        "pab_warmup_epochs": 1,
        "aux_warmup_epochs": 1,
        "adv_epochs": 2,
        "train_min_scale": 0.8,
    }  # the jitter's draws resume too
    (models / "methods" / "stprivacy.yaml").write_text(yaml.safe_dump(card))
    return models


def _without_seconds(log: dict) -> dict:
    return {
        k: [{f: x for f, x in e.items() if f != "seconds"} for e in v] if isinstance(v, list) else v
        for k, v in log.items()
    }


@pytest.mark.parametrize("crash_after", [1, 2, 4, 5])  # mid phase 1, phase 1 done, auxiliaries warm, mid phase 2
def test_stprivacy_fit_resumed_after_a_crash_equals_an_uninterrupted_one(
    tmp_path, monkeypatch, staged_models, crash_after
):
    reference = _fit_stprivacy(staged_models)
    with monkeypatch.context() as m:
        _count_saves(m, crash_after)
        with pytest.raises(_Crash):
            _fit_stprivacy(staged_models, tmp_path)
    with monkeypatch.context() as m:
        count = _count_saves(m)
        resumed = _fit_stprivacy(staged_models, tmp_path)
    assert count["saves"] == 6 - crash_after  # 2 + 1 + 1 + 2 epochs in all; only those left were trained
    assert _without_seconds(resumed.log) == _without_seconds(reference.log)  # wall times differ, all else is equal
    ref, got = reference.net.state_dict(), resumed.net.state_dict()
    assert all(torch.equal(ref[k], got[k]) for k in ref)


# --------------------------------------------------------------------------- kill -9 during `vpbench evaluate`


@pytest.fixture(scope="module")
def kill_env(tmp_path_factory):
    """Tiny data, and phases long enough (several epochs, many test views) to be killed in their middle."""
    root = tmp_path_factory.mktemp("kill")
    build_dataset("synth-hmdb51", root / "data" / "synth-hmdb51", size="tiny", seed=0, progress=False)
    models = write_tiny_models(root / "models")
    profile = copy.deepcopy(TINY_PROFILE)
    profile["train"].update(epochs=8, batch_size=2)
    profile["action"]["widths"] = profile["privacy"]["widths"] = [8, 16, 32, 32]
    (models / "recognizers.yaml").write_text(
        yaml.safe_dump({"name": "recognizers", "version": 1, "profiles": {"cpu": profile}})
    )
    card = yaml.safe_load((models / "methods" / "stprivacy.yaml").read_text())
    card["profiles"]["cpu"] = {
        **TINY_STPRIVACY,
        "init_epochs": 2,
        "pab_warmup_epochs": 1,
        "aux_warmup_epochs": 1,
        "adv_epochs": 2,
    }
    (models / "methods" / "stprivacy.yaml").write_text(yaml.safe_dump(card))
    protocols = write_tiny_protocols(root / "protocols")
    for path in protocols.glob("*.yaml"):
        spec = yaml.safe_load(path.read_text())
        spec["test_views"]["clips"] = 40
        path.write_text(yaml.safe_dump(spec))
    return {"root": root, "data": root / "data", "models": models, "protocols": protocols}


def _evaluate_args(tiny_bench, out, *extra):
    return [
        sys.executable,
        "-m",
        "vpbench",
        "evaluate",
        "--method",
        "stprivacy",
        "--protocol",
        "known",
        "--dataset",
        "synth-hmdb51",
        "--data-root",
        str(tiny_bench["data"]),
        "--models-dir",
        str(tiny_bench["models"]),
        "--protocols-dir",
        str(tiny_bench["protocols"]),
        "--out",
        str(out),
        *extra,
    ]


def _kill_when(args, appears: Path, log: Path, timeout: float = 300) -> None:
    """Start ``args``; SIGKILL its whole process group as soon as ``appears`` exists."""
    with open(log, "w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, env=ENV, cwd=REPO, start_new_session=True)
        deadline = time.monotonic() + timeout
        try:
            while not appears.exists():
                assert proc.poll() is None, (
                    f"the run ended (rc {proc.returncode}) before {appears.name} appeared: {log.read_text()[-2000:]}"
                )
                assert time.monotonic() < deadline, f"{appears.name} never appeared"
                time.sleep(0.005)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _ckpt(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def test_evaluate_killed_in_each_phase_resumes_to_the_uninterrupted_result(kill_env, tmp_path):
    reference = subprocess.run(
        _evaluate_args(kill_env, tmp_path / "ref"), capture_output=True, text=True, env=ENV, cwd=REPO
    )
    assert reference.returncode == 0, reference.stderr
    run_dir = tmp_path / "res" / "known" / "synth-hmdb51" / "stprivacy"
    result, work = run_dir / "cpu-seed0.json", run_dir / "cpu-seed0.work"
    args = _evaluate_args(kill_env, tmp_path / "res")

    # 1. In STPrivacy's fit: killed once its first epoch is checkpointed, long before its fifth.
    _kill_when(args, work / "fit.pt", tmp_path / "1.log")
    state = _ckpt(work / "fit.pt")
    assert (state["stage"], state["epoch"]) != ("phase2", 2) and not (work / "train_action.pt").exists()
    # 2. In action recognizer training (the fit ends first, from its checkpoint).
    _kill_when([*args, "--resume"], work / "train_action.pt", tmp_path / "2.log")
    assert _ckpt(work / "train_action.pt")["epoch"] < 8 and not (work / "train_privacy.pt").exists()
    # A finished phase's checkpoint is never written again: resuming does not redo it.
    finished = {"fit.pt": (work / "fit.pt").stat().st_mtime_ns}
    # 3. In privacy recognizer training.
    _kill_when([*args, "--resume"], work / "train_privacy.pt", tmp_path / "3.log")
    assert _ckpt(work / "train_privacy.pt")["epoch"] < 8 and not (work / "test_action.npz").exists()
    finished["train_action.pt"] = (work / "train_action.pt").stat().st_mtime_ns
    # 4. In testing: action predictions saved, privacy testing under way.
    _kill_when([*args, "--resume"], work / "test_action.npz", tmp_path / "4.log")
    assert not result.exists()
    finished["train_privacy.pt"] = (work / "train_privacy.pt").stat().st_mtime_ns
    assert {name: (work / name).stat().st_mtime_ns for name in finished} == finished
    # A write torn by a kill leaves only a temporary file, which resuming ignores.
    (work / ".train_privacy.pt.x1y2.tmp").write_bytes(b"\x80\x02half a checkpoint")
    (run_dir / ".cpu-seed0.json.x1y2.tmp").write_text('{"scores": ')
    (run_dir / ".cpu-seed0.curves.csv.x1y2.tmp").write_text("phase,step,met")
    (run_dir / ".cpu-seed0.preview.png.x1y2.tmp").write_bytes(b"\x89PNG")

    done = subprocess.run([*args, "--resume"], capture_output=True, text=True, env=ENV, cwd=REPO)
    assert done.returncode == 0, done.stderr
    got, want = (
        read_result(result),
        read_result(tmp_path / "ref" / "known" / "synth-hmdb51" / "stprivacy" / "cpu-seed0.json"),
    )
    for key in ("scores", "per_attribute", "excluded_attributes", "counts", "randomness"):
        assert json.dumps(got[key], sort_keys=True) == json.dumps(want[key], sort_keys=True), key
    fitted, fitted_ref = (
        _ckpt(result.with_suffix(".pt")),
        _ckpt(Path(str(result).replace("/res/", "/ref/")).with_suffix(".pt")),
    )
    assert _without_seconds(fitted["state"]["log"]) == _without_seconds(fitted_ref["state"]["log"])
    assert all(torch.equal(fitted_ref["state"]["weights"][k], v) for k, v in fitted["state"]["weights"].items())
    # Nothing of the interrupted runs is left: no work folder, no temporary file.
    assert not work.exists() and not [
        p.name for p in run_dir.iterdir() if p.name.startswith(".") or p.suffix in (".work", ".tmp")
    ]


# --------------------------------------------------------------------------- resume refusals, determinism


def _interrupt_after(monkeypatch, phase: str):
    """Stop the in-process run right after ``phase`` (as a kill would, minus the process)."""
    import vpbench.evaluation.runner as ev

    real = ev.Timer.run

    def run(self, name, fn, *args, **kwargs):
        value = real(self, name, fn, *args, **kwargs)
        if name == phase:
            raise _Crash
        return value

    monkeypatch.setattr(ev.Timer, "run", run)


def test_resume_refuses_a_work_folder_of_other_settings(tiny_bench, tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        _interrupt_after(m, "train_action")
        with pytest.raises(_Crash):
            evaluate(evaluation_request(tiny_bench, tmp_path))
    other = write_tiny_protocols(tmp_path / "protocols", samples=30)
    run_json = tmp_path / "known" / "synth-hmdb51" / "raw" / "cpu-seed0.work" / "run.json"
    with pytest.raises(VPBenchError) as err:
        evaluate(evaluation_request(tiny_bench, tmp_path, protocols_dir=other, resume=True))
    assert str(err.value) == (
        f"{run_json}: the interrupted run had other settings (protocol differ); "
        f"delete {run_json.parent} or run without --resume to start over"
    )
    # Without --resume the stale folder is simply started afresh.
    [path] = evaluate(evaluation_request(tiny_bench, tmp_path, protocols_dir=other))
    assert read_result(path)["bootstrap"]["samples"] == 30 and not run_json.parent.exists()


def test_a_planted_training_checkpoint_that_runs_code_is_refused_on_resume(tiny_bench, tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        _interrupt_after(m, "train_action")
        with pytest.raises(_Crash):
            evaluate(evaluation_request(tiny_bench, tmp_path))
    marker = tmp_path / "pwned"
    planted = tmp_path / "known" / "synth-hmdb51" / "raw" / "cpu-seed0.work" / "train_action.pt"
    for payload in (
        lambda: torch.save({"format": _Opens(marker)}, planted),
        lambda: planted.write_bytes(pickle.dumps(_Opens(marker))),
    ):
        payload()
        with pytest.raises(VPBenchError) as err:
            evaluate(evaluation_request(tiny_bench, tmp_path, resume=True))
        assert str(err.value).startswith(
            f"{planted}: not a vpbench training checkpoint or refused as unsafe (weights-only load refused it: "
        )
        assert not marker.exists()


class _Opens:
    """Unpickling this would create ``path`` (it names builtins.open)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_pretrained_vit_weights_that_would_run_code_are_refused(tmp_path):
    from vpbench.networks.stprivacy import (
        STPrivacyConfig,
        STPrivacyNet,
        load_vit_weights,
    )

    net = STPrivacyNet(
        STPrivacyConfig(
            frames=8,
            height=32,
            width=40,
            tubelet=(2, 8, 8),
            dim=24,
            heads=2,
            layers_per_psb=(1, 1, 1),
            pab_layers=1,
            num_actions=3,
        )
    )
    marker = tmp_path / "pwned"
    torch.save({"model": {"blocks.0.attn.qkv.weight": _Opens(marker)}}, tmp_path / "vit.pt")
    with pytest.raises(VPBenchError) as err:
        load_vit_weights(net, tmp_path / "vit.pt")
    assert str(err.value) == (
        f"{tmp_path / 'vit.pt'}: not a ViT weights file or refused as unsafe "
        "(weights-only load refused it: Unsupported global: GLOBAL io.open was not an allowed "
        "global by default)"
    )
    assert not marker.exists()
    torch.save({"model": {"blocks.0.norm1.weight": [1.0, 2.0]}}, tmp_path / "list.pt")
    with pytest.raises(VPBenchError, match="not a ViT state dict"):
        load_vit_weights(net, tmp_path / "list.pt")


def test_resume_refuses_a_result_of_another_protocol_version_naming_it(tiny_bench, tmp_path):
    [path] = evaluate(evaluation_request(tiny_bench, tmp_path))
    doc = read_result(path)
    doc["protocol"]["version"] = 0
    path.write_text(json.dumps(doc))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vpbench",
            "evaluate",
            "--method",
            "raw",
            "--protocol",
            "known",
            "--dataset",
            "synth-hmdb51",
            "--data-root",
            str(tiny_bench["data"]),
            "--models-dir",
            str(tiny_bench["models"]),
            "--protocols-dir",
            str(tiny_bench["protocols"]),
            "--out",
            str(tmp_path),
            "--resume",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"error: {path}: result of protocol 'known' version 0, but protocol 'known' is version 1 now; "
        "move it away or run without --resume to replace it"
    ]


def test_result_records_the_seed_and_every_source_of_randomness(tiny_bench, tmp_path):
    [path] = evaluate(evaluation_request(tiny_bench, tmp_path, seed=4))
    r = read_result(path)
    assert r["seed"] == 4
    assert r["randomness"]["seeds"] == {
        "method_fit": 4,
        "action_recognizer": 5,
        "privacy_recognizer": 6,
        "bootstrap": 4,
    }
    assert r["randomness"]["dataset_build_seeds"] == {"synth-hmdb51": 0}
    assert (
        r["randomness"]["torch_threads"] == torch.get_num_threads()
        and r["randomness"]["deterministic_algorithms"] is False
    )
    assert "numpy PCG64" in r["randomness"]["generators"] and "torch CPU generator" in r["randomness"]["generators"]


def test_same_seed_and_config_give_byte_identical_scores(tiny_bench, tmp_path):
    texts = []
    for out in ("a", "b"):
        [path] = evaluate(evaluation_request(tiny_bench, tmp_path / out, method="blackening", seed=2))
        r = read_result(path)
        texts.append(json.dumps({k: r[k] for k in ("scores", "per_attribute", "counts", "randomness")}, sort_keys=True))
    assert texts[0] == texts[1]
