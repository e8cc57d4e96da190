"""A build is all or nothing, against the user's files too; `info` and `cache` see a dataset that lies.

Each case runs through the CLI in-process (`vpbench.cli.main`) and checks the
exit code, the one error line, and that the folder is byte for byte what it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers.output import without_progress
from vpbench import build_dataset
from vpbench.cli import main
from vpbench.core.errors import VPBenchError
from vpbench.data import staging


def _run(capsys, *args) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def _error(capsys, *args) -> str:
    code, _, err = _run(capsys, *args)
    assert code == 2, err
    assert "Traceback" not in err
    [line] = without_progress(err)
    assert line.startswith("error: ")
    return line[len("error: ") :]


def _snapshot(folder: Path) -> dict:
    """Every entry under ``folder`` (links not followed): file hashes, link targets, folders."""
    snap = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            snap[rel] = ("link", os.readlink(path))
        elif path.is_file():
            snap[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            snap[rel] = ("dir",)
    return snap


def _refused(capsys, folder: Path, *args) -> str:
    """The one error line of ``vpbench build ... --out folder``, after checking the folder is untouched."""
    before = _snapshot(folder)
    message = _error(capsys, "build", *args, "--out", folder)
    assert _snapshot(folder) == before
    return message


def _siblings(folder: Path) -> set[str]:
    return {p.name for p in folder.parent.iterdir()}


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("built") / "tiny"
    build_dataset("synth-hmdb51", out, size="tiny", seed=0, progress=False, workers=1)
    return out


@pytest.fixture
def tiny(tiny_build, tmp_path) -> Path:
    copy = tmp_path / "data" / "tiny"
    shutil.copytree(tiny_build, copy, symlinks=True)
    return copy


def test_a_failed_rebuild_leaves_the_previous_dataset_exactly_as_it_was(tiny, capsys):
    before, around = _snapshot(tiny), _siblings(tiny)
    message = _error(
        capsys,
        "build",
        "--dataset",
        "synth-hmdb51",
        "--size",
        "tiny",
        "--seed",
        "5",
        "--min-frames",
        "100000",
        "--out",
        tiny,
    )
    assert message.startswith("no usable video for synth-hmdb51: 24 input(s) skipped; first: ")
    assert message.endswith(f"(all in {tiny.parent / 'tiny.build_report.json'})")
    assert _snapshot(tiny) == before
    # Beside the folder: the lock and the failure's report; no staging folder is left.
    assert _siblings(tiny) - around == {".tiny.lock", "tiny.build_report.json"}
    assert _run(capsys, "info", tiny)[0] == 0


def test_an_interrupt_during_a_rebuild_leaves_the_previous_dataset(tiny, monkeypatch):
    from vpbench.data import builder

    before = _snapshot(tiny)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    # After VP-Synth has generated its new videos (into the staging folder), before any manifest is written.
    monkeypatch.setattr(builder, "_build", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_dataset("synth-hmdb51", tiny, size="tiny", seed=7, progress=False, workers=1)
    assert _snapshot(tiny) == before
    assert not [p for p in tiny.parent.iterdir() if ".staging-" in p.name or ".old-" in p.name]


def test_a_successful_rebuild_replaces_the_build_and_keeps_the_cache_and_other_files(tiny):
    (tiny / "cache").mkdir()
    (tiny / "cache" / "index.json").write_text("{}")
    (tiny / "notes.txt").write_text("mine\n")
    old_manifest = (tiny / "manifest.parquet").read_bytes()
    build_dataset("synth-hmdb51", tiny, size="tiny", seed=3, progress=False, workers=1)
    assert (tiny / "manifest.parquet").read_bytes() != old_manifest
    assert json.loads((tiny / "info.json").read_text())["seed"] == 3
    assert (tiny / "cache" / "index.json").read_text() == "{}"
    assert (tiny / "notes.txt").read_text() == "mine\n"
    assert not [p for p in tiny.parent.iterdir() if ".staging-" in p.name or ".old-" in p.name]


def test_building_vp_synth_into_a_folder_of_your_videos_refuses_and_deletes_nothing(tmp_path, capsys):
    target = tmp_path / "d"
    (target / "raw" / "c").mkdir(parents=True)
    (target / "splits").mkdir()
    (target / "raw" / "c" / "bikes.mp4").write_bytes(b"my video")
    message = _refused(capsys, target, "--dataset", "synth-hmdb51", "--size", "tiny")
    assert message == f"{target} is not a VP-Synth build (it holds raw/c/bikes.mp4); choose an empty or new --out"


def test_a_file_added_to_a_vp_synth_build_stops_its_rebuild(tiny, capsys):
    (tiny / "raw" / "jump" / "mine.avi").write_bytes(b"x")
    message = _refused(capsys, tiny, "--dataset", "synth-hmdb51", "--size", "tiny")
    assert (
        message
        == f"{tiny}: raw/jump/mine.avi was not written by VP-Synth, and a rebuild would delete it; move it out or "
        f"choose another --out"
    )


def test_a_second_build_of_the_same_folder_is_refused_while_the_first_holds_the_lock(tiny, capsys):
    with staging.build_lock(tiny):
        message = _refused(capsys, tiny, "--dataset", "synth-hmdb51", "--size", "tiny")
    assert message == f"{tiny}: another `vpbench build` is writing this folder; wait for it or choose another --out"


def test_the_next_build_repairs_what_a_killed_swap_left(tiny):
    """SIGKILL between the swap's renames: the old folder is put back; a staging folder's moved entries return."""
    before = _snapshot(tiny)
    old = tiny.parent / ".tiny.old-999"
    os.rename(tiny, old)
    stage = tiny.parent / ".tiny.staging-999"
    stage.mkdir()
    os.rename(old / "raw", stage / "raw")  # killed while the old folder's raw tree sat in the staging folder
    (stage / ".vpbench-commit").write_text("raw\n")
    with staging.build_lock(tiny):
        pass
    assert _snapshot(tiny) == before
    assert not old.exists() and not stage.exists()


def test_a_real_build_keeps_a_raw_tree_that_lives_in_the_dataset_folder(tmp_path, tiny_build):
    """VP-HMDB51 style: the user's videos in out/raw; rebuilding must carry them into the new folder."""
    out = tmp_path / "vp"
    shutil.copytree(tiny_build / "raw", out / "raw")
    shutil.copytree(tiny_build / "splits", tmp_path / "splits")
    export = tiny_build / "annotations" / "labelstudio-export.json"
    args = dict(raw=out / "raw", splits=tmp_path / "splits", labels=[export], progress=False, workers=1)
    build_dataset("vp-hmdb51", out, **args)
    videos = _snapshot(out / "raw")
    assert not (out / "raw").is_symlink()
    build_dataset("vp-hmdb51", out, **args)
    assert _snapshot(out / "raw") == videos
    assert (out / "info.json").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seed", "-1"], "--seed must be a non-negative integer, got -1"),
        (["--workers", "0"], "--workers must be at least 1, got 0"),
        (["--min-frames", "0"], "--min-frames must be at least 1, got 0"),
    ],
)
def test_bad_build_arguments_are_one_line_before_any_work(tmp_path, capsys, args, message):
    out = tmp_path / "new"
    assert _error(capsys, "build", "--dataset", "synth-hmdb51", "--size", "tiny", "--out", out, *args) == message
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_is_a_file_or_under_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert _error(capsys, "build", "--dataset", "synth-hmdb51", "--size", "tiny", "--out", tmp_path / "f") == (
        f"{tmp_path / 'f'}: the dataset folder is an existing file, not a folder"
    )
    assert _error(capsys, "build", "--dataset", "synth-hmdb51", "--size", "tiny", "--out", tmp_path / "f" / "x") == (
        f"{tmp_path / 'f' / 'x'}: cannot make the dataset folder: {tmp_path / 'f'} is a file"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_a_read_only_output_place_is_one_line(tmp_path, capsys):
    """A read-only mount refuses root too (file permissions would not: the tests may run as root)."""
    import subprocess

    ro = tmp_path / "ro"
    ro.mkdir()
    if (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("cannot mount a read-only tmpfs here (needs root or a user namespace)")
    try:
        message = _error(capsys, "build", "--dataset", "synth-hmdb51", "--size", "tiny", "--out", ro / "d")
        assert message == f"{ro / 'd'}: cannot write the dataset folder there (Read-only file system)"
    finally:
        subprocess.run(["umount", str(ro)], check=True)


# --------------------------------------------------------------------------- no video left


def _manifest_case(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "m.csv"
    header = "path,action,split,skin_color,face,gender,nudity,relationship\n"
    path.write_text(header + "".join(f"{r}\n" for r in rows))
    return path


def test_a_manifest_of_missing_files_is_one_line_and_writes_nothing(tmp_path, capsys):
    manifest = _manifest_case(tmp_path, ["a/x.avi,run,train,0,1,0,0,1", "a/y.avi,run,test,1,0,0,0,0"])
    out = tmp_path / "out"
    message = _error(capsys, "build", "--dataset", "manifest", "--manifest", manifest, "--out", out)
    assert message == (
        f"no usable video for manifest: 2 input(s) skipped; first: a/x.avi: listed in the manifest but "
        f"not found "
        f"(all in {tmp_path / 'out.build_report.json'})"
    )
    assert not out.exists()


def test_a_header_only_manifest_is_one_line(tmp_path, capsys):
    manifest = _manifest_case(tmp_path, [])
    message = _error(capsys, "build", "--dataset", "manifest", "--manifest", manifest, "--out", tmp_path / "out")
    assert message == f"{manifest}: the manifest lists no video (only a header)"
    assert not (tmp_path / "out").exists()


def test_an_export_with_every_annotation_cancelled_is_one_line(tmp_path, tiny_build, capsys):
    export = json.loads((tiny_build / "annotations" / "labelstudio-export.json").read_text())
    for task in export:
        for annotation in task["annotations"]:
            annotation["was_cancelled"] = True
    path = tmp_path / "cancelled.json"
    path.write_text(json.dumps(export))
    code, _, err = _run(
        capsys,
        "build",
        "--dataset",
        "vp-hmdb51",
        "--raw",
        tiny_build / "raw",
        "--splits",
        tiny_build / "splits",
        "--labels",
        path,
        "--out",
        tmp_path / "out",
    )
    assert code == 2 and len(without_progress(err)) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()


def test_a_duplicated_manifest_row_names_both_rows(tmp_path, make_video, capsys):
    make_video("a/x.avi")
    manifest = _manifest_case(tmp_path, ["a/x.avi,run,train,0,1,0,0,1", "a/x.avi,run,test,0,1,0,0,1"])
    assert _error(capsys, "build", "--dataset", "manifest", "--manifest", manifest, "--out", tmp_path / "out") == (
        f"{manifest}: row 2: path 'a/x.avi' is the video of row 1 again (id 'a/x'); list each video once"
    )


def test_a_manifest_without_a_test_video_builds_with_a_warning(tmp_path, make_video, capsys):
    make_video("a/x.avi")
    make_video("a/y.avi", seed=1)
    manifest = _manifest_case(tmp_path, ["a/x.avi,run,train,0,1,0,0,1", "a/y.avi,run,train,1,0,0,0,0"])
    code, out, _ = _run(capsys, "build", "--dataset", "manifest", "--manifest", manifest, "--out", tmp_path / "out")
    assert code == 0
    assert "  warning: split_1 has no test video: `vpbench evaluate` cannot use that fold" in out.splitlines()


# --------------------------------------------------------------------------- info / cache verify


def test_info_and_cache_refuse_a_dataset_whose_videos_changed(tiny, capsys):
    assert _run(capsys, "info", tiny, "--verify")[0] == 0
    video = tiny / "raw" / "jump" / "vpsynth_jump_000.avi"
    data = bytearray(video.read_bytes())
    data[-100] ^= 0xFF  # same size, other content: only the hash sees it
    video.write_bytes(bytes(data))
    assert _run(capsys, "info", tiny)[0] == 0
    assert _error(capsys, "info", tiny, "--verify") == (
        f"{tiny}: raw/jump/vpsynth_jump_000.avi differs from the video that was built (sha256); "
        "the labels no longer describe the videos: rebuild the dataset"
    )
    video.write_bytes(bytes(data[:-10]))
    expected = (
        f"{tiny}: raw/jump/vpsynth_jump_000.avi has {len(data) - 10} bytes, the build saw {len(data)}; "
        "the labels no longer describe the videos: rebuild the dataset"
    )
    assert _error(capsys, "info", tiny) == expected
    assert _error(capsys, "cache", tiny) == expected
    assert not (tiny / "cache").exists()
    video.unlink()
    assert _error(capsys, "info", tiny) == (
        f"{tiny}: raw/jump/vpsynth_jump_000.avi is missing; the labels no longer describe the videos: rebuild the "
        f"dataset"
    )


def test_info_refuses_a_manifest_and_info_of_different_builds(tiny, tmp_path, capsys):
    other = tmp_path / "other"
    build_dataset("synth-hmdb51", other, size="tiny", seed=4, progress=False, workers=1)
    shutil.copy(other / "manifest.parquet", tiny / "manifest.parquet")
    assert _error(capsys, "info", tiny) == (
        f"{tiny}: info.json and manifest.parquet come from different builds (content hash); rebuild the dataset"
    )


def test_info_refuses_a_dangling_raw_link_and_a_corrupt_manifest(tmp_path, capsys):
    out = tmp_path / "vp"
    raw = tmp_path / "videos"
    build_dataset("synth-hmdb51", tmp_path / "src", size="tiny", progress=False, workers=1)
    shutil.copytree(tmp_path / "src" / "raw", raw)
    build_dataset(
        "vp-hmdb51",
        out,
        raw=raw,
        splits=tmp_path / "src" / "splits",
        labels=[tmp_path / "src" / "annotations" / "labelstudio-export.json"],
        progress=False,
        workers=1,
    )
    assert _run(capsys, "info", out)[0] == 0
    good = (out / "manifest.parquet").read_bytes()
    (out / "manifest.parquet").write_bytes(b"PAR1 broken")
    assert _error(capsys, "info", out) == f"{out / 'manifest.parquet'}: unreadable (ArrowInvalid); rebuild the dataset"
    (out / "manifest.parquet").write_bytes(good)
    shutil.rmtree(raw)
    assert _error(capsys, "info", out).startswith(f"{out / 'raw'}: links to {raw}, which is not there")


def test_a_failure_report_beside_the_folder_goes_when_a_build_succeeds(tmp_path):
    out = tmp_path / "d"
    with pytest.raises(VPBenchError, match="no usable video"):
        build_dataset("synth-hmdb51", out, size="tiny", min_frames=10**6, progress=False, workers=1)
    assert (tmp_path / "d.build_report.json").is_file() and not out.exists()
    build_dataset("synth-hmdb51", out, size="tiny", progress=False, workers=1)
    assert not (tmp_path / "d.build_report.json").exists()
    assert pd.read_parquet(out / "manifest.parquet")["bytes"].gt(0).all()


def test_a_boxes_file_with_no_box_for_any_built_video_is_one_line(tmp_path, tiny_build, capsys):
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("video_id,frame,person,x0,y0,x1,y1\nother/video,0,0,1,1,5,5\n")
    message = _error(
        capsys,
        "build",
        "--dataset",
        "vp-hmdb51",
        "--raw",
        tiny_build / "raw",
        "--splits",
        tiny_build / "splits",
        "--labels",
        tiny_build / "annotations" / "labelstudio-export.json",
        "--boxes",
        boxes,
        "--out",
        tmp_path / "out",
    )
    assert message == f"{boxes}: no box for any of the 24 built videos; check its video_id column"
    assert not (tmp_path / "out").exists()
