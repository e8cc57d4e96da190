"""Evaluation memory does not grow with the dataset: frames are read from files by position, subsets are
index views, the transformed videos go to one file in the run's work folder (reused by --resume), and a
dataset whose cache cannot be written is refused before any training. Also the frame protocol's held-out
videos and its video-level bootstrap."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import namedtuple
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.helpers.tiny import evaluation_request
from vpbench.core.errors import VPBenchError
from vpbench.data.builder import load_manifest
from vpbench.data.frames.cache import cache_path
from vpbench.data.frames.framefile import FrameFile
from vpbench.data.frames.store import FrameStore, load_store
from vpbench.methods import create_method

SIZE, INTERVAL = (32, 40), 2


def test_frame_file_reads_what_numpy_reads(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (30, 6, 8, 3), dtype=np.uint8)
    np.save(tmp_path / "f.npy", frames)
    f = FrameFile(tmp_path / "f.npy")
    assert f.shape == frames.shape and len(f) == 30
    for key in (
        3,
        -1,
        slice(4, 9),
        slice(None),
        [5, 1, 1, 29, 6, 7],
        np.array([2, 3, 4]),
        (np.array([9, 8]), slice(1, 4), slice(2, 6)),
        (7, slice(0, 2)),
    ):
        np.testing.assert_array_equal(f[key], frames[key])
    with pytest.raises(IndexError):
        f[[0, 30]]
    out = FrameFile.create(tmp_path / "g.npy", 5, (6, 8))
    out.write(2, frames[:3])
    out.flush()
    np.testing.assert_array_equal(np.load(tmp_path / "g.npy")[2:], frames[:3])
    with pytest.raises(VPBenchError, match="cannot write"):
        out.write(4, frames[:3])


def test_a_store_over_the_cache_reads_only_batches_and_subsets_are_views(tiny_bench):
    dataset = tiny_bench["data"] / "synth-hmdb51"
    manifest = load_manifest(dataset)
    store = load_store(dataset, manifest, SIZE, INTERVAL, progress=False, with_frame_labels=True)
    decoded = load_store(dataset, manifest, SIZE, INTERVAL, progress=False, use_cache=False, with_frame_labels=True)
    assert isinstance(store.frames, FrameFile)
    sub = store.subset([5, 0, 3])
    assert sub.frames is store.frames and sub.video_ids == [store.video_ids[i] for i in (5, 0, 3)]
    for k, i in enumerate((5, 0, 3)):
        np.testing.assert_array_equal(sub.video(k), decoded.video(i))
        np.testing.assert_array_equal(sub.video_frame_labels(k), decoded.video_frame_labels(i))
        idx = np.minimum(np.arange(2, 52), decoded.num_frames(i) - 1)
        np.testing.assert_array_equal(sub.frames_at(k, idx, (1, 2, 9, 12)), decoded.frames_at(i, idx, (1, 2, 9, 12)))
    lazy = store.video_frames(4)  # what a method's fit gets: nothing is read until indexed
    assert len(lazy) == decoded.num_frames(4)
    np.testing.assert_array_equal(lazy[np.array([0, 2, 2, 1])], decoded.video(4)[[0, 2, 2, 1]])
    np.testing.assert_array_equal(np.asarray(lazy), decoded.video(4))


def test_transformed_videos_go_to_one_file_that_resume_reuses(tiny_bench, tmp_path, monkeypatch):
    from vpbench.evaluation.runner import transform_store

    dataset = tiny_bench["data"] / "synth-hmdb51"
    manifest = load_manifest(dataset)
    store = load_store(dataset, manifest.iloc[::2], SIZE, INTERVAL, progress=False).subset([3, 1, 2])
    method = create_method("downsample-4x")
    in_memory = transform_store(method, store, 8, progress=False)
    on_disk = transform_store(method, store, 8, progress=False, out=tmp_path / "t.npy")
    assert isinstance(on_disk.frames, FrameFile) and len(on_disk.frames) == store.total_frames
    assert not list(tmp_path.glob("*.tmp"))
    for i in range(len(store)):
        np.testing.assert_array_equal(on_disk.video(i), in_memory.video(i))
    monkeypatch.setattr(
        type(method), "transform", lambda *a, **k: pytest.fail("transformed again although the file is there")
    )
    again = transform_store(method, store, 8, progress=False, out=tmp_path / "t.npy")
    np.testing.assert_array_equal(again.video(2), in_memory.video(2))
    # An identity method keeps the raw frames: no copy of the dataset is written.
    assert transform_store(create_method("raw"), store, 8, progress=False, out=tmp_path / "r.npy") is store
    assert not (tmp_path / "r.npy").exists()


def _evaluate(bench: dict, out: Path, **kw):
    from vpbench.evaluation import evaluate

    return evaluate(evaluation_request(bench, out, **kw))


def test_evaluate_builds_a_missing_cache_in_the_dataset(tiny_bench, tmp_path, one_thread):
    data = tmp_path / "data"
    shutil.copytree(tiny_bench["data"] / "synth-hmdb51", data / "synth-hmdb51", ignore=shutil.ignore_patterns("cache"))
    [path] = _evaluate({**tiny_bench, "data": data}, tmp_path / "results", method="downsample-4x")
    assert (cache_path(data / "synth-hmdb51", SIZE, INTERVAL) / "index.json").is_file()
    assert json.loads(path.read_text())["scores"]["action_top1"]["value"] >= 0
    assert not list((tmp_path / "results").rglob("*.work"))  # the transformed file went with the work folder


Usage = namedtuple("Usage", "total used free")


def test_no_room_for_the_cache_is_one_line_before_any_work(tiny_bench, tmp_path, monkeypatch, capsys):
    from vpbench.cli import main

    data = tmp_path / "data"
    shutil.copytree(tiny_bench["data"] / "synth-hmdb51", data / "synth-hmdb51", ignore=shutil.ignore_patterns("cache"))
    monkeypatch.setattr("vpbench.core.atomic.shutil.disk_usage", lambda p: Usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "evaluate",
                "--method",
                "raw",
                "--protocol",
                "known",
                "--dataset",
                "synth-hmdb51",
                "--data-root",
                str(data),
                "--models-dir",
                str(tiny_bench["models"]),
                "--protocols-dir",
                str(tiny_bench["protocols"]),
                "--out",
                str(tmp_path / "results"),
            ]
        )
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and len(err.splitlines()) == 1, err
    assert f"{data / 'synth-hmdb51' / 'cache'}: the clip cache of synth-hmdb51 (32x40, every 2 frames) needs" in err
    assert err.endswith("needs 0.9 MiB, the disk has 0.0 MiB free; free space there or put the data on a larger disk")
    assert not (data / "synth-hmdb51" / "cache").exists() and not (tmp_path / "results").exists()


def _stand_in_pa(tiny_bench, data: Path, n_train: int = 4, n_test: int = 4) -> list[str]:
    """``data/vp-hmdb51`` (a tiny VP-Synth) and ``data/pa-hmdb51``: some of its videos, under the same file
    names, with frame labels and a train/test split, as PA-HMDB51's videos are HMDB51's."""
    shutil.copytree(tiny_bench["data"] / "synth-hmdb51", data / "vp-hmdb51")
    shutil.copytree(tiny_bench["data"] / "synth-hmdb51", data / "pa-hmdb51")
    pa = data / "pa-hmdb51"
    manifest = pd.read_parquet(pa / "manifest.parquet")
    train = manifest[manifest["split_1"] == "train"].groupby("action").head(1).iloc[:n_train]
    test = manifest[manifest["split_1"] == "test"].groupby("action").head(1).iloc[:n_test]
    keep = pd.concat([train, test]).reset_index(drop=True)
    keep.to_parquet(pa / "manifest.parquet")
    info = json.loads((pa / "info.json").read_text())
    info["counts"]["videos"] = len(keep)
    info["content_sha256"] = hashlib.sha256("".join(keep["sha256"]).encode()).hexdigest()
    (pa / "info.json").write_text(json.dumps(info))
    shutil.rmtree(pa / "cache", ignore_errors=True)
    return list(train["video_id"])


def test_the_frame_protocol_trains_on_no_video_of_the_frame_labelled_set(tiny_bench, tmp_path, monkeypatch, one_thread):
    import vpbench.evaluation.runner as ev

    data = tmp_path / "data"
    in_train = _stand_in_pa(tiny_bench, data)
    loaded = []
    real = ev.load_store

    def recording(dataset_dir, rows, *args, **kw):
        loaded.append((Path(dataset_dir).name, list(rows["video_id"])))
        return real(dataset_dir, rows, *args, **kw)

    monkeypatch.setattr(ev, "load_store", recording)
    [path] = _evaluate(
        {**tiny_bench, "data": data},
        tmp_path / "results",
        method="spact",
        protocol="frame",
        suite="real",
        dataset="pa-hmdb51",
    )
    pa_names = {v.rsplit("/", 1)[-1] for v in pd.read_parquet(data / "pa-hmdb51" / "manifest.parquet")["video_id"]}
    trained = [ids for name, ids in loaded if name == "vp-hmdb51"]
    assert len(trained) == 2  # the method's fit, then the action recognizer
    vp_train = load_manifest(data / "vp-hmdb51").query("split_1 == 'train'")
    for ids in trained:
        assert not pa_names & {v.rsplit("/", 1)[-1] for v in ids}
        assert len(ids) == len(vp_train) - len(in_train)
    result = json.loads(path.read_text())
    assert result["counts"]["held_out_of_action_train"] == len(in_train) == result["method"]["held_out_videos"]
    assert result["bootstrap"]["unit"].startswith("test videos")


def test_frame_level_intervals_resample_videos():
    from vpbench.evaluation.metrics import bootstrap_ci

    rng = np.random.default_rng(0)
    video = np.repeat(np.arange(12), 25)  # 12 videos of 25 frames; frames of one video are alike
    values = rng.normal(size=12)[video] + 0.01 * rng.normal(size=len(video))
    mean = lambda x: float(np.mean(x))  # noqa: E731
    lo_f, hi_f = bootstrap_ci(mean, [values], 400, 0.95, 0)
    lo_v, hi_v = bootstrap_ci(mean, [values], 400, 0.95, 0, groups=video)
    assert (hi_v - lo_v) > 3 * (hi_f - lo_f)  # resampling frames pretends there are 300 independent samples
    with pytest.raises(VPBenchError, match="groups has 3 rows"):
        bootstrap_ci(mean, [values], 10, 0.95, 0, groups=video[:3])


def test_store_from_offsets_matches_the_contiguous_layout():
    frames = np.arange(7 * 2 * 2 * 3, dtype=np.uint8).reshape(7, 2, 2, 3)
    store = FrameStore.from_offsets(frames, [0, 3, 7], ["a", "b"])
    assert store.num_frames(1) == 4 and store.total_frames == 7
    np.testing.assert_array_equal(store.video(1), frames[3:7])
    np.testing.assert_array_equal(store.frames_at(0, [2, 2, 2]), frames[[2, 2, 2]])
    assert torch.equal(torch.from_numpy(store.subset([1]).video(0)), torch.from_numpy(frames[3:7]))
