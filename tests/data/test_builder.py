"""`vpbench build` on hand-made raw trees: labels, splits, bad inputs, determinism."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers.tiny import gradient_frames
from vpbench.core.attributes import ATTRIBUTES, STPRIVACY_PICKLE_ORDER
from vpbench.core.errors import VPBenchError
from vpbench.data.builder import build_dataset, load_manifest
from vpbench.data.video import write_video

CLASSES = ("brush_hair", "ride_bike")


def _hmdb_tree(root: Path, per_class: int = 4, num_frames: int = 20) -> tuple[Path, Path, Path]:
    """raw/<class>/<name>.avi, HMDB51 split files and a 3-annotator vote CSV."""
    raw, splits = root / "in" / "raw", root / "in" / "splits"
    splits.mkdir(parents=True)
    rows = []
    rng = np.random.default_rng(0)
    for c in CLASSES:
        lines = []
        for i in range(per_class):
            name = f"{c}_clip_{i}.avi"
            write_video(raw / c / name, gradient_frames(num_frames, seed=i), fps=25)
            lines.append(f"{name} {2 if i == 0 else 1} \n")
            truth = rng.integers(0, 2, len(ATTRIBUTES))
            for annotator in ("ann1", "ann2", "ann3"):
                votes = truth.copy()
                if annotator == "ann3":
                    votes[0] = 1 - votes[0]  # ann3 disagrees on face: majority still the truth
                rows.append({"video": f"{c}/{name}", "annotator": annotator, **dict(zip(ATTRIBUTES, votes.tolist()))})
        (splits / f"{c}_test_split1.txt").write_text("".join(lines))
    labels = root / "in" / "votes.csv"
    pd.DataFrame(rows).to_csv(labels, index=False)
    return raw, splits, labels


def _build(tmp_path, raw, splits, labels, **kw):
    return build_dataset(
        "vp-hmdb51",
        tmp_path / "out",
        raw=raw,
        splits=splits,
        labels=[labels],
        label_format="csv",
        progress=False,
        workers=1,
        **kw,
    )


def test_build_hmdb51_layout_with_votes(tmp_path):
    raw, splits, labels = _hmdb_tree(tmp_path)
    result = _build(tmp_path, raw, splits, labels)
    m = load_manifest(tmp_path / "out")
    assert len(m) == 8 and set(m["action"]) == set(CLASSES)
    for column in ("video_id", "path", "action", "split_1", *ATTRIBUTES, "num_frames", "sha256"):
        assert column in m.columns
    assert all((tmp_path / "out" / p).is_file() for p in m["path"])
    assert (m["split_1"] == "test").sum() == 2
    votes = pd.read_csv(labels)
    votes["video_id"] = votes["video"].str.replace(".avi", "", regex=False)
    majority = votes.groupby("video_id")[list(ATTRIBUTES)].mean().round().astype(int)
    got = m.set_index("video_id")[list(ATTRIBUTES)]
    assert (got.sort_index().to_numpy() == majority.sort_index().to_numpy()).all()
    assert (m["face_votes"] == 3).all() and (m["annotators"] == 3).all()
    assert result.info["agreement"]["annotators"]["ann3"]["agreement"] < 1.0
    assert result.info["counts"] == {"videos": 8, "classes": 2, "skipped": 0}
    assert result.report["skipped"] == []


def test_rebuild_with_same_inputs_gives_identical_files(tmp_path):
    raw, splits, labels = _hmdb_tree(tmp_path)
    _build(tmp_path, raw, splits, labels)
    first = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    _build(tmp_path, raw, splits, labels)
    second = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    assert first.keys() == {"manifest.parquet", "info.json", "build_report.json"}
    assert first == second


def test_bad_inputs_are_reported_and_the_rest_is_built(tmp_path):
    raw, splits, labels = _hmdb_tree(tmp_path)
    good = (raw / "brush_hair" / "brush_hair_clip_1.avi").read_bytes()
    (raw / "brush_hair" / "brush_hair_clip_1.avi").write_bytes(good[: len(good) // 4])  # truncated
    (raw / "brush_hair" / "brush_hair_clip_2.avi").write_bytes(b"")  # empty
    (raw / "ride_bike" / "ride_bike_clip_1.avi").write_text("not a video at all\n" * 50)  # text named .avi
    write_video(raw / "ride_bike" / "ride_bike_clip_2.avi", gradient_frames(5), fps=25)  # too short
    votes = pd.read_csv(labels)
    ghost = votes.iloc[:3].assign(video="ride_bike/ghost.avi")  # label for a video that is not there
    pd.concat([votes, ghost]).to_csv(labels, index=False)

    result = _build(tmp_path, raw, splits, labels)
    reasons = {r["path"]: r["reason"] for r in result.report["skipped"]}
    assert reasons["brush_hair/brush_hair_clip_2.avi"] == "empty file (0 bytes)"
    assert reasons["ride_bike/ride_bike_clip_2.avi"] == "too short: 5 frames, one clip needs 16"
    assert reasons["ride_bike/ghost"] == "label for a video that is not there"
    assert (
        "not a readable video" in reasons["ride_bike/ride_bike_clip_1.avi"]
        or "no decodable" in reasons["ride_bike/ride_bike_clip_1.avi"]
    )
    truncated = reasons.get("brush_hair/brush_hair_clip_1.avi")
    m = load_manifest(tmp_path / "out")
    if truncated is None:  # a truncated file may still hold >= 16 whole frames: then only those count
        row = m.set_index("video_id").loc["brush_hair/brush_hair_clip_1"]
        assert 16 <= row["num_frames"] < 20
    else:
        assert "undecodable" in truncated or "short" in truncated or "readable" in truncated
    good_ids = {f"{c}/{c}_clip_{i}" for c in CLASSES for i in (0, 3)}
    assert good_ids <= set(m["video_id"])
    assert result.info["counts"]["skipped"] == len(result.report["skipped"])


def test_strict_fails_and_keeps_the_previous_build(tmp_path):
    raw, splits, labels = _hmdb_tree(tmp_path)
    _build(tmp_path, raw, splits, labels)
    before = (tmp_path / "out" / "manifest.parquet").read_bytes()
    (raw / "ride_bike" / "ride_bike_clip_3.avi").write_bytes(b"")
    with pytest.raises(
        VPBenchError,
        match=r"--strict: 1 input\(s\) skipped, first: ride_bike/ride_bike_clip_3.avi: "
        r"empty file",
    ):
        _build(tmp_path, raw, splits, labels, strict=True)
    assert (tmp_path / "out" / "manifest.parquet").read_bytes() == before
    # The previous build's report stays; the failure reports beside the folder.
    assert json.loads((tmp_path / "out" / "build_report.json").read_text())["skipped"] == []
    report = json.loads((tmp_path / "out.build_report.json").read_text())
    assert report["skipped"] == [{"path": "ride_bike/ride_bike_clip_3.avi", "reason": "empty file (0 bytes)"}]


def test_videos_missing_from_splits_or_labels_are_reported(tmp_path):
    raw, splits, labels = _hmdb_tree(tmp_path)
    write_video(raw / "ride_bike" / "unlisted.avi", gradient_frames(20), fps=25)
    with open(splits / "ride_bike_test_split1.txt", "a") as fh:
        fh.write("vanished.avi 1\n")
    votes = pd.read_csv(labels)
    votes[votes["video"] != "brush_hair/brush_hair_clip_3.avi"].to_csv(labels, index=False)
    result = _build(tmp_path, raw, splits, labels)
    assert {"path": "ride_bike/unlisted.avi", "reason": "not listed in any split file"} in result.report["skipped"]
    assert {
        "path": "ride_bike/vanished.avi",
        "reason": "listed in the split files but not found under the raw folder",
    } in result.report["skipped"]
    assert {"path": "brush_hair/brush_hair_clip_3.avi", "reason": "no privacy label for this video"} in result.report[
        "skipped"
    ]


def test_manifest_dataset_with_inline_labels(tmp_path):
    for i in range(3):
        write_video(tmp_path / "videos" / f"v{i}.mp4", gradient_frames(18, seed=i), fps=30)
    pd.DataFrame(
        {
            "path": [f"videos/v{i}.mp4" for i in range(3)] + ["videos/missing.mp4"],
            "action": ["smile", "frown", "smile", "smile"],
            "split": ["train", "train", "test", "test"],
            **{a: [1, 0, 1, 0] for a in ATTRIBUTES},
        }
    ).to_csv(tmp_path / "m.csv", index=False)
    result = build_dataset("manifest", tmp_path / "out", manifest=tmp_path / "m.csv", progress=False, workers=1)
    m = result.manifest
    assert list(m["video_id"]) == ["videos/v0", "videos/v1", "videos/v2"]
    assert list(m["face"]) == [1, 0, 1] and list(m["split_1"]) == ["train", "train", "test"]
    assert all((tmp_path / "out" / p).is_file() for p in m["path"])
    assert result.report["skipped"] == [
        {"path": "videos/missing.mp4", "reason": "listed in the manifest but not found"}
    ]


def test_cli_user_error_is_one_line_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "vpbench", "build", "--dataset", "vp-hmdb5", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: unknown dataset 'vp-hmdb5' (did you mean 'vp-hmdb51'?); choose from: manifest, pa-hmdb51, "
        "synth-hmdb51, synth-ucf101, vp-hmdb51, vp-ucf101"
    ]


def test_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "labels.pickle").write_bytes(pickle.dumps({"brush_hair/x.mp4": Evil()}))
    raw, splits, _ = _hmdb_tree(tmp_path)
    with pytest.raises(VPBenchError, match="refused to load pickle"):
        build_dataset(
            "vp-hmdb51", tmp_path / "out", raw=raw, splits=splits, labels=[tmp_path / "labels.pickle"], progress=False
        )
    assert not marker.exists()
    assert not (tmp_path / "out" / "manifest.parquet").exists()


@pytest.mark.reference
def test_vp_hmdb51_from_the_real_stprivacy_pickle(tmp_path, reference):
    """Raw tree named after the real pickle's keys (2 per class, .avi): labels equal the pickle's."""
    from vpbench.data.labels import load_label_pickle

    labels_path = reference / "stprivacy-annotations" / "hmdb51_privacy_attribute_label.pickle"
    table = load_label_pickle(labels_path)
    by_class: dict[str, list[str]] = {}
    for key in sorted(table):
        by_class.setdefault(key.split("/")[0], []).append(key)
    assert len(by_class) == 51
    raw, splits = tmp_path / "raw", tmp_path / "splits"
    splits.mkdir()
    chosen = []
    frames = gradient_frames(16, 32, 64)
    for c, keys in by_class.items():
        lines = []
        for j, key in enumerate(keys[:2]):
            name = key.split("/")[1].removesuffix(".mp4") + ".avi"
            write_video(raw / c / name, frames, fps=30)
            lines.append(f"{name} {1 + j} \n")
            chosen.append(key)
        (splits / f"{c}_test_split1.txt").write_text("".join(lines))
    result = build_dataset(
        "vp-hmdb51",
        tmp_path / "out",
        raw=raw,
        splits=splits,
        labels=[labels_path],
        label_format="stprivacy-pickle",
        label_order=",".join(STPRIVACY_PICKLE_ORDER),
        progress=False,
    )
    m = result.manifest.set_index("video_id")
    assert len(m) == 102
    for key in chosen:
        expected = np.asarray(table[key]).reshape(-1)
        got = [int(m.loc[key.removesuffix(".mp4"), a]) for a in STPRIVACY_PICKLE_ORDER]
        assert got == expected.tolist(), key
    # every other key of the pickle is a label for a video that is not there
    assert (
        sum(r["reason"] == "label for a video that is not there" for r in result.report["skipped"]) == len(table) - 102
    )


@pytest.mark.reference
def test_pa_hmdb51_from_the_real_labels(tmp_path, reference):
    """515 generated videos, each as long as its label ranges: per-attribute positives match an independent count."""
    label_dir = reference / "pa-hmdb51" / "PrivacyAttributes"
    expected = {a: 0 for a in ATTRIBUTES}
    lengths = {}
    for path in sorted(label_dir.glob("*.json")):
        for name, entry in json.loads(path.read_text()).items():
            ends = [r[1] for a in ATTRIBUTES for r in entry.get(a, [])]
            lengths[(path.stem, name)] = max(ends) + 1
            for a in ATTRIBUTES:
                values = [r[2] for r in entry.get(a, [])]
                flat = [v for x in values for v in (x if isinstance(x, list) else [x])]
                expected[a] += any(v != 0 for v in flat)
    assert len(lengths) == 515
    raw = tmp_path / "raw"
    tile = gradient_frames(max(lengths.values()), 16, 16)
    for (action, name), n in lengths.items():
        write_video(raw / action / name, tile[:n], fps=30)
    result = build_dataset(
        "pa-hmdb51",
        tmp_path / "out",
        raw=raw,
        labels=[label_dir],
        label_format="pa-hmdb51",
        progress=False,
        min_frames=1,
    )
    m = result.manifest
    assert len(m) == 515
    assert {a: int(m[a].sum()) for a in ATTRIBUTES} == expected
    assert (m["split_1"] == "train").sum() == 309 and (m["split_1"] == "test").sum() == 206
    frames = pd.read_parquet(tmp_path / "out" / "frame_labels.parquet")
    assert len(frames) == sum(lengths.values())
    per_video = frames.groupby("video_id")[list(ATTRIBUTES)].max()
    assert (per_video.loc[m["video_id"]].to_numpy() == m[list(ATTRIBUTES)].to_numpy()).all()


def test_video_without_any_vote_on_an_attribute_is_skipped_not_fatal(tmp_path):
    raw, splits, labels = _hmdb_tree(tmp_path)
    votes = pd.read_csv(labels)
    votes["nudity"] = votes["nudity"].astype(object)
    votes.loc[votes["video"] == "ride_bike/ride_bike_clip_2.avi", "nudity"] = ""
    votes.to_csv(labels, index=False)
    result = _build(tmp_path, raw, splits, labels)
    assert {"path": "ride_bike/ride_bike_clip_2.avi", "reason": "no vote for attribute(s) nudity"} in result.report[
        "skipped"
    ]
    assert len(result.manifest) == 7
