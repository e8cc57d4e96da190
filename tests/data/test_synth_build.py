"""VP-Synth end to end: generate, build through the real-layout code path, rebuild from its files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vpbench.core.attributes import ATTRIBUTES
from vpbench.data.builder import build_dataset, load_manifest
from vpbench.data.labels import read_labelstudio_export
from vpbench.data.synth import render
from vpbench.data.video import probe_video


@pytest.fixture(scope="module")
def tiny_hmdb(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "synth-hmdb51"
    build_dataset("synth-hmdb51", out, size="tiny", seed=0, progress=False)
    return out


def test_synth_hmdb51_keeps_its_raw_tree_splits_and_exports_inside(tiny_hmdb):
    m = load_manifest(tiny_hmdb)
    assert len(m) == len(render.TINY_ACTIONS_HMDB) * 6
    assert sorted(m["action"].unique()) == sorted(render.TINY_ACTIONS_HMDB)
    for action in render.TINY_ACTIONS_HMDB:
        for fold in (1, 2, 3):
            assert (tiny_hmdb / "splits" / f"{action}_test_split{fold}.txt").is_file()
    for p in m["path"]:
        assert p.startswith("raw/") and (tiny_hmdb / p).is_file()
    info = probe_video(tiny_hmdb / m["path"].iloc[0])
    assert (info.codec, info.num_frames, info.width, info.height) == ("mpeg4", 20, 80, 64)
    for name in ("labelstudio-export.json", "boxes.csv", "ground_truth.csv"):
        assert (tiny_hmdb / "annotations" / name).is_file()
    assert (tiny_hmdb / "frame_labels.parquet").is_file() and (tiny_hmdb / "boxes.parquet").is_file()
    meta = json.loads((tiny_hmdb / "info.json").read_text())
    assert meta["synthetic"]["size"] == "tiny" and meta["synthetic"]["seed"] == 0
    assert set(meta["agreement"]["fleiss_kappa"]) == set(ATTRIBUTES)
    assert len(meta["agreement"]["annotators"]) == 3


def test_export_is_label_studio_json_with_three_annotators(tiny_hmdb):
    tasks = json.loads((tiny_hmdb / "annotations" / "labelstudio-export.json").read_text())
    assert all({"id", "data", "annotations"} <= set(t) for t in tasks)
    assert all(t["data"]["video"].startswith("/data/local-files/?d=raw/") for t in tasks)
    users = {a["completed_by"] for t in tasks for a in t["annotations"]}
    assert users == {1, 2, 3}
    votes = read_labelstudio_export(tiny_hmdb / "annotations" / "labelstudio-export.json").votes
    assert set(votes["annotator"].unique()) == {"user1", "user2", "user3"}


def test_majority_labels_mostly_agree_with_the_generating_truth(tiny_hmdb):
    m = load_manifest(tiny_hmdb).set_index("video_id")
    truth = pd.read_csv(tiny_hmdb / "annotations" / "ground_truth.csv").set_index("video_id")
    agree = (m.loc[truth.index, list(ATTRIBUTES)].to_numpy() == truth[list(ATTRIBUTES)].to_numpy()).mean()
    assert agree > 0.8


def test_frame_labels_are_the_rendered_visibility_and_imply_the_video_label(tiny_hmdb):
    m = load_manifest(tiny_hmdb)
    frames = pd.read_parquet(tiny_hmdb / "frame_labels.parquet")
    assert len(frames) == int(m["num_frames"].sum())
    truth = pd.read_csv(tiny_hmdb / "annotations" / "ground_truth.csv").set_index("video_id")
    seen = frames.groupby("video_id")[list(ATTRIBUTES)].max()
    # visible somewhere <=> the generating label is 1 (the cue is never drawn for label 0)
    assert (seen.loc[truth.index].to_numpy() == truth[list(ATTRIBUTES)].to_numpy()).all()
    share = frames.groupby("video_id")[list(ATTRIBUTES)].mean()
    positive = truth[list(ATTRIBUTES)].to_numpy() == 1
    assert (share.loc[truth.index].to_numpy()[positive] < 1).mean() > 0.8  # cues visible in part of the frames


def test_boxes_cover_every_frame_inside_the_frame(tiny_hmdb):
    m = load_manifest(tiny_hmdb)
    boxes = pd.read_parquet(tiny_hmdb / "boxes.parquet")
    main = boxes[boxes["person"] == 0]
    assert len(main) == int(m["num_frames"].sum())
    assert (boxes["x0"] >= 0).all() and (boxes["x1"] <= 80).all() and (boxes["y1"] <= 64).all()
    assert (boxes["x1"] > boxes["x0"]).all() and (boxes["y1"] > boxes["y0"]).all()


def test_same_seed_gives_identical_files_and_other_seed_differs(tiny_hmdb, tmp_path):
    again = tmp_path / "again"
    build_dataset("synth-hmdb51", again, size="tiny", seed=0, progress=False)
    for name in (
        "manifest.parquet",
        "info.json",
        "build_report.json",
        "frame_labels.parquet",
        "boxes.parquet",
        "annotations/labelstudio-export.json",
    ):
        assert (again / name).read_bytes() == (tiny_hmdb / name).read_bytes(), name
    first = load_manifest(tiny_hmdb)["path"].iloc[0]
    assert (again / first).read_bytes() == (tiny_hmdb / first).read_bytes()
    other = tmp_path / "other"
    build_dataset("synth-hmdb51", other, size="tiny", seed=1, progress=False)
    assert not np.array_equal(load_manifest(other)["sha256"], load_manifest(tiny_hmdb)["sha256"])


def test_rebuild_as_vp_hmdb51_from_its_raw_splits_and_any_export(tiny_hmdb, tmp_path):
    export = json.loads((tiny_hmdb / "annotations" / "labelstudio-export.json").read_text())
    for task in export:  # another labeling round: annotator 1 says yes to every face
        for ann in task["annotations"]:
            if ann["completed_by"] == 1:
                for r in ann["result"]:
                    if r["from_name"] == "face":
                        r["value"]["choices"] = ["yes"]
    (tmp_path / "round2.json").write_text(json.dumps(export))
    same = build_dataset(
        "vp-hmdb51",
        tmp_path / "same",
        raw=tiny_hmdb / "raw",
        splits=tiny_hmdb / "splits",
        labels=[tiny_hmdb / "annotations" / "labelstudio-export.json"],
        progress=False,
    )
    original = load_manifest(tiny_hmdb)
    assert same.manifest[list(ATTRIBUTES)].equals(original[list(ATTRIBUTES)])
    assert (tmp_path / "same" / "raw").is_symlink()
    changed = build_dataset(
        "vp-hmdb51",
        tmp_path / "changed",
        raw=tiny_hmdb / "raw",
        splits=tiny_hmdb / "splits",
        labels=[tmp_path / "round2.json"],
        progress=False,
    )
    assert changed.manifest["face"].sum() >= original["face"].sum()
    assert changed.manifest["face_yes"].sum() > original["face_yes"].sum()


def test_synth_ucf101_uses_the_ucf101_layout(tmp_path):
    out = tmp_path / "synth-ucf101"
    result = build_dataset("synth-ucf101", out, size="tiny", seed=0, progress=False)
    lists = out / "splits" / "ucfTrainTestlist"
    assert (lists / "classInd.txt").read_bytes().endswith(b"\r\n")
    assert {p.name for p in lists.iterdir()} == {
        "classInd.txt",
        *(f"{k}list0{i}.txt" for k in ("train", "test") for i in (1, 2, 3)),
    }
    m = result.manifest
    assert all(v.split("/")[1].startswith(f"v_{v.split('/')[0]}_g") for v in m["video_id"])
    assert set(m["action"]) == set(render.TINY_ACTIONS_UCF)
    assert not set(m["action"]) & set(render.ACTIONS_HMDB)
    # a fold tests whole groups (UCF101's rule): no group is in both train and test
    groups = m["video_id"].str.extract(r"_g(\d+)_")[0]
    for fold in ("split_1", "split_2", "split_3"):
        assert not set(groups[m[fold] == "train"]) & set(groups[m[fold] == "test"])


def test_refuses_to_write_into_a_folder_with_other_files(tmp_path):
    from vpbench.core.errors import VPBenchError

    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(VPBenchError, match="not a VP-Synth build"):
        build_dataset("synth-hmdb51", tmp_path, size="tiny", progress=False)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
