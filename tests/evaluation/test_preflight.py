"""`vpbench evaluate` checks everything it can before training or decoding anything.

Each bad input gets exit code 2, exactly one line on stderr, and leaves the
results folder as it was (no preview.png, no ``<run>.work/``, no run.json): a
mistake found after an hour of training wastes the hour and leaves a
half-made run behind. The commands run in-process through ``vpbench.cli.main``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from vpbench.cli import main


def _evaluate_argv(
    tiny_bench, out: Path, *extra, method: str = "raw", protocol: str = "known", data: Path | None = None
) -> list[str]:
    return [
        "evaluate",
        "--method",
        method,
        "--protocol",
        protocol,
        "--data-root",
        str(data or tiny_bench["data"]),
        "--models-dir",
        str(tiny_bench["models"]),
        "--protocols-dir",
        str(tiny_bench["protocols"]),
        "--out",
        str(out),
        *map(str, extra),
    ]


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def _error(capsys, argv: list[str]) -> str:
    """The one stderr line of a user error (exit 2), without its 'error: ' prefix."""
    code, err = _run(capsys, argv)
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0][len("error: ") :]


def _listing(path: Path) -> dict | None:
    """Every entry under ``path``, files with their size and modification time (None: no such path).
    A folder's own time is left out: the check that a folder is writable creates and removes a file in it."""
    if not path.exists():
        return None
    entries = [path, *path.rglob("*")]
    return {
        p.relative_to(path).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else "folder"
        for p in entries
    }


def _copy_dataset(tiny_bench, tmp_path: Path) -> Path:
    """A data root holding a copy of both tiny datasets (to damage one of them)."""
    data = tmp_path / "data"
    for n in ("synth-hmdb51", "synth-ucf101"):
        shutil.copytree(tiny_bench["data"] / n, data / n, symlinks=True)
    return data


# --------------------------------------------------------------------------- seeds


def test_a_negative_seed_is_refused_before_anything(tiny_bench, tmp_path, capsys):
    out = tmp_path / "res"
    assert _error(capsys, _evaluate_argv(tiny_bench, out, "--seed", "-1", "--dataset", "synth-hmdb51")) == (
        "--seed must be a non-negative integer, got -1"
    )
    assert not out.exists()


def test_the_python_api_refuses_a_negative_seed_too(tiny_bench, tmp_path):
    from vpbench.core.errors import VPBenchError
    from vpbench.evaluation import EvaluationRequest, evaluate

    out = tmp_path / "res"
    request = EvaluationRequest(
        method="raw",
        protocol="known",
        dataset="synth-hmdb51",
        data_root=tiny_bench["data"],
        seed=-3,
        out=out,
        models_dir=tiny_bench["models"],
        protocols_dir=tiny_bench["protocols"],
        progress=False,
    )
    with pytest.raises(VPBenchError, match=r"^--seed must be a non-negative integer, got -3$"):
        evaluate(request)
    assert not out.exists()


# --------------------------------------------------------------------------- output folder


def test_an_output_folder_that_is_a_file_or_under_a_file_is_refused(tiny_bench, tmp_path, capsys):
    blocker = tmp_path / "f"
    blocker.write_text("mine\n")
    assert _error(capsys, _evaluate_argv(tiny_bench, blocker, "--dataset", "synth-hmdb51")) == (
        f"{blocker}: the results folder is an existing file, not a folder"
    )
    assert _error(capsys, _evaluate_argv(tiny_bench, blocker / "res", "--dataset", "synth-hmdb51")) == (
        f"{blocker / 'res'}: cannot make the results folder: {blocker} is a file"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"] and blocker.read_text() == "mine\n"


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody may write: a read-only tmpfs for root (root ignores permission bits), else mode 0555."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() != 0:
        ro.chmod(0o555)
        yield ro
        ro.chmod(0o755)
        return
    if (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("running as root without the right to mount a read-only tmpfs")
    try:
        yield ro
    finally:
        subprocess.run(["umount", str(ro)], check=True)


def test_a_read_only_output_folder_is_refused(tiny_bench, read_only_dir, capsys):
    before = _listing(read_only_dir)
    message = _error(capsys, _evaluate_argv(tiny_bench, read_only_dir / "res", "--dataset", "synth-hmdb51"))
    assert message.startswith(f"{read_only_dir / 'res'}: cannot write the results folder there (")
    assert _listing(read_only_dir) == before


# --------------------------------------------------------------------------- datasets


@pytest.mark.parametrize(
    "protocol, damaged, content",
    [
        ("known", "synth-hmdb51", '{"name": "synth-hmdb51", "cont'),  # truncated
        ("known", "synth-hmdb51", ""),
        # The method-training set of cross: raw does not train on it, but its info is read for the result.
        ("cross", "synth-ucf101", "\x00\x01 not json"),
    ],
)
def test_a_corrupt_info_json_is_refused_before_any_training(tiny_bench, tmp_path, capsys, protocol, damaged, content):
    data = _copy_dataset(tiny_bench, tmp_path)
    (data / damaged / "info.json").write_text(content)
    out = tmp_path / "res"
    assert _error(
        capsys, _evaluate_argv(tiny_bench, out, "--dataset", "synth-hmdb51", protocol=protocol, data=data)
    ) == (f"{data / damaged / 'info.json'}: unreadable (JSONDecodeError); rebuild the dataset")
    assert not out.exists()


def test_an_info_json_that_is_not_a_datasets_is_refused(tiny_bench, tmp_path, capsys):
    data = _copy_dataset(tiny_bench, tmp_path)
    (data / "synth-hmdb51" / "info.json").write_text(json.dumps(["synth-hmdb51"]))
    out = tmp_path / "res"
    assert _error(capsys, _evaluate_argv(tiny_bench, out, "--dataset", "synth-hmdb51", data=data)) == (
        f"{data / 'synth-hmdb51' / 'info.json'}: not a dataset's info.json (no name or content_sha256); rebuild the "
        f"dataset"
    )
    assert not out.exists()


def test_a_later_jobs_corrupt_dataset_stops_the_run_before_the_first_job(tiny_bench, tmp_path, capsys):
    """The synth suite of `known` evaluates synth-hmdb51, then synth-ucf101: the second one's damage is found first."""
    data = _copy_dataset(tiny_bench, tmp_path)
    (data / "synth-ucf101" / "info.json").write_text("{")
    out = tmp_path / "res"
    assert _error(capsys, _evaluate_argv(tiny_bench, out, data=data)) == (
        f"{data / 'synth-ucf101' / 'info.json'}: unreadable (JSONDecodeError); rebuild the dataset"
    )
    assert not out.exists()


def test_a_real_dataset_that_is_not_built_is_named_before_anything(tiny_bench, tmp_path, capsys):
    out = tmp_path / "res"
    assert _error(
        capsys, _evaluate_argv(tiny_bench, out, "--suite", "real", "--dataset", "vp-hmdb51", data=tmp_path / "none")
    ) == (
        f"{tmp_path / 'none' / 'vp-hmdb51'}: dataset 'vp-hmdb51' is not built; "
        f"run `vpbench build --dataset vp-hmdb51 --out {tmp_path / 'none' / 'vp-hmdb51'} ...` first"
    )
    assert not out.exists()


def test_a_dataset_without_test_videos_in_the_fold_is_refused(tiny_bench, tmp_path, capsys):
    data = _copy_dataset(tiny_bench, tmp_path)
    manifest = pd.read_parquet(data / "synth-hmdb51" / "manifest.parquet")
    manifest["split_1"] = "train"
    manifest.to_parquet(data / "synth-hmdb51" / "manifest.parquet")
    out = tmp_path / "res"
    assert _error(capsys, _evaluate_argv(tiny_bench, out, "--dataset", "synth-hmdb51", data=data)) == (
        f"{data / 'synth-hmdb51'}: dataset 'synth-hmdb51' has no test video in fold 1; "
        "protocol 'known' needs them (its evaluate set)"
    )
    assert not out.exists()


# --------------------------------------------------------------------------- method options and arguments


@pytest.mark.parametrize(
    "method, options, message",
    [
        ("stprivacy", ["keep_ratio=abc"], "method 'stprivacy' option 'keep_ratio' takes a number, got 'abc'"),
        ("stprivacy", ["use_pab=maybe"], "method 'stprivacy' option 'use_pab' takes true or false, got 'maybe'"),
        ("stprivacy", ["delta_t=2.5"], "method 'stprivacy' option 'delta_t' takes an integer, got 2.5"),
        ("stprivacy", ["keep_ratio=1.5"], "keep_ratio must be in (0, 1], got 1.5"),
        ("vita", ["restarting=null"], "method 'vita' option 'restarting' takes true or false, got null"),
        (
            "collective",
            ["style_weight=[1, 2]"],
            "method 'collective' option 'style_weight' takes a number, got [1, 2]",
        ),
        (
            "stprivacy",
            ["alpah=0.5"],
            "method 'stprivacy' has no option 'alpah' (did you mean 'alpha'?); "
            "its options: keep_ratio, alpha, use_pab, delta_t, init_weights",
        ),
    ],
)
def test_method_options_of_the_wrong_type_or_name_are_one_line(tiny_bench, tmp_path, capsys, method, options, message):
    out = tmp_path / "res"
    extra = [a for o in options for a in ("--option", o)]
    assert (
        _error(capsys, _evaluate_argv(tiny_bench, out, "--dataset", "synth-hmdb51", *extra, method=method)) == message
    )
    assert not out.exists()


def test_a_number_given_for_a_text_option_is_taken_as_text():
    from vpbench.methods import check_options

    assert check_options("stprivacy", {"init_weights": 2024, "keep_ratio": 1, "alpha": None}) == (
        {"init_weights": "2024", "keep_ratio": 1, "alpha": None}
    )


@pytest.mark.parametrize("method", ["raw", "downsample-4x"])
def test_a_checkpoint_for_a_method_that_learns_nothing_is_refused(tiny_bench, tmp_path, capsys, method):
    ckpt = tmp_path / "truncated.pt"
    ckpt.write_bytes(b"PK\x03\x04 truncated")
    out = tmp_path / "res"
    assert _error(
        capsys, _evaluate_argv(tiny_bench, out, "--dataset", "synth-hmdb51", "--checkpoint", ckpt, method=method)
    ) == (f"--checkpoint {ckpt}: method '{method}' is not learned and loads no trained state; drop --checkpoint")
    assert not out.exists()


def test_a_truncated_checkpoint_of_a_learned_method_is_refused_before_decoding(tiny_bench, tmp_path, capsys):
    ckpt = tmp_path / "truncated.pt"
    ckpt.write_bytes(b"PK\x03\x04 truncated")
    out = tmp_path / "res"
    message = _error(
        capsys, _evaluate_argv(tiny_bench, out, "--dataset", "synth-hmdb51", "--checkpoint", ckpt, method="stprivacy")
    )
    assert message.startswith(f"{ckpt}: ")
    assert not out.exists()


@pytest.mark.parametrize("method", ["raw", "downsample-2x", "stprivacy"])
def test_whole_frame_for_a_method_that_uses_no_person_regions_is_refused(tiny_bench, tmp_path, capsys, method):
    out = tmp_path / "res"
    assert _error(
        capsys, _evaluate_argv(tiny_bench, out, "--dataset", "synth-hmdb51", "--whole-frame", method=method)
    ) == (
        f"--whole-frame: method '{method}' does not act on person regions (it transforms whole frames anyway); drop "
        f"--whole-frame"
    )
    assert not out.exists()


def test_method_arguments_are_checked_for_box_methods_too():
    from vpbench.core.errors import VPBenchError
    from vpbench.methods import check_method_arguments

    check_method_arguments("strongblur", whole_frame=True)
    check_method_arguments("blackening", boxes="b.csv")
    check_method_arguments("stprivacy", checkpoint="m.pt")
    with pytest.raises(VPBenchError, match=r"^--boxes b.csv: method 'raw' does not use person boxes; drop --boxes$"):
        check_method_arguments("raw", boxes="b.csv")
    with pytest.raises(VPBenchError, match=r"^--checkpoint m.pt: method 'blackening' is not learned"):
        check_method_arguments("blackening", checkpoint="m.pt")


# --------------------------------------------------------------------------- --resume


def test_a_stale_result_of_a_later_job_is_refused_before_the_first_job_runs(tiny_bench, tmp_path, capsys):
    out = tmp_path / "res"
    stale = out / "known" / "synth-ucf101" / "raw" / "cpu-seed0.json"
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps({"schema_version": 0}))
    before = _listing(out)
    assert _error(capsys, _evaluate_argv(tiny_bench, out, "--resume")) == (
        f"{stale}: result schema version 0, this vpbench writes 1; move it away or run without --resume to replace it"
    )
    assert _listing(out) == before


def test_a_later_jobs_work_folder_of_other_settings_is_refused_before_the_first_job_runs(tiny_bench, tmp_path, capsys):
    out = tmp_path / "res"
    work = out / "known" / "synth-ucf101" / "raw" / "cpu-seed0.work"
    work.mkdir(parents=True)
    (work / "run.json").write_text(json.dumps({"seed": 7}))
    before = _listing(out)
    message = _error(capsys, _evaluate_argv(tiny_bench, out, "--resume"))
    assert message.startswith(f"{work / 'run.json'}: the interrupted run had other settings (")
    assert _listing(out) == before


# --------------------------------------------------------------------------- failures after the checks


@pytest.mark.parametrize("raised, code", [(RuntimeError, None), (KeyboardInterrupt, 130)])
def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_work_folder(
    tiny_bench, tmp_path, capsys, monkeypatch, raised, code
):
    """The work folder (run.json alone) is no use to --resume: it goes with the failure."""
    import vpbench.evaluation.runner as ev

    def decode(*args, **kwargs):
        assert (out / "known" / "synth-hmdb51" / "raw" / "cpu-seed0.work" / "run.json").is_file()  # the folder existed
        raise raised("decoding failed")

    monkeypatch.setattr(ev, "load_store", decode)
    out = tmp_path / "res"
    argv = _evaluate_argv(tiny_bench, out, "--dataset", "synth-hmdb51")
    if code is None:
        with pytest.raises(RuntimeError, match="decoding failed"):
            main(argv)
    else:
        assert _run(capsys, argv) == (code, "interrupted\n")
    assert [p.relative_to(out).as_posix() for p in out.rglob("*")] == [
        "known",
        "known/synth-hmdb51",
        "known/synth-hmdb51/raw",
    ]


def test_a_work_folder_with_checkpoints_stays_for_resume(tmp_path):
    from vpbench.evaluation.resume import WorkDir

    result = tmp_path / "r" / "cpu-seed0.json"
    work = WorkDir(result, {"a": 1}, resume=False)
    work.discard_if_empty()
    assert not work.path.exists()
    work = WorkDir(result, {"a": 1}, resume=False)
    work.file("train_action.pt").write_bytes(b"checkpoint")
    work.discard_if_empty()
    assert sorted(p.name for p in work.path.iterdir()) == ["run.json", "train_action.pt"]


# --------------------------------------------------------------------------- counts


def test_the_shared_option_callbacks_fail_in_one_line():
    import typer

    from vpbench.cli import non_negative_int, positive_int
    from vpbench.core.errors import VPBenchError

    app = typer.Typer()

    @app.command()
    def run(
        workers: int = typer.Option(None, "--workers", callback=positive_int),
        seed: int = typer.Option(0, "--seed", callback=non_negative_int),
    ) -> None:
        typer.echo(f"{workers} {seed}")

    with pytest.raises(VPBenchError, match=r"^--workers must be at least 1, got 0$"):
        app(["--workers", "0"], standalone_mode=False)
    with pytest.raises(VPBenchError, match=r"^--seed must be a non-negative integer, got -2$"):
        app(["--seed", "-2"], standalone_mode=False)
    app(["--workers", "1", "--seed", "0"], standalone_mode=False)


@pytest.mark.parametrize("command", ["cache", "build"])
def test_zero_workers_is_refused(tiny_bench, tmp_path, capsys, command):
    """Uses positive_int on `cache --workers` and `build --workers` (commands of the dataset side)."""
    argv = (
        ["cache", str(tiny_bench["data"] / "synth-hmdb51"), "--workers", "0"]
        if command == "cache"
        else ["build", "--dataset", "synth-hmdb51", "--size", "tiny", "--out", str(tmp_path / "d"), "--workers", "0"]
    )
    before = _listing(tiny_bench["data"])
    assert _error(capsys, argv) == "--workers must be at least 1, got 0"
    assert _listing(tiny_bench["data"]) == before and not (tmp_path / "d").exists()
