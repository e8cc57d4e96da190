"""Fuzzing the readers of untrusted text: no input may crash them with anything but a VPBenchError.

Split files (HMDB51, UCF101 and its class index), generic manifests, PA-HMDB51
frame ranges, STPrivacy label pickles and vote aggregation. (Label Studio
exports and vote CSVs are fuzzed in test_annotation_importers.py.) Inputs are
near-valid on purpose: random bytes stop at the first check, while a file
that is almost right reaches the checks deep inside.
"""

from __future__ import annotations

import json
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vpbench.core.attributes import ATTRIBUTES
from vpbench.core.errors import VPBenchError
from vpbench.data.labels import (
    aggregate_votes,
    parse_frame_ranges,
    read_pa_hmdb51,
    read_stprivacy_pickle,
)
from vpbench.data.layouts import (
    read_hmdb51_splits,
    read_manifest_table,
    read_ucf101_class_index,
    read_ucf101_splits,
)

FUZZ = settings(
    max_examples=int(__import__("os").environ.get("VPBENCH_FUZZ_EXAMPLES", 200)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Tokens that real files use, and the ones that break naive parsers (unicode digits,
# huge numbers, path tricks, separators, control characters).
_TOKENS = [
    "a.avi",
    "b.avi",
    "A/v_A_g01_c01.avi",
    "B/v_B_g02_c01.avi",
    "A",
    "B",
    "0",
    "1",
    "2",
    "3",
    "01",
    "-1",
    "²",
    "١",
    "9" * 5000,
    "../x.avi",
    "/etc/passwd",
    "a b",
    "\t",
    "\x00",
    "é",
    "\ufeff",
    "\x1b[31m",
    "#",
    "nan",
]
_line = st.lists(st.one_of(st.sampled_from(_TOKENS), st.text(max_size=6)), max_size=4).map(" ".join)
_lines = st.lists(_line, max_size=6).map("\n".join)
_encoded = st.one_of(
    _lines.map(lambda t: t.encode("utf-8", "surrogatepass")),
    _lines.map(lambda t: t.encode("utf-16")),
    st.binary(max_size=80),
)


def _expect_only_vpbench_errors(call):
    """Run ``call``; a VPBenchError must be one line. Returns the result or None."""
    try:
        return call()
    except VPBenchError as exc:
        assert "\n" not in str(exc) and str(exc)
        return None


@FUZZ
@given(
    files=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "brush_hair_test_split1.txt",
                    "brush_hair_test_split2.txt",
                    "ride_test_split1.txt",
                    "x_test_split١.txt",
                    "_test_split1.txt",
                    "notes.txt",
                ]
            ),
            _encoded,
        ),
        max_size=3,
    )
)
def test_fuzz_hmdb51_split_files(files):
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files:
            (Path(tmp) / name).write_bytes(data)
        out = _expect_only_vpbench_errors(lambda: read_hmdb51_splits(tmp))
    if out is not None:
        table, warnings = out
        assert {"action", "file"} <= set(table.columns) and all("\n" not in w for w in warnings)
        for column in (c for c in table.columns if c.startswith("split_")):
            assert set(table[column]) <= {"train", "test", "unused"}


@FUZZ
@given(class_ind=_encoded, train=_encoded, test=_encoded, with_test=st.booleans())
def test_fuzz_ucf101_lists_and_class_index(class_ind, train, test, with_test):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "classInd.txt").write_bytes(class_ind)
        (root / "trainlist01.txt").write_bytes(train)
        if with_test:
            (root / "testlist01.txt").write_bytes(test)
        classes = _expect_only_vpbench_errors(lambda: read_ucf101_class_index(root))
        out = _expect_only_vpbench_errors(lambda: read_ucf101_splits(root))
    if classes is not None:
        assert all(i >= 0 for i in classes.values()) and len(set(classes.values())) == len(classes)
    if out is not None:
        table, _ = out
        assert set(table["action"]) <= set(classes or {})


@FUZZ
@given(
    rows=st.lists(
        st.lists(
            st.sampled_from(
                [
                    "path",
                    "action",
                    "split",
                    "split_1",
                    "face",
                    "train",
                    "test",
                    "unused",
                    "x.avi",
                    "../x.avi",
                    "/abs.avi",
                    "C:\\x.avi",
                    "1",
                    "",
                    '"',
                    "é",
                    '"split_\n2"',
                    '"a\nb.avi"',
                ]
            ),
            max_size=5,
        ),
        max_size=5,
    ),
    suffix=st.sampled_from([".csv", ".parquet", ".txt"]),
)
def test_fuzz_manifest_table(rows, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"m{suffix}"
        path.write_text("\n".join(",".join(r) for r in rows))
        table = _expect_only_vpbench_errors(lambda: read_manifest_table(path))
    if table is not None:
        assert not any(f.startswith(("/", "..")) or "/../" in f for f in table["file"])


# PA-HMDB51: near-valid per-action files of per-video frame ranges.
_bound = st.one_of(st.integers(-3, 40), st.sampled_from([True, 1.5, "3", None, 10**30]))
_value = st.one_of(
    st.integers(-2, 3), st.lists(st.integers(0, 3), max_size=3), st.sampled_from([None, "1", 0.5, [1, "a"]])
)
_range = st.one_of(
    st.tuples(_bound, _bound, _value).map(list), st.lists(st.integers(0, 5), max_size=4), st.none(), st.text(max_size=3)
)
_attr_ranges = st.one_of(st.lists(_range, max_size=4), st.sampled_from([None, {}, "x", 3]))
_entry = st.one_of(
    st.fixed_dictionaries({a: _attr_ranges for a in ATTRIBUTES}),
    st.dictionaries(st.sampled_from([*ATTRIBUTES, "fcae", "other"]), _attr_ranges, max_size=6),
    st.sampled_from([None, [], "x"]),
)
_pa_file = st.dictionaries(
    st.sampled_from(["a.avi", "b.mp4", "c", "../up.avi", "/abs.avi", "", "\x07bell.avi", "é.avi"]), _entry, max_size=3
)


@FUZZ
@given(
    files=st.lists(
        st.tuples(
            st.sampled_from(["brush_hair.json", "ride.json", "x.JSON"]),
            st.one_of(_pa_file.map(json.dumps), st.text(max_size=20), st.just("[1, 2]")),
        ),
        min_size=1,
        max_size=2,
    )
)
def test_fuzz_pa_hmdb51_labels(files):
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files:
            (Path(tmp) / name).write_text(text, encoding="utf-8", errors="surrogateescape")
        out = _expect_only_vpbench_errors(lambda: read_pa_hmdb51(tmp))
    if out is not None:
        assert set(out.frame_labels.columns) == {"key", "frame", *ATTRIBUTES}
        assert len(out.frame_labels) == sum(out.num_frames.values())
        assert not any(k.startswith("/") or ".." in k.split("/") for k in out.num_frames)


@FUZZ
@given(
    ranges=st.one_of(st.lists(_range, max_size=5), _range, st.dictionaries(st.text(max_size=2), st.integers())),
    num_frames=st.integers(0, 30),
)
def test_fuzz_parse_frame_ranges(ranges, num_frames):
    frames = _expect_only_vpbench_errors(lambda: parse_frame_ranges(ranges, num_frames, source="f.json: v.avi face"))
    if frames is not None:
        assert frames.shape == (num_frames,) and set(np.unique(frames)) <= {0, 1}


_votes = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c/d", ""]),
        st.sampled_from(["u1", "u2", "u3"]),
        st.sampled_from([*ATTRIBUTES, *ATTRIBUTES, "fcae"]),
        st.sampled_from([0, 1, 1, 0, 2, -1, "1", None, 0.5, True]),
    ),
    max_size=30,
)


@FUZZ
@given(rows=_votes, tie_policy=st.sampled_from(["positive", "negative", "postive", ""]))
def test_fuzz_vote_aggregation(rows, tie_policy):
    votes = pd.DataFrame(rows, columns=["key", "annotator", "attribute", "vote"])
    agg = _expect_only_vpbench_errors(lambda: aggregate_votes(votes, tie_policy=tie_policy))
    if agg is not None:
        assert set(agg.labels.index) == set(votes["key"])
        for a in ATTRIBUTES:
            assert set(agg.labels[a]) <= {0, 1}
            assert (agg.labels[f"{a}_yes"] <= agg.labels[f"{a}_votes"]).all()


_VALID_PICKLES = [
    pickle.dumps(
        {"brush_hair/a.mp4": np.array([[1, 0, 1, 0, 0]]), "ride/b.mp4": np.array([[0, 1, 1, 1, 0]])}, protocol=p
    )
    for p in (2, 4, 5)
]


@FUZZ
@given(
    which=st.integers(0, len(_VALID_PICKLES) - 1),
    cut=st.integers(0, 400),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=3),
)
def test_fuzz_stprivacy_label_pickle(which, cut, flips):
    data = bytearray(_VALID_PICKLES[which])
    for pos, byte in flips:
        data[pos % len(data)] = byte
    if cut < len(data) and cut % 3 == 0:  # a third of the examples are truncated
        data = data[:cut]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labels.pickle"
        path.write_bytes(bytes(data))
        out = _expect_only_vpbench_errors(lambda: read_stprivacy_pickle(path))
    if out is not None:
        assert set(out.votes["vote"]) <= {0, 1}
