"""Label importers: restricted unpickler, Label Studio, vote CSV, STPrivacy pickle, PA-HMDB51."""

from __future__ import annotations

import builtins
import json
import os
import pickle
import string
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.tiny import REPO
from vpbench.core.attributes import ATTRIBUTES, STPRIVACY_PICKLE_ORDER
from vpbench.core.errors import VPBenchError
from vpbench.data.labels import (
    aggregate_votes,
    load_label_pickle,
    normalize_key,
    parse_frame_ranges,
    read_labelstudio_export,
    read_pa_hmdb51,
    read_stprivacy_pickle,
    read_vote_csv,
)


def _dump(path: Path, obj: object, protocol: int = pickle.HIGHEST_PROTOCOL) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def _check_votes_table(votes: pd.DataFrame) -> None:
    assert list(votes.columns) == ["key", "annotator", "attribute", "vote"]
    assert set(votes["attribute"]) <= set(ATTRIBUTES)
    assert set(votes["vote"]) <= {0, 1}
    assert votes["vote"].dtype.kind == "i"
    assert list(votes.index) == list(range(len(votes)))
    expected = votes.sort_values(["key", "annotator", "attribute"], ignore_index=True)
    pd.testing.assert_frame_equal(votes, expected)


def _vote(votes: pd.DataFrame, key: str, annotator: str, attribute: str) -> int | None:
    hit = votes[(votes.key == key) & (votes.annotator == annotator) & (votes.attribute == attribute)]
    assert len(hit) <= 1
    return None if hit.empty else int(hit.vote.iloc[0])


# --------------------------------------------------------------------------- restricted unpickler


class _RunsShell:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _OpensFile:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (builtins.open, (str(self.target), "w"))


class Custom:
    def __init__(self) -> None:
        self.x = 1


@pytest.mark.parametrize("payload", [_RunsShell, _OpensFile])
def test_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path, payload):
    target = tmp_path / "pwned"
    path = _dump(tmp_path / "evil.pickle", {"brush_hair/x.mp4": payload(target)})
    with pytest.raises(VPBenchError, match="refused to load pickle: it references") as err:
        load_label_pickle(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    assert "system" in message or "open" in message
    assert not target.exists()


def test_pickle_of_custom_class_is_refused(tmp_path):
    path = _dump(tmp_path / "custom.pickle", {"a": Custom()})
    with pytest.raises(VPBenchError, match=r"references .*Custom, which a label file never needs"):
        load_label_pickle(path)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_dict_of_numpy_arrays_loads(tmp_path, protocol):
    data = {
        "a/x.mp4": np.array([[1, 0, 1, 0, 0]], dtype=np.int64),
        "b": np.ones(3, dtype=bool)[::2],
        "fortran": np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
        "big_endian": np.arange(4, dtype=">u2"),
        "float": np.linspace(0, 1, 5, dtype=np.float32),
        "empty": np.zeros((0, 5), dtype=np.uint8),
    }
    loaded = load_label_pickle(_dump(tmp_path / "ok.pickle", data, protocol))
    assert set(loaded) == set(data)
    for key, value in data.items():
        np.testing.assert_array_equal(loaded[key], value)
        assert loaded[key].dtype == value.dtype


@pytest.mark.parametrize(
    "obj, match",
    [
        ([np.zeros(5)], "holds a list"),
        ({"a": 1}, "is a int, expected a numpy array"),
        ({1: np.zeros(5)}, "non-string key"),
        ({"a": np.array(["x"], dtype=object)}, r"refused to load pickle: it references dtype 'O8'"),
        ({"a": np.zeros(2, dtype=[("x", "i4")])}, "refused to load pickle"),
    ],
)
def test_pickle_with_wrong_content_is_refused(tmp_path, obj, match):
    with pytest.raises(VPBenchError, match=match):
        load_label_pickle(_dump(tmp_path / "bad.pickle", obj))


class _WrongLength:
    def __reduce__(self):
        # numpy's own array pickle layout, with 8 bytes of data for 1000 items.
        return (
            np.ndarray.__reduce__(np.zeros(1))[0],
            (np.ndarray, (0,), b"b"),
            (1, (1000,), np.dtype("i8"), False, b"\0" * 8),
        )


class _CallsNdarray:
    def __reduce__(self):
        return (np.ndarray, ((10**6,),))


@pytest.mark.parametrize("payload", [_WrongLength(), _CallsNdarray()])
def test_array_state_is_checked_not_trusted(tmp_path, payload):
    with pytest.raises(VPBenchError, match="not a readable label pickle"):
        load_label_pickle(_dump(tmp_path / "forged.pickle", {"a": payload}))


def test_garbled_length_field_is_rejected_before_allocating(tmp_path):
    # A BYTEARRAY8 opcode declaring 2**62 bytes in a 30-byte file.
    path = tmp_path / "garbled.pickle"
    path.write_bytes(b"\x80\x05}\x94\x8c\x01a\x94\x96" + (2**62).to_bytes(8, "little") + b"xxxx.")
    with pytest.raises(VPBenchError, match="not a readable label pickle .*bytearray8"):
        load_label_pickle(path)


def test_truncated_garbage_and_missing_pickles(tmp_path):
    good = pickle.dumps({"a": np.zeros((1, 5), dtype=np.int64)})
    for name, data in [("cut", good[: len(good) // 2]), ("junk", b"not a pickle at all"), ("empty", b"")]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(VPBenchError, match=str(path)):
            load_label_pickle(path)
    with pytest.raises(VPBenchError, match="cannot read"):
        load_label_pickle(tmp_path / "absent.pickle")


# --------------------------------------------------------------------------- keys and STPrivacy pickle


@pytest.mark.parametrize(
    "raw, key",
    [
        ("brush_hair/x.mp4", "brush_hair/x"),
        ("./brush_hair/x.avi", "brush_hair/x"),
        ("brush_hair\\x.MP4", "brush_hair/x"),
        ("Dr._No_clip.avi", "Dr._No_clip"),
        ("name.with.dots", "name.with.dots"),
        ("brush_hair/x", "brush_hair/x"),
    ],
)
def test_normalize_key(raw, key):
    assert normalize_key(raw) == key


def test_stprivacy_pickle_column_order(tmp_path):
    path = _dump(tmp_path / "labels.pickle", {"brush_hair/x.mp4": np.array([[1, 0, 0, 0, 1]], dtype=np.int64)})
    default = read_stprivacy_pickle(path).votes
    _check_votes_table(default)
    assert set(default.key) == {"brush_hair/x"}
    assert set(default.annotator) == {"stprivacy-release"}
    # Default order puts skin_color first.
    assert STPRIVACY_PICKLE_ORDER[0] == "skin_color"
    assert _vote(default, "brush_hair/x", "stprivacy-release", "skin_color") == 1
    assert _vote(default, "brush_hair/x", "stprivacy-release", "face") == 0
    for order in (ATTRIBUTES, ",".join(ATTRIBUTES)):
        face_first = read_stprivacy_pickle(path, order=order).votes
        assert _vote(face_first, "brush_hair/x", "stprivacy-release", "face") == 1
        assert _vote(face_first, "brush_hair/x", "stprivacy-release", "skin_color") == 0
        assert _vote(face_first, "brush_hair/x", "stprivacy-release", "relationship") == 1


def test_stprivacy_pickle_validation(tmp_path):
    flat = _dump(tmp_path / "flat.pickle", {"a/y.mp4": np.array([0, 1, 0, 1, 0], dtype=np.int8)})
    assert read_stprivacy_pickle(flat).votes.vote.sum() == 2
    for name, value, match in [
        ("shape", np.zeros((2, 5), dtype=np.int64), r"'a/z.mp4' has shape \(2, 5\)"),
        ("binary", np.array([[0, 2, 0, 0, 0]]), r"'a/z.mp4' is \[0, 2, 0, 0, 0\]"),
    ]:
        path = _dump(tmp_path / f"{name}.pickle", {"a/z.mp4": value})
        with pytest.raises(VPBenchError, match=match):
            read_stprivacy_pickle(path)
    clash = _dump(tmp_path / "clash.pickle", {"a/z.mp4": np.zeros(5, int), "a/z.avi": np.zeros(5, int)})
    with pytest.raises(VPBenchError, match="both name video 'a/z'"):
        read_stprivacy_pickle(clash)
    with pytest.raises(VPBenchError, match="did you mean 'face'"):
        read_stprivacy_pickle(flat, order="fcae,skin_color,gender,nudity,relationship")


# --------------------------------------------------------------------------- Label Studio


def _result(name, answer, kind="choices"):
    return {"from_name": name, "to_name": "video", "type": kind, "value": {"choices": [answer]}}


def _ann(ann_id, user, answers, *, updated=None, created="2024-01-01T00:00:00Z", cancelled=False, extra=()):
    return {
        "id": ann_id,
        "completed_by": user,
        "was_cancelled": cancelled,
        "created_at": created,
        "updated_at": updated or created,
        "result": [_result(name, answer) for name, answer in answers.items()] + list(extra),
    }


def _task(task_id, annotations, video="/data/local-files/?d=raw/brush_hair/x.avi", video_id=None):
    data = {"video": video}
    if video_id is not None:
        data["video_id"] = video_id
    return {"id": task_id, "data": data, "annotations": annotations}


ALL_YES = {a: "yes" for a in ATTRIBUTES}
ALL_NO = {a: "no" for a in ATTRIBUTES}


def _write_json(tmp_path: Path, obj, name="export.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return path


def test_labelstudio_basic_votes_and_keys(tmp_path):
    comment = {"from_name": "comment", "to_name": "video", "type": "textarea", "value": {"text": ["blurry"]}}
    tasks = [
        _task(1, [_ann(10, 1, ALL_YES, extra=[comment]), _ann(11, {"id": 2, "email": "b@x.org"}, ALL_NO)]),
        _task(
            2,
            [_ann(12, 1, {**ALL_NO, "face": "Yes", "gender": "1", "nudity": "TRUE"})],
            video="https://host/v/brush_hair/My%20clip.mp4?token=abc",
        ),
        _task(3, [_ann(13, 3, ALL_NO)], video="/data/local-files/?d=raw/brush_hair/x.avi", video_id="brush_hair/x"),
    ]
    result = read_labelstudio_export(_write_json(tmp_path, tasks))
    votes = result.votes
    _check_votes_table(votes)
    assert result.warnings == []
    assert set(votes.key) == {"x", "My clip", "brush_hair/x"}
    assert set(votes.annotator) == {"user1", "user2", "user3"}
    assert len(votes) == 4 * 5
    assert _vote(votes, "x", "user1", "nudity") == 1
    assert _vote(votes, "x", "user2", "nudity") == 0
    assert [_vote(votes, "My clip", "user1", a) for a in ATTRIBUTES] == [1, 0, 1, 1, 0]
    assert _vote(votes, "brush_hair/x", "user3", "face") == 0


def test_labelstudio_cancelled_annotations_ignored(tmp_path):
    tasks = [
        _task(1, [_ann(10, 1, ALL_YES, cancelled=True), _ann(11, 2, ALL_NO)]),
        _task(2, [_ann(12, 1, ALL_YES, cancelled=True)], video_id="a/only_cancelled"),
        _task(3, [], video_id="a/never_annotated"),
    ]
    result = read_labelstudio_export(_write_json(tmp_path, tasks))
    assert set(result.votes.annotator) == {"user2"}
    assert set(result.votes.key) == {"x"}
    assert any("2 task(s) have no completed annotation" in w and "2, 3" in w for w in result.warnings)


def test_labelstudio_latest_annotation_wins(tmp_path):
    tasks = [
        _task(
            1,
            [
                # Higher id but older update: the newer update wins.
                _ann(20, 1, ALL_YES, created="2024-01-01T00:00:00Z", updated="2024-01-02T00:00:00Z"),
                _ann(10, 1, ALL_NO, created="2024-01-01T00:00:00Z", updated="2024-01-03T00:00:00+00:00"),
            ],
        ),
        _task(
            2,
            [
                # Same update time: later created_at wins, then id.
                _ann(31, 2, ALL_YES, created="2024-01-02T00:00:00Z", updated="2024-02-01T00:00:00Z"),
                _ann(30, 2, ALL_NO, created="2024-01-01T00:00:00Z", updated="2024-02-01T00:00:00Z"),
                _ann(40, 3, ALL_NO, created="2024-01-01T00:00:00Z"),
                _ann(41, 3, ALL_YES, created="2024-01-01T00:00:00Z"),
            ],
            video_id="a/y",
        ),
    ]
    result = read_labelstudio_export(_write_json(tmp_path, tasks))
    votes = result.votes
    assert len(votes) == 3 * 5
    assert votes[votes.annotator == "user1"].vote.tolist() == [0] * 5
    assert votes[votes.annotator == "user2"].vote.tolist() == [1] * 5
    assert votes[votes.annotator == "user3"].vote.tolist() == [1] * 5
    assert any("user1 annotated video 'x' 2 times" in w for w in result.warnings)


def test_labelstudio_missing_attribute_warns_and_gives_no_vote(tmp_path):
    answers = {a: "no" for a in ATTRIBUTES if a != "nudity"}
    result = read_labelstudio_export(_write_json(tmp_path, [_task(1, [_ann(10, 1, answers)])]))
    assert _vote(result.votes, "x", "user1", "nudity") is None
    assert len(result.votes) == 4
    assert len(result.warnings) == 1 and "no vote for nudity" in result.warnings[0]


def test_labelstudio_tie_under_both_policies(tmp_path):
    tasks = [_task(1, [_ann(10, 1, ALL_YES), _ann(11, 2, ALL_NO), _ann(12, 3, {**ALL_NO, "face": "yes"})])]
    tasks[0]["annotations"].append(_ann(13, 4, {**ALL_NO, "face": "no", "gender": "yes"}))
    votes = read_labelstudio_export(_write_json(tmp_path, tasks)).votes
    positive = aggregate_votes(votes)
    negative = aggregate_votes(votes, tie_policy="negative")
    assert positive.tie_policy == "positive"
    row_p, row_n = positive.labels.loc["x"], negative.labels.loc["x"]
    # face: 2 yes of 4 -> tie; gender: 2 of 4 -> tie; skin_color: 1 of 4 -> no.
    assert row_p["face_tie"] and row_p["gender_tie"] and not row_p["skin_color_tie"]
    assert (row_p["face"], row_n["face"]) == (1, 0)
    assert (row_p["gender"], row_n["gender"]) == (1, 0)
    assert row_p["skin_color"] == row_n["skin_color"] == 0
    assert row_p["face_yes"] == 2 and row_p["face_votes"] == 4 and row_p["annotators"] == 4


def test_labelstudio_unknown_attribute_names_task_and_suggests(tmp_path):
    answers = {**ALL_NO}
    answers["skin_colour"] = answers.pop("skin_color")
    path = _write_json(tmp_path, [_task(77, [_ann(10, 1, answers)])])
    with pytest.raises(VPBenchError) as err:
        read_labelstudio_export(path)
    message = str(err.value)
    assert str(path) in message and "task 77" in message
    assert "unknown attribute 'skin_colour'" in message and "did you mean 'skin_color'" in message


@pytest.mark.parametrize(
    "text, reason",
    [
        ('[{"id": 1, ', "invalid JSON"),
        ('{"id": 1}', "top level is a JSON dict"),
        ("[1, 2]", "item 0 is a JSON int"),
        ('[{"id": 1, "data": {"video": "a.avi"}, "annotations": {}}]', "'annotations' is not a list"),
    ],
)
def test_labelstudio_malformed_export(tmp_path, text, reason):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(VPBenchError, match="not a Label Studio JSON export") as err:
        read_labelstudio_export(path)
    assert reason in str(err.value) and str(path) in str(err.value)


def test_labelstudio_bad_choice_and_missing_video(tmp_path):
    path = _write_json(tmp_path, [_task(1, [_ann(10, 1, {**ALL_NO, "face": "maybe"})])])
    with pytest.raises(VPBenchError, match="'face' choice 'maybe' is not yes/no"):
        read_labelstudio_export(path)
    path = _write_json(tmp_path, [{"id": 5, "data": {"text": "?"}, "annotations": []}])
    with pytest.raises(VPBenchError, match="task 5: data has neither 'video_id' nor a 'video'"):
        read_labelstudio_export(path)


# --------------------------------------------------------------------------- vote CSV


def test_vote_csv_named_columns_and_duplicates(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text(
        "video,annotator,face,skin_color,gender,nudity,relationship,comment\n"
        "./brush_hair/x.avi,ann1,1,0,yes,no,true,\n"
        "brush_hair/x.avi,ann2,0,0,0,0,0,meh\n"
        "brush_hair/x.avi,ann1,0,1,no,yes,FALSE,changed my mind\n"
        "brush_hair/y.avi,ann1,1,,1,0,0,\n"
    )
    result = read_vote_csv(path)
    votes = result.votes
    _check_votes_table(votes)
    assert [_vote(votes, "brush_hair/x", "ann1", a) for a in ATTRIBUTES] == [0, 1, 0, 1, 0]
    assert _vote(votes, "brush_hair/y", "ann1", "skin_color") is None
    assert len(votes) == 5 + 5 + 4
    assert any("lines 2, 4; the last one is used" in w for w in result.warnings)
    assert any("line 5" in w and "no vote for skin_color" in w for w in result.warnings)


def test_vote_csv_positional_columns_use_order(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("video_id,annotator,a1,a2,a3,a4,a5\nc/v,ann,1,0,0,0,0\n")
    with pytest.raises(VPBenchError, match="unnamed; give the label order"):
        read_vote_csv(path)
    votes = read_vote_csv(path, order=STPRIVACY_PICKLE_ORDER).votes
    assert _vote(votes, "c/v", "ann", "skin_color") == 1 and _vote(votes, "c/v", "ann", "face") == 0
    votes = read_vote_csv(path, order=ATTRIBUTES).votes
    assert _vote(votes, "c/v", "ann", "face") == 1


@pytest.mark.parametrize(
    "text, match",
    [
        (
            "video,annotator,face,skin_colour,gender,nudity,relationship\n",
            "missing attribute column 'skin_color' \\(did you mean 'skin_colour'\\?\\)",
        ),
        (
            "video,annotater,face,skin_color,gender,nudity,relationship\n",
            "no 'annotator' column \\(did you mean 'annotater'\\?\\)",
        ),
        ("clip,annotator,face,skin_color,gender,nudity,relationship\n", "no 'video'"),
        (
            "video,annotator,face,skin_color,gender,nudity,relationship\nv,a,1,0,0,0,2\n",
            "line 2: 'relationship' is '2'",
        ),
        ("video,annotator,face,skin_color,gender,nudity,relationship\nv,,1,0,0,0,0\n", "line 2: empty 'annotator'"),
        ("", "the file is empty"),
        ('video,annotator\n"unterminated\n', "not a vote CSV"),
    ],
)
def test_vote_csv_errors(tmp_path, text, match):
    path = tmp_path / "votes.csv"
    path.write_text(text)
    with pytest.raises(VPBenchError, match=match) as err:
        read_vote_csv(path)
    assert str(path) in str(err.value)


# --------------------------------------------------------------------------- PA-HMDB51 format


def _pa_entry(**ranges):
    entry = {a: [[0, 5, 0]] for a in ATTRIBUTES}
    entry.update(ranges)
    entry.update(review=True, note="")
    return entry


def test_parse_frame_ranges_end_inclusive_and_lists():
    frames = parse_frame_ranges([[0, 2, 0], [3, 4, [1, 2]], [6, 6, [0, 1]], [7, 7, [0]]], 9)
    assert frames.dtype == np.int8
    assert frames.tolist() == [0, 0, 0, 1, 1, 0, 1, 0, 0]
    with pytest.raises(VPBenchError, match="f.json: v face: range 0 ends at frame 9, but the video has 9 frames"):
        parse_frame_ranges([[0, 9, 1]], 9, source="f.json: v face")
    with pytest.raises(VPBenchError, match="not 0 <= start <= end"):
        parse_frame_ranges([[5, 4, 1]], 9)
    with pytest.raises(VPBenchError, match="expected \\[start, end, value\\]"):
        parse_frame_ranges([[5, 4]], 9)


def test_pa_hmdb51_small_folder(tmp_path):
    folder = tmp_path / "PrivacyAttributes"
    folder.mkdir()
    (folder / "brush_hair.json").write_text(
        json.dumps(
            {
                "v1.avi": _pa_entry(
                    face=[[0, 2, 0], [3, 5, 2]],
                    skin_color=[[0, 5, [1, 2]]],
                    nudity=[[0, 1, [0, 1]], [2, 5, 0]],
                    relationship=[[0, 3, 0]],
                ),
            }
        )
    )
    (folder / "cartwheel.json").write_text(json.dumps({"v2.avi": _pa_entry(gender=[[0, 2, 0], [3, 3, 0]])}))
    (folder / "README.txt").write_text("not a label file")
    labels = read_pa_hmdb51(folder)
    assert labels.num_frames == {"brush_hair/v1": 6, "cartwheel/v2": 6}
    _check_votes_table(labels.votes)
    assert set(labels.votes.annotator) == {"pa-hmdb51"}
    assert [_vote(labels.votes, "brush_hair/v1", "pa-hmdb51", a) for a in ATTRIBUTES] == [1, 1, 0, 1, 0]
    assert labels.votes[labels.votes.key == "cartwheel/v2"].vote.sum() == 0

    frames = labels.frame_labels
    assert list(frames.columns) == ["key", "frame", *ATTRIBUTES]
    assert len(frames) == 12
    assert all(frames[a].dtype == np.int8 for a in ATTRIBUTES)
    v1 = frames[frames.key == "brush_hair/v1"]
    assert v1.frame.tolist() == list(range(6))
    assert v1.face.tolist() == [0, 0, 0, 1, 1, 1]
    assert v1.skin_color.tolist() == [1] * 6
    assert v1.nudity.tolist() == [1, 1, 0, 0, 0, 0]
    assert v1.relationship.tolist() == [0] * 6  # frames 4-5 uncovered count as 0

    single = read_pa_hmdb51(folder / "brush_hair.json")
    assert single.num_frames == {"brush_hair/v1": 6}
    assert labels.frame_labels.face.sum() == single.frame_labels.face.sum() == 3


def test_pa_hmdb51_errors(tmp_path):
    path = tmp_path / "jump.json"
    entry = _pa_entry()
    entry["skincolor"] = entry.pop("skin_color")
    path.write_text(json.dumps({"v.avi": entry}))
    with pytest.raises(VPBenchError, match="no frame ranges for 'skin_color' \\(did you mean 'skincolor'\\?\\)"):
        read_pa_hmdb51(path)
    path.write_text(json.dumps({"v.avi": _pa_entry(face=[[3, 1, 1]])}))
    with pytest.raises(VPBenchError, match="jump.json: 'v.avi' face: range 0: frames 3..1"):
        read_pa_hmdb51(path)
    path.write_text("{")
    with pytest.raises(VPBenchError, match="jump.json: not a PA-HMDB51 label file"):
        read_pa_hmdb51(path)
    with pytest.raises(VPBenchError, match="no such file"):
        read_pa_hmdb51(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VPBenchError, match="no .json label files"):
        read_pa_hmdb51(empty)


# --------------------------------------------------------------------------- real reference data


@pytest.fixture(scope="module")
def reference_data() -> Path:
    default = REPO.parent / "shared" / "data"
    root = Path(os.environ.get("VPBENCH_REFERENCE_DATA", default))
    if not root.is_dir():
        pytest.skip(f"reference data folder {root} is absent (set VPBENCH_REFERENCE_DATA)")
    return root


@pytest.mark.reference
def test_real_pa_hmdb51(reference_data):
    labels = read_pa_hmdb51(reference_data / "pa-hmdb51" / "PrivacyAttributes")
    assert len(labels.num_frames) == 515
    assert labels.warnings == []
    assert len(labels.votes) == 515 * 5
    assert len(labels.frame_labels) == sum(labels.num_frames.values())
    assert all(key.count("/") == 1 and not key.endswith(".avi") for key in labels.num_frames)


@pytest.mark.reference
def test_real_stprivacy_hmdb51_pickle(reference_data):
    path = reference_data / "stprivacy-annotations" / "hmdb51_privacy_attribute_label.pickle"
    raw = load_label_pickle(path)
    assert len(raw) == 6766
    value = raw["brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0.mp4"]
    assert value.shape == (1, 5) and value.dtype == np.int64
    # Reading with the identity order keeps the file's column order.
    votes = read_stprivacy_pickle(path, order=ATTRIBUTES).votes
    assert votes.key.nunique() == 6766
    per_column = votes.groupby("attribute").vote.sum()
    assert [int(per_column[a]) for a in ATTRIBUTES] == [6109, 4194, 6195, 1815, 1431]
    labels = aggregate_votes(read_stprivacy_pickle(path).votes).labels
    assert int(labels["skin_color"].sum()) == 6109 and int(labels["face"].sum()) == 4194


# --------------------------------------------------------------------------- fuzz

_LS_WORDS = [
    "id",
    "data",
    "video",
    "video_id",
    "annotations",
    "result",
    "from_name",
    "type",
    "value",
    "choices",
    "completed_by",
    "was_cancelled",
    "updated_at",
    "created_at",
    "email",
    *ATTRIBUTES,
    "comment",
]
_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            "yes",
            "no",
            "1",
            "maybe",
            "choices",
            "textarea",
            "2024-01-01T00:00:00Z",
            "not a date",
            "/data/local-files/?d=a/b.avi",
            "http://[bad",
            "",
            *ATTRIBUTES,
        ]
    ),
    st.text(max_size=8),
)
_json_value = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(_LS_WORDS), st.text(max_size=4)), inner, max_size=5),
    ),
    max_leaves=25,
)
_file_bytes = st.one_of(
    st.binary(max_size=200),
    st.text(alphabet=string.printable + "é\x00", max_size=200).map(lambda s: s.encode("utf-8")),
    _json_value.map(lambda v: json.dumps(v).encode()),
    st.lists(
        st.lists(st.sampled_from(["video", "annotator", *ATTRIBUTES, "a1", "1", "yes", "", '"', "x.avi"]), max_size=8),
        max_size=5,
    ).map(lambda rows: "\n".join(",".join(r) for r in rows).encode()),
)

# Near-valid exports reach the per-task and per-result checks that random JSON never does.
_ls_result = st.fixed_dictionaries(
    {
        "from_name": st.one_of(st.sampled_from([*ATTRIBUTES, "fcae", "comment"]), _json_leaf),
        "type": st.sampled_from(["choices", "choices", "textarea", None]),
        "value": st.one_of(
            st.fixed_dictionaries(
                {
                    "choices": st.lists(
                        st.sampled_from(["yes", "no", "Yes", "0", "maybe", 1, True, None]), min_size=1, max_size=2
                    )
                }
            ),
            _json_value,
        ),
    }
)
_ls_time = st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-02T10:00:00.123456", "2024-01-02", "", "bad", None, 5])
_ls_annotation = st.fixed_dictionaries(
    {
        "id": st.one_of(st.integers(0, 5), _json_leaf),
        "completed_by": st.one_of(st.integers(1, 3), st.fixed_dictionaries({"id": st.integers(1, 3)}), _json_leaf),
        "was_cancelled": st.booleans(),
        "updated_at": _ls_time,
        "created_at": _ls_time,
        "result": st.one_of(st.lists(_ls_result, max_size=6), _json_leaf),
    }
)
_ls_task = st.fixed_dictionaries(
    {
        "id": st.one_of(st.integers(0, 5), _json_leaf),
        "data": st.one_of(
            st.fixed_dictionaries(
                {
                    "video": st.sampled_from(
                        ["/data/local-files/?d=raw/a/x.avi", "http://h/a/y%20z.mp4?t=1", "x", "", "?d="]
                    )
                },
                optional={"video_id": st.one_of(st.sampled_from(["a/x", "./b/y.mp4", ""]), _json_leaf)},
            ),
            _json_value,
        ),
        "annotations": st.one_of(st.lists(_ls_annotation, max_size=3), _json_leaf),
    }
)
_ls_export = st.lists(_ls_task, max_size=4).map(lambda tasks: json.dumps(tasks).encode())


def _assert_only_vpbench_errors(content: bytes, readers) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input"
        path.write_bytes(content)
        for reader in readers:
            try:
                result = reader(path)
            except VPBenchError as exc:
                assert "\n" not in str(exc)
                continue
            _check_votes_table(result.votes)
            assert all("\n" not in w for w in result.warnings)
            try:
                aggregate_votes(result.votes)
            except VPBenchError as exc:
                assert "\n" not in str(exc)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=_file_bytes)
def test_fuzz_readers_raise_only_vpbench_errors(content):
    _assert_only_vpbench_errors(content, (read_labelstudio_export, read_vote_csv))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=_ls_export)
def test_fuzz_near_valid_labelstudio_exports(content):
    _assert_only_vpbench_errors(content, (read_labelstudio_export,))
