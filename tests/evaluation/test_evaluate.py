"""`vpbench evaluate` end to end on tiny VP-Synth with a tiny recognizer profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.helpers.results import read_result
from tests.helpers.tiny import evaluation_request
from vpbench.core.errors import VPBenchError
from vpbench.evaluation import evaluate


def _request(tiny_bench, tmp_path, **kw):
    return evaluation_request(tiny_bench, tmp_path / "results", **{"dataset": None, **kw})


def test_known_writes_a_result_with_the_contract_keys(tiny_bench, tmp_path):
    [path] = evaluate(_request(tiny_bench, tmp_path, dataset="synth-hmdb51"))
    assert path == tmp_path / "results" / "known" / "synth-hmdb51" / "raw" / "cpu-seed0.json"
    r = read_result(path)
    for key in ("action_top1", "privacy_f1", "privacy_cmap"):
        s = r["scores"][key]
        assert s["ci_low"] <= s["value"] <= s["ci_high"]
    assert 0 <= r["scores"]["action_top1"]["value"] <= 1 and 0 <= r["scores"]["privacy_cmap"]["value"] <= 100
    assert (r["method"]["name"], r["protocol"]["name"], r["protocol"]["version"], r["dataset"]["name"], r["seed"]) == (
        "raw",
        "known",
        1,
        "synth-hmdb51",
        0,
    )
    assert set(r["per_attribute"]) == {"face", "skin_color", "gender", "nudity", "relationship"}
    per_action = r["per_action"]  # keyed by class name; their video-weighted mean is the top-1
    assert sum(e["videos"] for e in per_action.values()) == r["counts"]["test_videos"]
    assert sum(e["top1"] * e["videos"] for e in per_action.values()) / r["counts"]["test_videos"] == pytest.approx(
        r["scores"]["action_top1"]["value"]
    )
    assert set(per_action) <= {"sit_down", "stand_up", "wave", "jump"}
    for phase in ("decode", "transform", "train_action", "train_privacy", "test", "total"):
        assert r["wall_time_s"][phase] >= 0
    assert r["config"]["profile"]["crop"] == 32 and "torch" in r["versions"]
    assert r["counts"]["test_videos"] == 8


def _cli_scores(tiny_bench, out, seed):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vpbench",
            "evaluate",
            "--method",
            "downsample-2x",
            "--protocol",
            "known",
            "--dataset",
            "synth-ucf101",
            "--data-root",
            str(tiny_bench["data"]),
            "--models-dir",
            str(tiny_bench["models"]),
            "--protocols-dir",
            str(tiny_bench["protocols"]),
            "--out",
            str(out),
            "--seed",
            str(seed),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads((out / "known" / "synth-ucf101" / "downsample-2x" / f"cpu-seed{seed}.json").read_text())
    return r["scores"], r["per_attribute"]


def test_same_seed_gives_the_same_scores_in_separate_processes(tiny_bench, tmp_path):
    # Separate processes: nothing (torch's global RNG, hash order) may carry over from an earlier run.
    first = _cli_scores(tiny_bench, tmp_path / "a", 0)
    assert first == _cli_scores(tiny_bench, tmp_path / "b", 0)
    assert first != _cli_scores(tiny_bench, tmp_path / "c", 1)


def test_cross_runs_both_directions(tiny_bench, tmp_path):
    paths = evaluate(_request(tiny_bench, tmp_path, protocol="cross"))
    got = {(read_result(p)["dataset"]["method_trained_on"], read_result(p)["dataset"]["name"]) for p in paths}
    assert got == {("synth-ucf101", "synth-hmdb51"), ("synth-hmdb51", "synth-ucf101")}


def test_frame_protocol_scores_frames(tiny_bench, tmp_path):
    [path] = evaluate(_request(tiny_bench, tmp_path, protocol="frame", method="blackening"))
    r = read_result(path)
    assert r["counts"]["test_frames"] > r["counts"]["test_videos"] > 0
    assert "frame" in r["bootstrap"]["unit"]


def test_box_method_uses_shipped_boxes_or_whole_frame_on_request(tiny_bench, tmp_path):
    [boxes] = evaluate(_request(tiny_bench, tmp_path, dataset="synth-hmdb51", method="blackening"))
    [whole] = evaluate(_request(tiny_bench, tmp_path, dataset="synth-hmdb51", method="blackening", whole_frame=True))
    assert boxes.name == "cpu-seed0.json" and whole.name == "cpu-seed0-wholeframe.json"


def test_resume_skips_finished_evaluations(tiny_bench, tmp_path):
    [path] = evaluate(_request(tiny_bench, tmp_path, dataset="synth-hmdb51"))
    before = path.stat().st_mtime_ns
    evaluate(_request(tiny_bench, tmp_path, dataset="synth-hmdb51", resume=True))
    assert path.stat().st_mtime_ns == before


def test_unknown_names_fail_before_any_work(tiny_bench, tmp_path):
    with pytest.raises(VPBenchError, match="did you mean 'synth-hmdb51'"):
        evaluate(_request(tiny_bench, tmp_path, dataset="synth-hmdb5"))
    with pytest.raises(VPBenchError, match="did you mean 'known'"):
        evaluate(_request(tiny_bench, tmp_path, protocol="knwn"))
    with pytest.raises(VPBenchError, match="did you mean 'synth'"):
        evaluate(_request(tiny_bench, tmp_path, suite="synt"))
    assert not (tmp_path / "results").exists()


def test_real_suite_without_built_data_says_how_to_build_it(tiny_bench, tmp_path):
    with pytest.raises(VPBenchError, match="vpbench build --dataset vp-hmdb51"):
        evaluate(_request(tiny_bench, tmp_path, suite="real", dataset="vp-hmdb51", data_root=tmp_path / "nothing"))


def test_third_party_method_from_an_entry_point_is_listed_and_evaluated(tiny_bench, tmp_path):
    site = tmp_path / "site"
    (site / "vpbench_invert-0.1.dist-info").mkdir(parents=True)
    (site / "vpbench_invert-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: vpbench-invert\nVersion: 0.1\n"
    )
    (site / "vpbench_invert-0.1.dist-info" / "entry_points.txt").write_text(
        "[vpbench.methods]\ninvert = vpbench_invert:Invert\n"
    )
    (site / "vpbench_invert.py").write_text(
        textwrap.dedent("""
        from vpbench.methods import PrivacyMethod

        class Invert(PrivacyMethod):
            name = "invert"
            version = "0.1"
            description = "photographic negative (test plugin)"

            def transform(self, videos, person_masks=None):
                return 255 - videos
    """)
    )
    envv = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    listed = subprocess.run(
        [sys.executable, "-m", "vpbench", "methods"], capture_output=True, text=True, env=envv, check=True
    )
    line = next(row for row in listed.stdout.splitlines() if row.startswith("invert"))
    assert "vpbench-invert" in line and "v0.1" in line
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vpbench",
            "evaluate",
            "--method",
            "invert",
            "--protocol",
            "known",
            "--dataset",
            "synth-hmdb51",
            "--data-root",
            str(tiny_bench["data"]),
            "--models-dir",
            str(tiny_bench["models"]),
            "--protocols-dir",
            str(tiny_bench["protocols"]),
            "--out",
            str(tmp_path / "results"),
        ],
        capture_output=True,
        text=True,
        env=envv,
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads((tmp_path / "results" / "known" / "synth-hmdb51" / "invert" / "cpu-seed0.json").read_text())
    assert r["method"]["origin"] == "vpbench-invert" and r["method"]["version"] == "0.1"
