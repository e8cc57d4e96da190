"""The bad-input corpus: every bad input a user may hand vpbench, and the exact message it gets.

User errors go through ``vpbench.cli.main`` in a subprocess (one process runs
every case, to keep the suite fast): exit code 2 and exactly one line on
stderr, no traceback; ``--debug`` shows the traceback. Bad videos inside a
dataset are not errors: the build skips them and says why in
build_report.json (``--strict`` turns that into an error).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.helpers.output import without_progress
from tests.helpers.tiny import REPO, gradient_frames, write_tiny_models, write_tiny_protocols
from vpbench.core.attributes import ATTRIBUTES
from vpbench.data.builder import build_dataset, load_manifest
from vpbench.data.frames.store import load_store
from vpbench.data.video import probe_video, write_video
from vpbench.methods import METHODS

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
ATTRS = ", ".join(ATTRIBUTES)
METHOD_NAMES = ", ".join(sorted(METHODS.names()))
NOT_UTF8 = os.fsdecode(b"caf\xe9.avi")  # the name as Python sees it on Linux (PEP 383)

# Runs vpbench.cli.main once per argv, as the console script would; reports exit code and output.
HARNESS = r"""
import contextlib, io, json, sys, traceback
from vpbench.cli import main
results = []
for argv in json.loads(sys.stdin.read()):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code
        except BaseException:
            traceback.print_exc()
            code = "uncaught"
    results.append({"code": code, "stderr": err.getvalue(), "stdout": out.getvalue()})
print(json.dumps(results))
"""


class _Opens:
    """Unpickling this would create ``path``: what a malicious pickle does."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _ls_task(task_id: int, video: str, votes: dict[int, dict[str, str]], **data) -> dict:
    annotations = [
        {
            "id": task_id * 10 + user,
            "completed_by": user,
            "was_cancelled": False,
            "result": [
                {"from_name": a, "to_name": "video", "type": "choices", "value": {"choices": [v]}}
                for a, v in answer.items()
            ],
        }
        for user, answer in votes.items()
    ]
    return {"id": task_id, "data": {"video": video, **data}, "annotations": annotations}


YES, NO = {a: "yes" for a in ATTRIBUTES}, {a: "no" for a in ATTRIBUTES}


def _make_corpus(root: Path) -> None:
    """Every bad input, written under ``root`` (paths in the messages are relative to it)."""
    videos = root / "videos"
    for i in range(4):
        write_video(videos / f"good{i}.avi", gradient_frames(20, seed=i), fps=25)
    full = write_video(root / "full.avi", gradient_frames(40, seed=9), fps=25).read_bytes()
    (videos / "truncated.avi").write_bytes(full[: len(full) // 3])  # the AVI index and most data gone
    (videos / "cut.avi").write_bytes(full[: int(len(full) * 0.7)])  # the last frames gone
    (videos / "empty.avi").write_bytes(b"")
    (videos / "text.avi").write_text("hello, I am not a video\n")
    write_video(videos / "three.avi", gradient_frames(3), fps=25)
    write_video(videos / "odd.avi", gradient_frames(20, height=31, width=45), fps=25)
    os.rename(write_video(root / "tmp.avi", gradient_frames(20, seed=5), fps=25), os.fsencode(root) + b"/caf\xe9.avi")

    labels = dict(zip(ATTRIBUTES, [1, 0, 1, 0, 0]))
    names = ["good0", "good1", "good2", "good3", "truncated", "cut", "empty", "text", "three", "odd"]
    rows = [
        {
            "path": f"videos/{n}.avi",
            "action": "a" if i % 2 else "b",
            "split": "test" if i % 4 == 0 else "train",
            **labels,
        }
        for i, n in enumerate(names)
    ]
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    pd.DataFrame([*rows[:4], {**rows[0], "path": "../full.avi"}]).to_csv(root / "dotdot.csv", index=False)
    pd.DataFrame([*rows[:4], {**rows[0], "path": str(root / "full.avi")}]).to_csv(root / "absolute.csv", index=False)
    (videos / "link.avi").symlink_to(root / "full.avi")
    (root / "outside").mkdir()
    write_video(root / "outside" / "secret.avi", gradient_frames(20), fps=25)
    (root / "inside").mkdir()
    (root / "inside" / "link.avi").symlink_to(root / "outside" / "secret.avi")
    for n in range(4):
        # inside -> videos: also outside 'inside'
        (root / "inside" / f"good{n}.avi").symlink_to(videos / f"good{n}.avi")
    pd.DataFrame([{**rows[0], "path": "link.avi"}]).to_csv(root / "inside" / "symlink.csv", index=False)

    # HMDB51 layout: split files with an unknown video, a repeated line, a conflicting line.
    raw, splits = root / "hmdb" / "raw", root / "hmdb" / "splits"
    for i in range(4):
        write_video(raw / "brush" / f"b{i}.avi", gradient_frames(20, seed=i), fps=25)
    os.rename(
        write_video(raw / "brush" / "tmp.avi", gradient_frames(20), fps=25),
        os.fsencode(raw / "brush") + b"/caf\xe9.avi",
    )
    splits.mkdir(parents=True)
    (splits / "brush_test_split1.txt").write_text("b0.avi 1\nb1.avi 1\nb1.avi 1\nb2.avi 2\nb3.avi 1\nghost.avi 1\n")
    (root / "hmdb" / "conflict").mkdir()
    (root / "hmdb" / "conflict" / "brush_test_split1.txt").write_text("b0.avi 1\nb0.avi 2\n")
    tasks = [_ls_task(i + 1, f"/data/local-files/?d=raw/brush/b{i}.avi", {1: YES, 2: NO, 3: YES}) for i in range(4)]
    (root / "export.json").write_text(json.dumps(tasks))
    tie = [
        _ls_task(i + 1, f"/data/local-files/?d=raw/brush/b{i}.avi", {1: YES, 2: {**YES, "face": "no"}})
        for i in range(4)
    ]
    (root / "tie.json").write_text(json.dumps(tie))
    no_annotator = json.loads(json.dumps(tasks))
    del no_annotator[1]["annotations"][0]["completed_by"]
    (root / "no_annotator.json").write_text(json.dumps(no_annotator))
    unknown_attr = json.loads(json.dumps(tasks))
    unknown_attr[2]["annotations"][1]["result"][0]["from_name"] = "fcae"
    (root / "unknown_attribute.json").write_text(json.dumps(unknown_attr))
    (root / "malformed.json").write_text('[{"id": 1, "data": {"video": "b0.avi"} "annotations": []}]')
    escaping = [_ls_task(1, "/data/upload/b0.avi", {1: YES}, video_id="../../etc/passwd")]
    (root / "escaping.json").write_text(json.dumps(escaping))
    (root / "evil.pickle").write_bytes(pickle.dumps({"brush/b0.mp4": _Opens(str(root / "pwned-by-pickle"))}))
    torch.save({"method": "stprivacy", "state": _Opens(str(root / "pwned-by-pt"))}, root / "evil.pt")


# name -> argv, run from the corpus root.
CASES = {
    "manifest_build": [
        "build",
        "--dataset",
        "manifest",
        "--manifest",
        "manifest.csv",
        "--out",
        "built",
        "--workers",
        "1",
    ],
    "manifest_strict": [
        "build",
        "--dataset",
        "manifest",
        "--manifest",
        "manifest.csv",
        "--out",
        "strict",
        "--strict",
        "--workers",
        "1",
    ],
    "anonymize_empty": ["anonymize", "--method", "raw", "videos/empty.avi", "o.mp4"],
    "anonymize_text": ["anonymize", "--method", "raw", "videos/text.avi", "o.mp4"],
    "anonymize_truncated": ["anonymize", "--method", "raw", "videos/truncated.avi", "o.mp4"],
    "anonymize_cut": ["anonymize", "--method", "raw", "videos/cut.avi", "cut.mp4"],
    "anonymize_three": ["anonymize", "--method", "raw", "videos/three.avi", "three.mp4"],
    "anonymize_odd": ["anonymize", "--method", "weakblur", "--whole-frame", "videos/odd.avi", "odd.mp4"],
    "anonymize_not_utf8": ["anonymize", "--method", "raw", NOT_UTF8, "not_utf8.mp4"],
    "anonymize_missing": ["anonymize", "--method", "raw", "videos/missing.avi", "o.mp4"],
    "anonymize_evil_pt": ["anonymize", "--method", "stprivacy", "--checkpoint", "evil.pt", "videos/good0.avi", "o.mp4"],
    "dotdot": ["build", "--dataset", "manifest", "--manifest", "dotdot.csv", "--out", "o1"],
    "absolute": ["build", "--dataset", "manifest", "--manifest", "absolute.csv", "--out", "o2"],
    "symlink_out": ["build", "--dataset", "manifest", "--manifest", "inside/symlink.csv", "--out", "o3"],
    "hmdb_build": [
        "build",
        "--dataset",
        "vp-hmdb51",
        "--raw",
        "hmdb/raw",
        "--splits",
        "hmdb/splits",
        "--labels",
        "export.json",
        "--out",
        "hmdb_built",
        "--min-frames",
        "16",
        "--workers",
        "1",
    ],
    "hmdb_strict": [
        "build",
        "--dataset",
        "vp-hmdb51",
        "--raw",
        "hmdb/raw",
        "--splits",
        "hmdb/splits",
        "--labels",
        "export.json",
        "--out",
        "hmdb_strict",
        "--strict",
        "--workers",
        "1",
    ],
    "split_conflict": [
        "build",
        "--dataset",
        "vp-hmdb51",
        "--raw",
        "hmdb/raw",
        "--splits",
        "hmdb/conflict",
        "--labels",
        "export.json",
        "--out",
        "o4",
    ],
    "tie": [
        "build",
        "--dataset",
        "vp-hmdb51",
        "--raw",
        "hmdb/raw",
        "--splits",
        "hmdb/splits",
        "--labels",
        "tie.json",
        "--out",
        "tie",
        "--workers",
        "1",
    ],
    "tie_negative": [
        "build",
        "--dataset",
        "vp-hmdb51",
        "--raw",
        "hmdb/raw",
        "--splits",
        "hmdb/splits",
        "--labels",
        "tie.json",
        "--out",
        "tie_negative",
        "--tie-policy",
        "negative",
        "--workers",
        "1",
    ],
    "no_annotator": [
        "build",
        "--dataset",
        "vp-hmdb51",
        "--raw",
        "hmdb/raw",
        "--splits",
        "hmdb/splits",
        "--labels",
        "no_annotator.json",
        "--out",
        "o5",
    ],
    "unknown_attribute": [
        "build",
        "--dataset",
        "vp-hmdb51",
        "--raw",
        "hmdb/raw",
        "--splits",
        "hmdb/splits",
        "--labels",
        "unknown_attribute.json",
        "--out",
        "o6",
    ],
    "malformed_json": [
        "build",
        "--dataset",
        "vp-hmdb51",
        "--raw",
        "hmdb/raw",
        "--splits",
        "hmdb/splits",
        "--labels",
        "malformed.json",
        "--out",
        "o7",
    ],
    "escaping_video_id": [
        "build",
        "--dataset",
        "vp-hmdb51",
        "--raw",
        "hmdb/raw",
        "--splits",
        "hmdb/splits",
        "--labels",
        "escaping.json",
        "--out",
        "o8",
    ],
    "evil_pickle": [
        "build",
        "--dataset",
        "vp-hmdb51",
        "--raw",
        "hmdb/raw",
        "--splits",
        "hmdb/splits",
        "--labels",
        "evil.pickle",
        "--out",
        "o9",
    ],
    "unknown_tie_policy": [
        "build",
        "--dataset",
        "vp-hmdb51",
        "--raw",
        "hmdb/raw",
        "--splits",
        "hmdb/splits",
        "--labels",
        "export.json",
        "--out",
        "o10",
        "--tie-policy",
        "postive",
    ],
    "unknown_dataset": ["build", "--dataset", "vp-hmdb5", "--out", "o11"],
    "unknown_method": ["evaluate", "--method", "stprivcy", "--protocol", "known"],
    "unknown_protocol": ["evaluate", "--method", "raw", "--protocol", "knwn"],
    "unknown_eval_dataset": ["evaluate", "--method", "raw", "--protocol", "known", "--dataset", "synth-hmdb5"],
    "unknown_suite": ["evaluate", "--method", "raw", "--protocol", "known", "--suite", "synt"],
    "unknown_profile": ["evaluate", "--method", "raw", "--protocol", "known", "--profile", "cpuu"],
    "bad_option": ["evaluate", "--method", "raw", "--protocol", "known", "--option", "alpha"],
    "unknown_option": ["evaluate", "--method", "raw", "--protocol", "known", "--option", "alpha=1"],
    "evaluate_evil_pt": [
        "evaluate",
        "--method",
        "stprivacy",
        "--protocol",
        "known",
        "--dataset",
        "synth-hmdb51",
        "--data-root",
        "data",
        "--checkpoint",
        "evil.pt",
        "--out",
        "res",
        "--models-dir",
        "models",
        "--protocols-dir",
        "protocols",
    ],
    "debug_shows_traceback": ["--debug", "build", "--dataset", "vp-hmdb5", "--out", "o12"],
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    _make_corpus(root)
    build_dataset("synth-hmdb51", root / "data" / "synth-hmdb51", size="tiny", seed=0, progress=False)
    write_tiny_models(root / "models")
    write_tiny_protocols(root / "protocols")
    proc = subprocess.run(
        [sys.executable, "-c", HARNESS],
        input=json.dumps(list(CASES.values())),
        capture_output=True,
        text=True,
        env=ENV,
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"root": root, **dict(zip(CASES, json.loads(proc.stdout.splitlines()[-1])))}


def _error(result: dict) -> str:
    """The one stderr line of a user error (exit 2, no traceback)."""
    assert result["code"] == 2, result
    assert "Traceback" not in result["stderr"]
    [line] = without_progress(result["stderr"])  # work done before the mistake was found reports its progress
    assert line.startswith("error: ")
    return line[len("error: ") :]


# --------------------------------------------------------------------------- videos

SKIP_REASONS = {
    "videos/empty.avi": "empty file (0 bytes)",
    "videos/text.avi": "not a readable video (Invalid data found when processing input)",
    "videos/truncated.avi": "not a readable video (Invalid data found when processing input)",
    "videos/three.avi": "too short: 3 frames, one clip needs 16",
}


def test_bad_videos_are_skipped_with_their_reason_and_the_rest_is_built(corpus):
    assert corpus["manifest_build"]["code"] == 0, corpus["manifest_build"]
    assert "4 input(s) skipped: see built/build_report.json" in corpus["manifest_build"]["stdout"]
    report = json.loads((corpus["root"] / "built" / "build_report.json").read_text())
    assert {r["path"]: r["reason"] for r in report["skipped"]} == SKIP_REASONS
    manifest = load_manifest(corpus["root"] / "built").set_index("video_id")
    # A truncated AVI that still decodes keeps only its decodable frames; odd sizes are fine.
    assert 16 <= manifest.loc["videos/cut", "num_frames"] < 40
    assert (manifest.loc["videos/odd", "width"], manifest.loc["videos/odd", "height"]) == (45, 31)
    store = load_store(
        corpus["root"] / "built",
        manifest.reset_index().loc[lambda m: m.video_id.isin(["videos/cut", "videos/odd"])],
        (32, 40),
        progress=False,
    )
    assert store.frames.shape[1:] == (32, 40, 3)
    assert store.num_frames(0) == manifest.loc["videos/cut", "num_frames"]


def test_strict_build_turns_the_first_skip_into_one_error_line(corpus):
    assert _error(corpus["manifest_strict"]) == (
        "--strict: 4 input(s) skipped, first: videos/empty.avi: empty file (0 bytes) "
        "(all in strict.build_report.json); nothing else was written"
    )
    assert not (corpus["root"] / "strict" / "manifest.parquet").exists()


@pytest.mark.parametrize(
    "case, message",
    [
        ("anonymize_empty", "videos/empty.avi: empty file (0 bytes)"),
        ("anonymize_text", "videos/text.avi: not a readable video (Invalid data found when processing input)"),
        (
            "anonymize_truncated",
            "videos/truncated.avi: not a readable video (Invalid data found when processing input)",
        ),
        ("anonymize_missing", "videos/missing.avi: no such file"),
    ],
)
def test_unreadable_videos_are_one_line_errors(corpus, case, message):
    assert _error(corpus[case]) == message


@pytest.mark.parametrize(
    "case, output, source",
    [
        ("anonymize_cut", "cut.mp4", "videos/cut.avi"),
        ("anonymize_three", "three.mp4", "videos/three.avi"),
        ("anonymize_odd", "odd.mp4", "videos/odd.avi"),
        ("anonymize_not_utf8", "not_utf8.mp4", NOT_UTF8),
    ],
)
def test_short_odd_sized_truncated_and_non_utf8_named_videos_work(corpus, case, output, source):
    assert corpus[case]["code"] == 0, corpus[case]
    src, out = probe_video(corpus["root"] / source), probe_video(corpus["root"] / output)
    assert (out.num_frames, out.width, out.height) == (src.num_frames, src.width, src.height)


def test_a_raw_file_name_that_is_not_utf8_is_skipped_and_named(corpus):
    report = json.loads((corpus["root"] / "hmdb_built" / "build_report.json").read_text())
    assert {"path": "brush/caf\\xe9.avi", "reason": "file name is not valid UTF-8; rename the file"} in report[
        "skipped"
    ]


# --------------------------------------------------------------------------- split files


def test_split_file_with_an_unknown_video_and_a_repeated_line(corpus):
    assert corpus["hmdb_build"]["code"] == 0, corpus["hmdb_build"]
    report = json.loads((corpus["root"] / "hmdb_built" / "build_report.json").read_text())
    assert {
        "path": "brush/ghost.avi",
        "reason": "listed in the split files but not found under the raw folder",
    } in report["skipped"]
    assert "brush_test_split1.txt:3: duplicate line for 'b1.avi' ignored" in report["warnings"]
    assert report["videos"] == 4
    assert _error(corpus["hmdb_strict"]) == (
        "--strict: 2 input(s) skipped, first: brush/caf\\xe9.avi: file name is not valid UTF-8; rename the file "
        "(all in hmdb_strict.build_report.json); nothing else was written"
    )


def test_split_file_listing_a_video_twice_with_different_splits(corpus):
    assert (
        _error(corpus["split_conflict"])
        == "hmdb/conflict/brush_test_split1.txt:2: 'b0.avi' is listed twice with different splits"
    )


# --------------------------------------------------------------------------- annotation exports


def test_annotation_without_an_annotator(corpus):
    assert (
        _error(corpus["no_annotator"])
        == "no_annotator.json: task 2 annotation 21: 'completed_by' does not name an annotator (got None)"
    )


def test_annotation_with_an_unknown_attribute(corpus):
    assert _error(corpus["unknown_attribute"]) == (
        f"unknown_attribute.json: task 3 annotation 32: unknown attribute 'fcae' (did you mean 'face'?); attributes "
        f"are {ATTRS}"
    )


def test_a_tie_is_resolved_by_the_policy_and_reported(corpus):
    for case, label in (("tie", 1), ("tie_negative", 0)):
        assert corpus[case]["code"] == 0, corpus[case]
        report = json.loads((corpus["root"] / case / "build_report.json").read_text())
        policy = "negative" if label == 0 else "positive"
        assert f"4 tie(s) resolved as {policy} (face 4)" in report["warnings"]
        manifest = load_manifest(corpus["root"] / case)
        assert set(manifest["face"]) == {label} and manifest["face_tie"].all()


def test_malformed_annotation_json(corpus):
    assert _error(corpus["malformed_json"]) == (
        "malformed.json: not a Label Studio JSON export (invalid JSON: Expecting ',' delimiter, line 1 column 40)"
    )


def test_unknown_tie_policy(corpus):
    assert (
        _error(corpus["unknown_tie_policy"])
        == "unknown tie policy 'postive' (did you mean 'positive'?); choose from: negative, positive"
    )


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "case, message",
    [
        (
            "unknown_dataset",
            "unknown dataset 'vp-hmdb5' (did you mean 'vp-hmdb51'?); choose from: manifest, pa-hmdb51, "
            "synth-hmdb51, synth-ucf101, vp-hmdb51, vp-ucf101",
        ),
        ("unknown_method", f"unknown method 'stprivcy' (did you mean 'stprivacy'?); choose from: {METHOD_NAMES}"),
        ("unknown_protocol", "unknown protocol 'knwn' (did you mean 'known'?); choose from: cross, frame, known"),
        (
            "unknown_eval_dataset",
            "protocol 'known' (synth suite) does not evaluate on 'synth-hmdb5' (did you mean "
            "'synth-hmdb51'?); it evaluates on: synth-hmdb51, synth-ucf101, and on any dataset built under "
            "--data-root",
        ),
        ("unknown_suite", "protocol 'known' has no suite 'synt' (did you mean 'synth'?); choose from: synth, real"),
        ("unknown_profile", "unknown profile 'cpuu' (did you mean 'cpu'?); choose from: cpu, paper, spact"),
        ("bad_option", "--option takes key=value, got 'alpha'"),
        ("unknown_option", "method 'raw' takes no options, got alpha"),
    ],
)
def test_unknown_names_and_options_say_what_was_meant(corpus, case, message):
    assert _error(corpus[case]) == message


# --------------------------------------------------------------------------- untrusted files


def test_paths_in_a_manifest_cannot_leave_the_dataset_root(corpus):
    root = corpus["root"]
    assert _error(corpus["dotdot"]) == (
        "dotdot.csv: row 5: path '../full.avi' leaves the dataset root ('..' or an absolute path); paths must be "
        "relative to it"
    )
    assert _error(corpus["absolute"]) == (
        f"absolute.csv: row 5: path '{root / 'full.avi'}' leaves the dataset root ('..' or an absolute path); paths "
        f"must be relative to it"
    )
    assert _error(corpus["symlink_out"]) == (
        f"inside/symlink.csv: 'link.avi' resolves to {root / 'outside' / 'secret.avi'}, outside the dataset root "
        f"inside "
        "(a symlink out); copy the video in or pass --raw"
    )
    assert not any((root / o).exists() for o in ("o1", "o2", "o3"))


def test_a_video_id_in_an_annotation_export_cannot_leave_the_dataset_root(corpus):
    assert _error(corpus["escaping_video_id"]) == (
        "escaping.json: task 1: data.video_id: '../../etc/passwd' leaves the dataset root ('..' or an absolute path); "
        "name videos relative to it"
    )


def test_video_names_in_every_label_format_cannot_leave_the_dataset_root(tmp_path):
    from vpbench.core.errors import VPBenchError
    from vpbench.data.labels import (
        read_labelstudio_export,
        read_pa_hmdb51,
        read_vote_csv,
    )

    # data.video is a URL or a path on the annotation server: only its file name is the key.
    export = tmp_path / "export.json"
    export.write_text(json.dumps([_ls_task(1, "/data/local-files/?d=../../secret/x.avi", {1: YES})]))
    assert set(read_labelstudio_export(export).votes["key"]) == {"x"}
    votes = tmp_path / "votes.csv"
    votes.write_text("video,annotator," + ",".join(ATTRIBUTES) + "\n/etc/x.avi,u1,1,1,1,1,1\n")
    with pytest.raises(VPBenchError) as err:
        read_vote_csv(votes)
    assert (
        str(err.value)
        == f"{votes}: line 2: 'video': '/etc/x.avi' leaves the dataset root ('..' or an absolute path); name videos "
        f"relative to it"
    )
    (tmp_path / "pa").mkdir()
    (tmp_path / "pa" / "brush.json").write_text(json.dumps({"../../x.avi": {a: [[0, 3, 1]] for a in ATTRIBUTES}}))
    with pytest.raises(VPBenchError) as err:
        read_pa_hmdb51(tmp_path / "pa")
    assert str(err.value) == (
        f"{tmp_path / 'pa' / 'brush.json'}: video name: '../../x.avi' leaves the dataset root "
        "('..' or an absolute path); name videos relative to it"
    )


def test_a_label_pickle_that_would_run_code_is_refused_and_nothing_runs(corpus):
    assert _error(corpus["evil_pickle"]) == (
        "evil.pickle: refused to load pickle: it references io.open, which a label file never needs "
        "(only dicts, strings and numpy arrays are allowed)"
    )
    assert not (corpus["root"] / "pwned-by-pickle").exists()


@pytest.mark.parametrize("case", ["evaluate_evil_pt", "anonymize_evil_pt"])
def test_a_checkpoint_that_would_run_code_is_refused_and_nothing_runs(corpus, case):
    assert _error(corpus[case]) == (
        "evil.pt: not a vpbench checkpoint or refused as unsafe "
        "(weights-only load refused it: Unsupported global: GLOBAL io.open was not an allowed global by default)"
    )
    assert not (corpus["root"] / "pwned-by-pt").exists()


def test_a_tampered_built_manifest_cannot_point_outside_the_dataset(corpus, tmp_path):
    import shutil

    from vpbench.core.errors import VPBenchError

    built = tmp_path / "built"
    shutil.copytree(corpus["root"] / "built", built, symlinks=True)
    table = pd.read_parquet(built / "manifest.parquet")
    table.loc[0, "path"] = "raw/../../../etc/passwd"
    table.to_parquet(built / "manifest.parquet")
    with pytest.raises(VPBenchError) as err:
        load_manifest(built)
    assert (
        str(err.value)
        == f"{built / 'manifest.parquet'}: path 'raw/../../../etc/passwd' is not inside the dataset's raw/ folder; "
        f"rebuild the dataset"
    )


# --------------------------------------------------------------------------- --debug


def test_debug_shows_the_traceback(corpus):
    result = corpus["debug_shows_traceback"]
    assert result["code"] == "uncaught" and "Traceback (most recent call last)" in result["stderr"]
    assert (
        result["stderr"]
        .rstrip()
        .endswith(
            "VPBenchError: unknown dataset 'vp-hmdb5' (did you mean 'vp-hmdb51'?); "
            "choose from: "
            "manifest, pa-hmdb51, synth-hmdb51, synth-ucf101, vp-hmdb51, vp-ucf101"
        )
    )


def test_the_console_entry_point_prints_one_line_or_with_debug_the_traceback(tmp_path):
    args = [sys.executable, "-m", "vpbench", "evaluate", "--method", "rwa", "--protocol", "known"]
    plain = subprocess.run(args, capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert plain.returncode == 2
    assert plain.stderr.splitlines() == [
        f"error: unknown method 'rwa' (did you mean 'raw'?); choose from: {METHOD_NAMES}"
    ]
    debug = subprocess.run([*args[:3], "--debug", *args[3:]], capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


def test_a_mistyped_option_is_a_usage_error_without_a_traceback(tmp_path):
    # Click's usage errors come from Typer's vendored Click (typer._click) or the click package.
    proc = subprocess.run(
        [sys.executable, "-m", "vpbench", "evaluate", "--methd", "raw"],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("Error: No such option: --methd")
