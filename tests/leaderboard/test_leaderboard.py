"""`vpbench leaderboard` on hand-written result JSONs: validation, ranking, files, determinism, CLI errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.helpers.results import result_doc, write_result, write_standard_results
from tests.helpers.tiny import REPO
from vpbench.core.errors import VPBenchError
from vpbench.leaderboard import build_tables, pareto_fronts, write_leaderboard
from vpbench.results import load_results, preview_path, validate_result


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "vpbench", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def _tables(root):
    return {(t.protocol, t.dataset): t for t in build_tables(load_results(root))}


# ---- validation -------------------------------------------------------------------------------


def test_a_complete_result_validates():
    doc = result_doc()
    assert validate_result(doc, "r.json") is doc


@pytest.mark.parametrize(
    "key", ["scores.privacy_cmap.value", "scores.action_top1.ci_high", "protocol.version", "method.name", "run"]
)
def test_validation_names_the_file_and_the_missing_key(key):
    doc = result_doc()
    *parents, last = key.split(".")
    node = doc
    for p in parents:
        node = node[p]
    del node[last]
    with pytest.raises(VPBenchError, match=rf"^some/file\.json: missing key '{key}'$"):
        validate_result(doc, "some/file.json")


def test_validation_refuses_non_numbers_nan_and_other_schema_versions():
    doc = result_doc()
    doc["scores"]["privacy_f1"]["value"] = "0.5"
    with pytest.raises(VPBenchError, match="'scores.privacy_f1.value' has the wrong type"):
        validate_result(doc, "x.json")
    doc = result_doc()
    doc["scores"]["privacy_cmap"].update(value=float("nan"))
    with pytest.raises(VPBenchError, match="not a finite number"):
        validate_result(doc, "x.json")
    with pytest.raises(VPBenchError, match="schema version 2"):
        validate_result({**result_doc(), "schema_version": 2}, "x.json")


def test_evaluate_writes_the_schema_version_the_validator_reads():
    from vpbench import results
    from vpbench.evaluation import runner as evaluate

    assert evaluate.RESULT_SCHEMA_VERSION == results.RESULT_SCHEMA_VERSION


def test_mixed_protocol_versions_are_refused(tmp_path):
    write_result(tmp_path, method="raw")
    bad = write_result(tmp_path, method="blackening", protocol_version=2)
    with pytest.raises(VPBenchError, match="version") as err:
        load_results(tmp_path)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "part, move, detail",
    [
        (
            "protocol",
            lambda path: path.parents[3] / "cross" / path.parent.parent.name / path.parent.name / path.name,
            "protocol.name is 'known' but its protocol folder is 'cross'",
        ),
        (
            "dataset",
            lambda path: path.parents[2] / "vp-hmdb51" / path.parent.name / path.name,
            "dataset.name is 'synth-hmdb51' but its dataset folder is 'vp-hmdb51'",
        ),
        (
            "method",
            lambda path: path.parents[1] / "raw" / "cpu-seed1.json",
            "method.name is 'blackening' but its method folder is 'raw'; run is 'cpu-seed0' but its run file name is "
            "'cpu-seed1'",
        ),
        (
            "run",
            lambda path: path.with_name("cpu-seed7.json"),
            "run is 'cpu-seed0' but its run file name is 'cpu-seed7'",
        ),
    ],
)
def test_a_result_that_disagrees_with_its_path_is_refused(tmp_path, part, move, detail):
    """A result copied into another method's folder would make a second row of that method (and overwrite its
    preview)."""
    write_result(tmp_path, method="raw")
    moved = move(write_result(tmp_path / "elsewhere", method="blackening").relative_to(tmp_path / "elsewhere"))
    (tmp_path / moved).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "elsewhere" / "known" / "synth-hmdb51" / "blackening" / "cpu-seed0.json").rename(tmp_path / moved)
    with pytest.raises(VPBenchError) as err:
        load_results(tmp_path)
    assert str(err.value) == (
        f"{tmp_path / moved}: {detail}; a result lives at "
        f"<protocol>/<dataset>/<method>/<run>.json, "
        "here known/synth-hmdb51/blackening/cpu-seed0.json"
    )


def test_cli_refuses_a_result_under_another_methods_folder(tmp_path):
    write_result(tmp_path, method="raw")
    bad = write_result(tmp_path, method="blackening")
    copy = bad.parents[1] / "raw" / "cpu-seed1.json"
    copy.write_text(bad.read_text().replace('"run": "cpu-seed0"', '"run": "cpu-seed1"'))
    _assert_one_line_error(
        _cli("leaderboard", "--results", tmp_path, "--out", tmp_path / "lb"),
        str(copy),
        "method.name is 'blackening' but its method folder is 'raw'",
    )
    assert not (tmp_path / "lb").exists()


def test_an_empty_results_folder_is_an_error(tmp_path):
    with pytest.raises(VPBenchError, match="no result files"):
        load_results(tmp_path)
    with pytest.raises(VPBenchError, match="not found"):
        load_results(tmp_path / "missing")


# ---- tables and ranking --------------------------------------------------------------------------


def test_pareto_fronts_maximize_top1_and_minimize_cmap():
    #          A best both   B dominated by A   C more private   D dominated by C and A   E equal to A
    points = [(90, 50), (85, 60), (40, 20), (30, 70), (90, 50)]
    assert pareto_fronts(points) == [1, 2, 1, 3, 1]


def test_rows_rank_by_front_then_tradeoff_score(tmp_path):
    table = _tables(write_standard_results(tmp_path))[("known", "synth-hmdb51")]
    order = [(r.label, r.front) for r in table.rows]
    assert order == [
        ("stprivacy", 1),
        ("stprivacy (keep_ratio=0.5)", 1),
        ("downsample-4x", 1),
        ("stprivacy (keep_ratio=0.2)", 1),
        ("stprivacy (keep_ratio=1.0)", 2),
        ("raw", 2),
        ("blackening", 2),
    ]
    assert [r.rank for r in table.rows] == list(range(1, 8))


def test_deltas_are_relative_to_raw_of_the_same_table(tmp_path):
    table = _tables(write_standard_results(tmp_path))[("known", "synth-hmdb51")]
    rows = {r.label: r for r in table.rows}
    assert rows["raw"].reference is rows["raw"]
    assert rows["stprivacy"].delta("top1") == pytest.approx(70.0 - 87.5)
    assert rows["stprivacy"].delta("cmap") == pytest.approx(49.0 - 85.8)
    assert rows["stprivacy"].delta("f1") == pytest.approx(0.26 - 0.84)


def test_no_raw_run_means_no_delta(tmp_path):
    write_result(tmp_path, method="blackening")
    [table] = build_tables(load_results(tmp_path))
    assert table.rows[0].delta("top1") is None


def test_paper_numbers_come_from_the_model_card_for_default_runs_only(tmp_path):
    write_standard_results(tmp_path)
    write_result(
        tmp_path,
        dataset="vp-hmdb51",
        method="stprivacy",
        profile="paper",
        options={"keep_ratio": 0.2},
        top1=0.3,
        cmap=60.0,
    )
    tables = _tables(tmp_path)
    real = {r.label: r for r in tables[("known", "vp-hmdb51")].rows}
    assert real["stprivacy"].paper == {"top1": 50.73, "f1": 0.613, "cmap": 72.48}  # models/methods/stprivacy.yaml
    assert real["raw"].paper == {"top1": 51.44, "f1": 0.673, "cmap": 75.58}
    assert real["stprivacy (keep_ratio=0.2)"].paper is None
    assert not tables[("known", "synth-hmdb51")].has_paper  # the paper has no VP-Synth numbers


def test_paper_numbers_only_beside_paper_profile_runs_on_the_real_suite(tmp_path):
    write_result(tmp_path, dataset="vp-hmdb51", method="raw", profile="paper", suite="real")
    write_result(tmp_path, dataset="vp-hmdb51", method="raw", profile="cpu", suite="real")
    write_result(tmp_path, dataset="vp-hmdb51", method="stprivacy", profile="paper", suite="synth")
    table = _tables(tmp_path)[("known", "vp-hmdb51")]
    rows = {(r.result.method_name, r.result.run): r for r in table.rows}
    assert rows["raw", "paper-seed0"].paper == {"top1": 51.44, "f1": 0.673, "cmap": 75.58}  # models/methods/raw.yaml
    assert rows["raw", "cpu-seed0"].paper is None  # the cpu profile is not the paper's experiment
    assert rows["stprivacy", "paper-seed0"].paper is None  # nor is a VP-Synth run, whatever its dataset name
    assert table.has_paper


@pytest.mark.parametrize("profile, suite", [("cpu", "real"), ("paper", "synth"), ("cpu", "synth")])
def test_a_table_without_a_paper_profile_real_suite_run_has_no_paper_column(tmp_path, profile, suite):
    write_result(tmp_path, dataset="vp-hmdb51", method="raw", profile=profile, suite=suite)
    write_result(tmp_path, dataset="vp-hmdb51", method="stprivacy", profile=profile, suite=suite)
    [table] = build_tables(load_results(tmp_path))
    assert not table.has_paper and all(r.paper is None for r in table.rows)
    write_leaderboard(tmp_path, tmp_path / "lb")
    assert "Paper top-1" not in (tmp_path / "lb" / "leaderboard.md").read_text().split("## ", 1)[1]
    assert all(
        r["paper_top1"] == "" for r in csv.DictReader(io.StringIO((tmp_path / "lb" / "leaderboard.csv").read_text()))
    )


def test_keep_ratio_runs_of_one_method_form_one_sweep(tmp_path):
    write_standard_results(tmp_path)
    write_result(tmp_path, method="stprivacy", seed=1, top1=0.6, cmap=50.0)  # another seed: not in the seed-0 sweep
    table = _tables(tmp_path)[("known", "synth-hmdb51")]
    sweeps = {r.result.run: r.sweep for r in table.rows if r.result.method_name == "stprivacy"}
    seed0 = {run: s for run, s in sweeps.items() if "seed0" in run}
    assert len(seed0) == 4 and len(set(seed0.values())) == 1 and None not in seed0.values()
    assert sweeps["cpu-seed1"] is None


def test_a_sweep_is_any_method_s_deploy_options_not_a_name_the_leaderboard_knows(tmp_path):
    for strength in (1, 2, 3):
        write_result(
            tmp_path,
            method="myblur",
            options={"strength": strength},
            deploy_options=["strength"],
            top1=0.5 + strength / 10,
        )
    write_result(tmp_path, method="otherblur", options={"strength": 1}, top1=0.4)  # an ordinary option: no sweep
    write_result(tmp_path, method="otherblur", options={"strength": 2}, top1=0.45)
    rows = _tables(tmp_path)[("known", "synth-hmdb51")].rows
    assert {r.sweep for r in rows if r.result.method_name == "myblur"} == {"myblur (cpu, seed 0)"}
    assert {r.sweep for r in rows if r.result.method_name == "otherblur"} == {None}


# ---- written files ---------------------------------------------------------------------------------


def test_leaderboard_writes_md_csv_html_and_one_plot_per_table(tmp_path):
    results = write_standard_results(tmp_path / "results")
    out = tmp_path / "lb"
    written = write_leaderboard(results, out)
    names = sorted(p.relative_to(out).as_posix() for p in written)
    assert names == [
        "leaderboard.csv",
        "leaderboard.html",
        "leaderboard.md",
        "tradeoff-known--synth-hmdb51.png",
        "tradeoff-known--vp-hmdb51.png",
    ]
    assert (out / "tradeoff-known--vp-hmdb51.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    md = (out / "leaderboard.md").read_text()
    assert "## known (v1) · synth-hmdb51" in md and "Pareto front" in md and "trade-off score" in md
    assert (
        "| 1 | ★ 1 | stprivacy | cpu-seed0 | 70.0 [65.0, 75.0] | 0.260 [0.210, 0.310] | 49.0 [44.0, 54.0] | -17.5 | "
        "-0.580 | -36.8 | 21.0 |" in md
    )
    assert "50.73 / 0.613 / 72.48" in md  # paper column in the vp-hmdb51 table

    rows = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    assert len(rows) == 9
    first = rows[0]
    assert (first["dataset"], first["rank"], first["method"], first["pareto"], first["top1"]) == (
        "synth-hmdb51",
        "1",
        "stprivacy",
        "true",
        "0.7",
    )
    sweep = [r for r in rows if r["options"] == "keep_ratio=0.2"]
    assert sweep[0]["run"] == "cpu-seed0-keep_ratio0.2" and sweep[0]["paper_top1"] == ""
    paper = [r for r in rows if r["dataset"] == "vp-hmdb51" and r["method"] == "stprivacy"][0]
    assert (
        float(paper["paper_top1"]) == pytest.approx(0.5073)
        and paper["result"] == "known/vp-hmdb51/stprivacy/paper-seed0.json"
    )

    page = (out / "leaderboard.html").read_text()
    assert (
        page.count("data:image/png;base64,") == 2 and "<style>" in page and "http" not in page.replace("http-equiv", "")
    )


def test_running_twice_gives_identical_files(tmp_path):
    results = write_standard_results(tmp_path / "results")
    from vpbench.cli import main

    for out in ("a", "b"):  # in-process: the CLI's own exit paths are tested below in subprocesses
        main(["leaderboard", "--results", str(results), "--out", str(tmp_path / out)])
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.html", "tradeoff-known--synth-hmdb51.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_previews_beside_results_are_copied_and_embedded(tmp_path):
    from vpbench.evaluation.preview import preview_strip

    results = tmp_path / "results"
    path = write_result(results, method="blackening")
    raw = np.random.default_rng(0).integers(0, 255, (6, 16, 20, 3), dtype=np.uint8)
    preview_path(path).write_bytes(preview_strip([raw], [np.zeros_like(raw)], "blackening"))
    write_leaderboard(results, tmp_path / "lb")
    copied = tmp_path / "lb" / "previews" / "known--synth-hmdb51--blackening--cpu-seed0.png"
    assert copied.read_bytes() == preview_path(path).read_bytes()
    assert (
        "(previews/known--synth-hmdb51--blackening--cpu-seed0.png)" in (tmp_path / "lb" / "leaderboard.md").read_text()
    )
    page = (tmp_path / "lb" / "leaderboard.html").read_text()
    assert 'href="#preview-known--synth-hmdb51-1"' in page and 'id="preview-known--synth-hmdb51-1"' in page


def test_preview_strip_shows_raw_above_transformed():
    import matplotlib.image

    from vpbench.evaluation.preview import preview_strip

    raw = np.full((8, 16, 20, 3), 200, np.uint8)
    image = matplotlib.image.imread(io.BytesIO(preview_strip([raw, raw], [raw * 0, raw * 0], "m")))
    # Frames are drawn 6x (16 px -> 96 px) right of a 120 px label column, 8 px from the top.
    assert image.shape[:2] == (2 * 8 + 4 * 96 + 3 * 2 + 10, 120 + 4 * 120 + 3 * 2 + 8)
    assert image[8 + 48, 120 + 60, 0] == pytest.approx(200 / 255, abs=0.02)  # row 1: raw
    assert image[8 + 96 + 2 + 48, 120 + 60, 0] == pytest.approx(0, abs=0.02)  # row 2: transformed


def test_a_failing_preview_does_not_fail_the_caller(tmp_path, caplog):
    from vpbench.evaluation.preview import write_preview

    class Broken:
        def video(self, i):
            raise RuntimeError("no frames")

    write_preview(tmp_path / "x.preview.png", Broken(), Broken(), [0], "m")
    assert not (tmp_path / "x.preview.png").exists() and "could not write the preview" in caplog.text


def test_rebuilding_the_leaderboard_imports_no_torch(tmp_path):
    results = write_standard_results(tmp_path / "results")
    code = textwrap.dedent(f"""
        import sys
        from vpbench.cli import main
        try:
            main(["leaderboard", "--results", {str(results)!r}, "--out", {str(tmp_path / "lb")!r}])
        except SystemExit as e:
            assert not e.code, e.code
        assert "torch" not in sys.modules, "the leaderboard must not need torch"
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


# ---- the CLI's one-line errors -------------------------------------------------------------------------


def _assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_cli_refuses_a_result_from_another_protocol_version(tmp_path):
    write_result(tmp_path, method="raw")
    bad = write_result(tmp_path, method="stprivacy", protocol_version=2)
    _assert_one_line_error(_cli("leaderboard", "--results", tmp_path, "--out", tmp_path / "lb"), str(bad), "version 2")
    assert not (tmp_path / "lb").exists()


def test_cli_refuses_a_result_with_a_missing_score(tmp_path):
    write_result(tmp_path, method="raw")
    bad = write_result(tmp_path, method="blackening")
    doc = json.loads(bad.read_text())
    del doc["scores"]["privacy_cmap"]
    bad.write_text(json.dumps(doc))
    _assert_one_line_error(
        _cli("leaderboard", "--results", tmp_path, "--out", tmp_path / "lb"), str(bad), "scores.privacy_cmap"
    )


def test_cli_refuses_broken_json(tmp_path):
    bad = write_result(tmp_path, method="raw")
    bad.write_text("{ not json")
    _assert_one_line_error(
        _cli("leaderboard", "--results", tmp_path, "--out", tmp_path / "lb"), str(bad), "not valid JSON"
    )


def test_cli_help_has_examples():
    proc = _cli("leaderboard", "--help")
    assert proc.returncode == 0 and "vpbench leaderboard --results results/ --out leaderboard/" in proc.stdout


# ---- evaluate -> preview -> leaderboard, end to end on tiny VP-Synth -----------------------------------


@pytest.mark.slow
def test_evaluate_writes_a_preview_that_the_leaderboard_embeds(tmp_path):
    """Also: the writer's document has a field for every key (nothing lands in ``extra``) and survives the round
    trip."""
    import json

    import matplotlib.image

    from tests.helpers.tiny import write_tiny_models, write_tiny_protocols
    from vpbench.data.builder import build_dataset
    from vpbench.evaluation import EvaluationRequest, evaluate
    from vpbench.results import EvaluationResult

    build_dataset("synth-hmdb51", tmp_path / "data" / "synth-hmdb51", size="tiny", seed=0, progress=False)
    [path] = evaluate(
        EvaluationRequest(
            method="blackening",
            protocol="known",
            dataset="synth-hmdb51",
            data_root=tmp_path / "data",
            out=tmp_path / "results",
            models_dir=write_tiny_models(tmp_path / "models"),
            protocols_dir=write_tiny_protocols(tmp_path / "protocols", samples=5),
            progress=False,
        )
    )
    doc = json.loads(path.read_text())
    result = EvaluationResult.from_dict(doc, path)
    assert result.extra == {}, f"evaluate writes keys EvaluationResult has no field for: {sorted(result.extra)}"
    assert result.to_dict() == doc
    assert result.suite == "synth" and result.hardware and result.randomness and result.versions and result.wall_time_s
    preview = preview_path(path)
    assert preview.name == "cpu-seed0.preview.png"
    strip = matplotlib.image.imread(preview)
    assert strip.shape[0] > strip.shape[1]  # 3 videos x (raw, transformed) rows of 4 frames: taller than wide
    write_leaderboard(tmp_path / "results", tmp_path / "lb")
    assert (
        tmp_path / "lb" / "previews" / "known--synth-hmdb51--blackening--cpu-seed0.png"
    ).read_bytes() == preview.read_bytes()


def test_the_docs_state_the_rules_the_pages_apply():

    from vpbench.leaderboard import DELTA_RULE, PAPER_RULE, RANKING_RULE

    docs = " ".join((REPO / "docs" / "leaderboard.md").read_text().split())
    for rule in (RANKING_RULE, DELTA_RULE, PAPER_RULE):
        assert " ".join(rule.split()) in docs


def test_results_all_of_an_old_protocol_version_are_refused(tmp_path):
    # They agree with each other, but not with the protocol spec in use (known is version 1).
    write_result(tmp_path, method="raw", protocol_version=0)
    bad = write_result(tmp_path, method="blackening", protocol_version=0)
    proc = _cli("leaderboard", "--results", tmp_path, "--out", tmp_path / "lb")
    _assert_one_line_error(proc, "protocol 'known' version 0, but the protocol in use is version 1")
    assert str(bad) in proc.stderr or str(tmp_path / "known" / "synth-hmdb51" / "raw") in proc.stderr
    assert not (tmp_path / "lb").exists()


@pytest.mark.parametrize("key, value", [("bootstrap", {"level": "95%"}), ("config", None), ("profile", 3)])
def test_a_result_with_a_malformed_field_the_leaderboard_reads_is_refused(tmp_path, key, value):
    path = write_result(tmp_path, method="raw")
    doc = json.loads(path.read_text())
    doc[key] = value
    path.write_text(json.dumps(doc))
    _assert_one_line_error(_cli("leaderboard", "--results", tmp_path, "--out", tmp_path / "lb"), str(path))
