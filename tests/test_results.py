"""The one result type, :class:`vpbench.results.EvaluationResult`: round trip, validation, no torch."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers.results import result_doc, write_result
from vpbench.core.errors import VPBenchError
from vpbench.results import (
    SCORES,
    EvaluationResult,
    Score,
    load_result_file,
    load_results,
    validate_result,
)


def _writer_like_doc() -> dict:
    """Every top-level key `vpbench evaluate` writes, with the nested blocks it writes (frame protocol counts)."""
    doc = result_doc(dataset="pa-hmdb51", protocol="frame", method="stprivacy", profile="paper")
    doc["method"].update(checkpoint="paper-seed0.pt", trained_on="vp-ucf101")
    doc["dataset"].update(action_trained_on="hmdb51")
    doc["counts"] = {"action_train_videos": 30, "frame_train_videos": 12, "test_videos": 8, "test_frames": 40}
    doc["config"] = {
        "protocol": {"name": "frame", "version": 1, "bootstrap": {"samples": 20}},
        "profile": {"clip_len": 8},
        "whole_frame": False,
        "job": {"evaluate": "pa-hmdb51"},
    }
    doc["git"] = "0123456789abcdef0123456789abcdef01234567"
    doc["wall_time_s"] = {"decode": 1.5, "fit_method": 20.25, "total": 30.0}
    return doc


def test_a_result_round_trips():
    doc = _writer_like_doc()
    result = EvaluationResult.from_dict(doc, "r.json")
    assert result.to_dict() == doc
    assert list(result.to_dict()) == list(EvaluationResult.__dataclass_fields__)[: len(doc)]  # the writer's key order
    assert result.extra == {}
    again = EvaluationResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result


def test_fields_and_properties_read_the_document():
    result = EvaluationResult.from_dict(_writer_like_doc(), "results/frame/pa-hmdb51/stprivacy/paper-seed0.json")
    assert (result.protocol_name, result.protocol_version, result.suite) == ("frame", 1, "real")
    assert (result.dataset_name, result.method_name, result.method_version, result.options) == (
        "pa-hmdb51",
        "stprivacy",
        "1",
        {},
    )
    assert (result.profile, result.seed, result.run) == ("paper", 0, "paper-seed0")
    assert result.action_top1 == Score(0.8, 0.75, 0.8500000000000001) == result.score("action_top1")
    assert result.privacy_cmap.value == 80.0 and result.bootstrap_level == 0.95 and result.whole_frame is False
    assert str(result.path) == "results/frame/pa-hmdb51/stprivacy/paper-seed0.json" and result.preview is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.seed = 1


def test_the_document_is_copied_in_and_out():
    doc = _writer_like_doc()
    result = EvaluationResult.from_dict(doc)
    doc["scores"]["action_top1"]["value"] = 0.0
    result.to_dict()["method"]["options"]["x"] = 1
    assert result.action_top1.value == 0.8 and result.options == {}


def test_unknown_top_level_keys_are_kept():
    doc = {**_writer_like_doc(), "future_key": {"a": 1}}
    result = EvaluationResult.from_dict(doc)
    assert result.extra == {"future_key": {"a": 1}} and result.to_dict() == doc
    with pytest.raises(ValueError, match="seed"):
        dataclasses.replace(result, extra={"seed": 3})


def test_an_old_file_without_the_optional_keys_loads_with_defaults():
    doc = _writer_like_doc()
    for key in (
        "randomness",
        "hardware",
        "per_action",
        "excluded_attributes",
        "counts",
        "versions",
        "git",
        "wall_time_s",
        "date",
    ):
        del doc[key]
    del doc["protocol"]["suite"]
    result = EvaluationResult.from_dict(doc, "old.json")
    assert result.randomness is result.hardware is result.per_action is result.counts is result.git is None
    assert result.excluded_attributes == [] and result.suite is None
    assert {k: v for k, v in result.to_dict().items() if k in doc} == doc


@pytest.mark.parametrize("key", ["scores.privacy_f1.ci_low", "method.options", "profile", "config", "seed"])
def test_a_missing_key_is_one_line_naming_the_file_and_the_key(key):
    doc = result_doc()
    *parents, last = key.split(".")
    node = doc
    for p in parents:
        node = node[p]
    del node[last]
    with pytest.raises(VPBenchError, match=rf"^dir/r\.json: missing key '{key}'$"):
        EvaluationResult.from_dict(doc, "dir/r.json")


@pytest.mark.parametrize(
    "key, value",
    [
        ("seed", True),
        ("seed", "0"),
        ("run", 3),
        ("method.options", []),
        ("profile", None),
        ("scores.action_top1.value", "0.8"),
        ("bootstrap.level", "95%"),
        ("hardware", "cuda"),
        ("git", 12),
        ("protocol.suite", 1),
        ("excluded_attributes", {}),
    ],
)
def test_a_wrong_type_is_one_line_naming_the_file_and_the_key(key, value):
    doc = result_doc()
    *parents, last = key.split(".")
    node = doc
    for p in parents:
        node = node[p]
    node[last] = value
    with pytest.raises(VPBenchError, match=rf"^r\.json: '{key}' has the wrong type \({type(value).__name__}\)$"):
        EvaluationResult.from_dict(doc, "r.json")


@pytest.mark.parametrize("name", SCORES)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_score_is_refused(name, bad):
    doc = result_doc()
    doc["scores"][name]["ci_high"] = bad
    with pytest.raises(VPBenchError, match=rf"^r\.json: 'scores\.{name}\.ci_high' is not a finite number \({bad}\)$"):
        EvaluationResult.from_dict(doc, "r.json")


def test_a_score_outside_its_interval_and_other_schemas_are_refused():
    doc = result_doc()
    doc["scores"]["privacy_f1"]["value"] = 0.99
    with pytest.raises(VPBenchError, match=r"^r\.json: 'scores\.privacy_f1' value 0\.99 lies outside its interval"):
        EvaluationResult.from_dict(doc, "r.json")
    with pytest.raises(VPBenchError, match="result schema version 2, this vpbench reads version 1"):
        EvaluationResult.from_dict({**result_doc(), "schema_version": 2}, "r.json")
    with pytest.raises(VPBenchError, match=r"^r\.json: not a result file"):
        EvaluationResult.from_dict([1, 2], "r.json")


def test_validate_result_is_the_same_check():
    doc = result_doc()
    assert validate_result(doc, "r.json") is doc
    del doc["scores"]["privacy_cmap"]
    with pytest.raises(VPBenchError, match=r"^r\.json: missing key 'scores\.privacy_cmap\.value'$"):
        validate_result(doc, "r.json")


def test_loading_gives_results_with_their_place(tmp_path):
    path = write_result(tmp_path, method="blackening")
    [result] = load_results(tmp_path)
    assert isinstance(result, EvaluationResult) and result.path == path
    assert result.relpath == "known/synth-hmdb51/blackening/cpu-seed0.json"
    assert result.to_dict() == json.loads(path.read_text()) and load_result_file(path) == result


def test_results_and_leaderboard_import_no_torch(tmp_path):
    path = write_result(tmp_path, method="raw")
    code = textwrap.dedent(f"""
        import sys
        import vpbench.results, vpbench.leaderboard
        r = vpbench.results.load_result_file({str(path)!r})
        assert r.to_dict()["run"] == "cpu-seed0"
        assert "torch" not in sys.modules, sorted(m for m in sys.modules if m.startswith("torch"))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


_REPO = Path(__file__).resolve().parent.parent
# Each folder of committed results: the reference runs, each archived set and each val-choice candidate.
_COMMITTED = [
    _REPO / "results" / "reference",
    *sorted((_REPO / "results" / "archive").glob("*/")),
    *sorted((_REPO / "results" / "val-choice").glob("*/*/")),
]


@pytest.mark.parametrize("root", _COMMITTED, ids=lambda p: p.relative_to(_REPO).as_posix())
def test_the_committed_results_load(root):
    """What results/ ships (the leaderboard's input, the notes' evidence) is valid and complete."""
    results = load_results(root)
    want = "val" if "val-choice" in root.parts else "test"  # val runs choose settings; test runs are reported
    assert results and {r.holdout for r in results} == {want}
