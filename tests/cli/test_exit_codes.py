"""Exit codes tell the truth: an interrupted command exits 130 (SIGINT) or 143 (SIGTERM), says so in
one line, and leaves nothing half-written.

`vpbench build`, `evaluate` and `anonymize` run as real processes (``python -m
vpbench``) and get the signal mid-run, once their output shows that they are
working. SIGINT goes to the whole process group, as Ctrl-C in a terminal sends
it; SIGTERM to the process alone, as ``kill PID`` sends it. The rarer timings
(a signal inside an atomic write, inside a finalizer where Python drops the
exception, while the main thread holds signals back) run in-process with a
stand-in command.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.helpers.output import without_progress
from tests.helpers.tiny import (
    REPO,
    TINY_PROFILE,
    gradient_frames,
    write_tiny_models,
    write_tiny_protocols,
)
from vpbench.data.builder import build_dataset
from vpbench.data.video import write_video

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def _interrupt(
    argv: list[str], working: Callable[[], bool], sig: int, cwd: Path, timeout: float = 180
) -> tuple[int, str]:
    """Run ``vpbench ARGV``; once ``working()`` holds, send ``sig``; return the exit code and stderr."""
    log = cwd / f"stderr-{time.monotonic_ns()}.txt"
    with open(log, "w") as err, open(os.devnull, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vpbench", *argv], cwd=cwd, env=ENV, stdout=out, stderr=err, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout
        while not working():
            if proc.poll() is not None:
                pytest.fail(
                    f"`vpbench {' '.join(argv)}` ended (exit {proc.returncode}) before it could be "
                    f"interrupted:\n{log.read_text()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"`vpbench {' '.join(argv)}` showed no work within {timeout} s:\n{log.read_text()}")
            time.sleep(0.005)
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)  # Ctrl-C: the terminal signals the whole foreground process group
        else:
            os.kill(proc.pid, sig)
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text()
    log.unlink()
    return code, text


def _snapshot(folder: Path) -> dict:
    """Every entry under ``folder``: files by content hash, size and modification time; links by target."""
    state = {}
    for p in sorted([folder, *folder.rglob("*")]):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            state[rel] = ("link", os.readlink(p))
        elif p.is_file():
            st = p.stat()
            state[rel] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_size, st.st_mtime_ns)
        else:
            state[rel] = "folder"
    return state


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.name.endswith(".tmp"))


# --------------------------------------------------------------------------- evaluate


@pytest.fixture(scope="module")
def eval_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("exit-codes")
    build_dataset("synth-hmdb51", root / "data" / "synth-hmdb51", size="tiny", seed=0, progress=False)
    models = write_tiny_models(root / "models")
    # Many epochs: the run is still training when the first epoch's checkpoint shows it is working.
    slow = {**TINY_PROFILE, "train": {**TINY_PROFILE["train"], "epochs": 500}}
    (models / "recognizers.yaml").write_text(
        yaml.safe_dump({"name": "recognizers", "version": 1, "profiles": {"cpu": slow}})
    )
    return {"root": root, "models": models, "protocols": write_tiny_protocols(root / "protocols")}


@pytest.mark.parametrize("sig, code, line", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_an_interrupted_evaluation_exits_non_zero_and_writes_no_result(eval_env, tmp_path, sig, code, line):
    out = tmp_path / "res"
    run = out / "known" / "synth-hmdb51" / "raw" / "cpu-seed0"
    argv = [
        "evaluate",
        "--method",
        "raw",
        "--protocol",
        "known",
        "--dataset",
        "synth-hmdb51",
        "--data-root",
        str(eval_env["root"] / "data"),
        "--models-dir",
        str(eval_env["models"]),
        "--protocols-dir",
        str(eval_env["protocols"]),
        "--out",
        str(out),
    ]
    work = run.with_name(run.name + ".work")
    rc, err = _interrupt(argv, lambda: (work / "train_action.pt").is_file(), sig, tmp_path)
    assert (rc, without_progress(err)) == (code, [line]), err
    assert not run.with_suffix(".json").exists()
    assert _temporaries(out) == []
    # What the run finished stays for --resume: its settings and its last complete epoch checkpoint.
    assert {"run.json", "train_action.pt"} <= {p.name for p in work.iterdir()}


# --------------------------------------------------------------------------- anonymize


def test_an_interrupted_anonymization_leaves_no_output(tmp_path):
    src = write_video(tmp_path / "in" / "clip.avi", gradient_frames(150, 240, 320), fps=25)
    out = tmp_path / "out"
    out.mkdir()
    rc, err = _interrupt(
        ["anonymize", "--method", "strongblur", "--whole-frame", str(src), str(out / "clip.mp4")],
        lambda: any(out.iterdir()),
        signal.SIGINT,
        tmp_path,
    )
    assert (rc, without_progress(err)) == (130, ["interrupted"]), err
    assert list(out.iterdir()) == []  # no video, no record, no temporary file


# --------------------------------------------------------------------------- build


@pytest.mark.parametrize("sig, code, line", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_an_interrupted_rebuild_leaves_the_previous_dataset_exactly_as_it_was(tmp_path, sig, code, line):
    data = tmp_path / "data"
    tiny = data / "tiny"
    build_dataset("synth-hmdb51", tiny, size="tiny", seed=0, progress=False)
    before = _snapshot(data)
    # Work shows as any new entry beside the dataset (a staging folder) or inside it.
    rc, err = _interrupt(
        ["build", "--dataset", "synth-hmdb51", "--size", "tiny", "--seed", "7", "--out", str(tiny)],
        lambda: _snapshot_names(data) != set(before),
        sig,
        tmp_path,
    )
    assert (rc, without_progress(err)) == (code, [line]), err
    assert _snapshot(data) == before


def _snapshot_names(folder: Path) -> set[str]:
    try:
        return {p.relative_to(folder).as_posix() for p in [folder, *folder.rglob("*")]}
    except FileNotFoundError:  # an entry vanished while listing: something is at work
        return set()


# --------------------------------------------------------------------------- in-process


@pytest.mark.parametrize(
    "target, after",
    [
        # mid-write, before the rename: the handler raises in the main thread and the write's cleanup runs
        ("os.replace", False),
        # between making the temporary and taking its name (a CI run once left ``.cpu-seed0.curves.csv.*.tmp``
        # so): held back until the cleanup knows what to remove
        ("tempfile.mkstemp", True),
    ],
)
def test_sigterm_during_an_atomic_write_removes_the_temporary_and_exits_143(
    tmp_path, capsys, monkeypatch, target, after
):
    import vpbench.core.atomic as atomic
    from tests.helpers.results import write_result
    from vpbench.cli import main

    results = write_result(tmp_path / "results", method="raw").parents[3]
    out = tmp_path / "board"
    module, name = target.split(".")
    original = getattr(getattr(atomic, module), name)

    def terminated(*args, **kwargs):
        done = original(*args, **kwargs) if after else None
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs between two bytecodes, not inside the kill() call
            time.sleep(0.001)
        return done if after else original(*args, **kwargs)

    def outside(signum, frame):  # what SIGTERM does outside main(): recorded here, instead of ending pytest
        raise AssertionError("SIGTERM reached the handler main() should have replaced")

    monkeypatch.setattr(getattr(atomic, module), name, terminated)
    previous = signal.signal(signal.SIGTERM, outside)
    try:
        with pytest.raises(SystemExit) as exc:
            main(["leaderboard", "--results", str(results), "--out", str(out)])
        assert signal.getsignal(signal.SIGTERM) is outside  # main() gave the handler back
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert exc.value.code == 143
    assert without_progress(capsys.readouterr().err) == ["terminated"]
    assert _temporaries(tmp_path) == []
    if not after:  # a held signal acts a moment later: the write it was held across may be whole by then
        assert not out.exists() or list(out.rglob("*")) == []


def test_ctrl_c_inside_a_command_exits_130_in_process(tmp_path, capsys, monkeypatch):
    """Typer turns Ctrl-C inside a command into a *returned* 130 (standalone_mode=False): main exits with it."""
    import vpbench.leaderboard as leaderboard
    from tests.helpers.results import write_result
    from vpbench.cli import main

    results = write_result(tmp_path / "results", method="raw").parents[3]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(leaderboard, "write_leaderboard", interrupted)
    with pytest.raises(SystemExit) as exc:
        main(["leaderboard", "--results", str(results), "--out", str(tmp_path / "board")])
    assert exc.value.code == 130
    assert without_progress(capsys.readouterr().err) == ["interrupted"]


@pytest.fixture
def fake_command(tmp_path, monkeypatch):
    """Run ``body`` as if it were `vpbench leaderboard` (in-process); returns (exit code, stderr lines).
    SIGINT and SIGTERM that reach pytest outside main() fail the test instead of ending pytest."""
    import vpbench.leaderboard as leaderboard
    from tests.helpers.results import write_result
    from vpbench.cli import main

    results = write_result(tmp_path / "results", method="raw").parents[3]

    def outside(signum, frame):
        raise AssertionError(f"signal {signum} reached the handler main() should have replaced")

    def run(body, capsys) -> tuple[int, list[str]]:
        monkeypatch.setattr(leaderboard, "write_leaderboard", lambda *a, **k: body() or [])
        previous = {s: signal.signal(s, outside) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            try:
                main(["leaderboard", "--results", str(results), "--out", str(tmp_path / "board")])
                code = 0
            except SystemExit as exc:
                code = exc.code
            assert all(signal.getsignal(s) is outside for s in previous)  # main() gave the handlers back
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        return code, without_progress(capsys.readouterr().err)

    return run


def _busy(seconds: float) -> None:
    """Run Python code (where a signal handler can act) for about ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.001)


@pytest.mark.parametrize("sig, code, line", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_that_python_drops_in_a_finalizer_is_delivered_again(fake_command, capsys, sig, code, line):
    """Python drops an exception raised in a __del__ or in a fork hook (it only prints "Exception ignored"):
    a Ctrl-C landing there, e.g. while a worker pool forks, must still stop the command."""
    finished = []

    class Dropped:
        def __del__(self):
            os.kill(os.getpid(), sig)
            _busy(0.05)  # the handler runs here, inside the finalizer

    def body():
        Dropped()
        _busy(3)
        finished.append(True)

    assert fake_command(body, capsys) == (code, [line])
    assert not finished


def test_sigterm_waits_while_the_main_thread_holds_it_back(fake_command, capsys):
    """A main thread that blocks SIGTERM around renames that must not be split (vpbench.data.staging)
    still gets Python's handler when another thread took the signal; the handler waits for the unblock."""
    import threading

    steps = []

    def body():
        def other_thread():  # a thread started before the hold (it does not block SIGTERM) takes the signal
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            thread = threading.Thread(target=other_thread)
            thread.start()
            thread.join()
            _busy(0.3)
            steps.append("held section done")
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        _busy(3)
        steps.append("ran on")

    assert fake_command(body, capsys) == (143, ["terminated"])
    assert steps == ["held section done"]


def _wait_forever(ready) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a pool worker waits for work: Ctrl-C is the parent's
    ready.set()
    while True:
        time.sleep(1)


def test_workers_an_interrupted_command_leaves_behind_are_stopped(fake_command, capsys):
    """Python joins every multiprocessing child at exit: one left waiting (a pool whose shutdown the
    signal cut short) would keep the interrupted command from ever ending."""
    import multiprocessing

    started = []

    def body():
        fork = multiprocessing.get_context("fork")
        ready = fork.Event()
        child = fork.Process(target=_wait_forever, args=(ready,))
        child.start()
        started.append(child)
        assert ready.wait(30)
        raise KeyboardInterrupt

    try:
        assert fake_command(body, capsys) == (130, ["interrupted"])
        [child] = started
        assert child.exitcode == -signal.SIGTERM  # already ended: main() waited for it
    finally:
        for child in started:
            if child.is_alive():  # the test failed: do not leave pytest waiting on it at exit
                child.kill()
                child.join()


def test_a_finished_command_exits_0_and_a_user_error_2(tmp_path, capsys):
    from vpbench.cli import main

    main(["methods"])  # returns: exit status 0
    with pytest.raises(SystemExit) as exc:
        main(["leaderboard", "--results", str(tmp_path / "none")])
    assert exc.value.code == 2
    assert without_progress(capsys.readouterr().err) == [f"error: {tmp_path / 'none'}: results folder not found"]
