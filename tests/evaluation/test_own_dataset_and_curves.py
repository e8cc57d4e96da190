"""Any built dataset evaluates in one command (no protocol YAML), and every run draws its training curves."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers.results import read_result
from tests.helpers.tiny import evaluation_request
from vpbench.core.attributes import ATTRIBUTES
from vpbench.core.errors import VPBenchError
from vpbench.data.builder import load_manifest
from vpbench.evaluation import evaluate
from vpbench.evaluation.curves import log_rows


@pytest.fixture
def mine(tiny_bench, tmp_path):
    """The tiny synth-hmdb51 copied under a name no protocol lists, beside a copy of synth-ucf101."""
    data = tmp_path / "data"
    shutil.copytree(tiny_bench["data"] / "synth-hmdb51", data / "mine", symlinks=True)
    shutil.copytree(tiny_bench["data"] / "synth-ucf101", data / "synth-ucf101", symlinks=True)
    return {**tiny_bench, "data": data}


def test_known_on_a_dataset_no_protocol_lists(mine, tmp_path):
    [path] = evaluate(evaluation_request(mine, tmp_path / "r", dataset="mine", method="blackening"))
    assert path == tmp_path / "r" / "known" / "mine" / "blackening" / "cpu-seed0.json"
    r = read_result(path)
    assert r["protocol"]["suite"] == "custom"
    assert r["config"]["job"] == {"method_train": "mine", "evaluate": "mine"}
    assert r["dataset"]["name"] == "mine" and r["dataset"]["method_trained_on"] == "mine"


def test_cross_takes_the_method_training_dataset(mine, tmp_path):
    with pytest.raises(VPBenchError, match="needs --method-train-dataset NAME"):
        evaluate(evaluation_request(mine, tmp_path / "r", protocol="cross", dataset="mine"))
    request = evaluation_request(
        mine, tmp_path / "r", protocol="cross", dataset="mine", method_train_dataset="synth-ucf101"
    )
    [path] = evaluate(request)
    assert read_result(path)["config"]["job"] == {"method_train": "synth-ucf101", "evaluate": "mine"}


def test_a_name_that_is_neither_listed_nor_built_is_a_one_line_error(mine, tmp_path):
    with pytest.raises(VPBenchError, match="does not evaluate on 'mien'.*and on any dataset built under --data-root"):
        evaluate(evaluation_request(mine, tmp_path / "r", dataset="mien"))


def _edit(mine, change) -> None:
    path = mine["data"] / "mine" / "manifest.parquet"
    manifest = load_manifest(mine["data"] / "mine")
    change(manifest)
    manifest.to_parquet(path, index=False)


def _no_test_split(m):
    m.loc[m["split_1"] == "test", "split_1"] = "train"


def _no_training_wave(m):
    m.loc[(m["action"] == "wave") & (m["split_1"] == "train"), "split_1"] = "unused"


def _no_test_positive(m):
    m.loc[m["split_1"] == "test", list(ATTRIBUTES)] = 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_no_test_split, "has no test video in fold 1"),
        (_no_training_wave, "has test videos of class 'wave' but no training video of it"),
        (_no_test_positive, "no privacy positive among its test videos"),
    ],
    ids=["no-test-split", "class-without-training-video", "no-privacy-positive"],
)
def test_a_dataset_that_cannot_support_the_protocol_says_why(mine, tmp_path, change, message):
    _edit(mine, change)
    with pytest.raises(VPBenchError, match=message):
        evaluate(evaluation_request(mine, tmp_path / "r", dataset="mine"))
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("*.json"))


def test_every_run_writes_its_curves_and_tensorboard_events(mine, tmp_path):
    [path] = evaluate(evaluation_request(mine, tmp_path / "r", dataset="mine", tensorboard=tmp_path / "tb"))
    csv = path.with_name("cpu-seed0.curves.csv").read_text().splitlines()
    assert csv[0] == "phase,step,metric,value"
    phases = {line.split(",")[0] for line in csv[1:]}
    assert {"train/action", "train/privacy"} <= phases
    assert path.with_name("cpu-seed0.curves.png").read_bytes()[:4] == b"\x89PNG"
    events = list((tmp_path / "tb" / "known" / "mine" / "raw" / "cpu-seed0").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0


def test_a_tensorboard_folder_that_cannot_be_written_fails_before_training(mine, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(VPBenchError, match="--tensorboard folder"):
        evaluate(evaluation_request(mine, tmp_path / "r", dataset="mine", tensorboard=blocker / "tb"))
    assert not (tmp_path / "r").exists()


def test_a_fit_log_becomes_curves():
    log = {
        "recon_l1": [0.5, 0.25],
        "phase2": [{"epoch": 1, "loss": 2.0, "seconds": 3.1}, {"epoch": 2, "loss": 1.5, "seconds": 3.0}],
        "init_weights": {"file": None},
        "restarts": [],
    }
    assert log_rows(log) == [
        ("fit/recon_l1", 1, "recon_l1", 0.5),
        ("fit/recon_l1", 2, "recon_l1", 0.25),
        ("fit/phase2", 1, "loss", 2.0),
        ("fit/phase2", 2, "loss", 1.5),
    ]
