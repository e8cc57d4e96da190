"""`--holdout val` (train on train, score val, read no test video), the frozen recognizers trained once on raw
videos, and the fidelity of transformed videos against raw."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from tests.helpers.results import read_result
from tests.helpers.tiny import evaluation_request
from vpbench.core.errors import VPBenchError
from vpbench.data.builder import load_manifest
from vpbench.data.frames import framefile
from vpbench.data.frames.cache import ensure_cache, open_cache
from vpbench.evaluation import evaluate
from vpbench.evaluation.fidelity import PSNR_CAP_DB, frame_fidelity
from vpbench.leaderboard import write_leaderboard
from vpbench.results import load_result_file


@pytest.fixture
def own_bench(tiny_bench, tmp_path):
    """A copy of the tiny benchmark's synth-hmdb51 (these tests watch its caches), clip cache included."""
    data = tmp_path / "data"
    shutil.copytree(tiny_bench["data"] / "synth-hmdb51", data / "synth-hmdb51", symlinks=True)
    shutil.rmtree(data / "synth-hmdb51" / "cache" / "recognizers", ignore_errors=True)
    return {**tiny_bench, "data": data}


def _cache_rows_of(bench, split: str) -> set[int]:
    """The clip-cache rows of the fold-1 ``split`` videos of synth-hmdb51 (cpu tiny profile: 32x40, every 2nd)."""
    dataset = bench["data"] / "synth-hmdb51"
    manifest = load_manifest(dataset)
    cache = open_cache(dataset, (32, 40), 2)
    rows: set[int] = set()
    for vid in manifest.loc[manifest["split_1"] == split, "video_id"]:
        i = cache.position[vid]
        rows.update(range(int(cache.offsets[i]), int(cache.offsets[i + 1])))
    return rows


@pytest.mark.parametrize("protocol", ["known", "frame"])
def test_a_val_run_reads_no_test_video(own_bench, tmp_path, monkeypatch, protocol):
    dataset = own_bench["data"] / "synth-hmdb51"
    ensure_cache(dataset, (32, 40), 2, progress=False)
    frames_file = str(dataset / "cache")
    read: set[int] = set()
    real_read_run = framefile.FrameFile._read_run

    def spy(self, out, first):
        if str(self.path).startswith(frames_file):
            read.update(range(first, first + len(out)))
        return real_read_run(self, out, first)

    def no_decoding(*a, **k):
        raise AssertionError("a video was decoded: the run must read frames from the clip cache only")

    monkeypatch.setattr(framefile.FrameFile, "_read_run", spy)
    monkeypatch.setattr("vpbench.data.frames.store.decode_all", no_decoding)
    request = evaluation_request(own_bench, tmp_path / "results", method="blackening", protocol=protocol)
    [path] = evaluate(evaluation_request(own_bench, tmp_path / "results", method="blackening", protocol=protocol,
                                         holdout="val"))  # fmt: skip
    test_rows, val_rows = _cache_rows_of(own_bench, "test"), _cache_rows_of(own_bench, "val")
    assert read & test_rows == set()
    assert val_rows <= read  # the spy sees the reads: every val frame was scored
    assert path.name == "cpu-seed0-val.json" and read_result(path)["dataset"]["holdout"] == "val"
    # the same run scoring test reads test videos (so the check above can fail)
    read.clear()
    evaluate(request)
    assert read & test_rows


def test_a_val_run_scores_the_val_videos_and_the_leaderboard_leaves_it_out(own_bench, tmp_path):
    [val] = evaluate(evaluation_request(own_bench, tmp_path / "results", holdout="val"))
    manifest = load_manifest(own_bench["data"] / "synth-hmdb51")
    r = read_result(val)
    assert r["counts"] == {
        "train_videos": int((manifest["split_1"] == "train").sum()),
        "test_videos": int((manifest["split_1"] == "val").sum()),
    }
    with pytest.raises(VPBenchError, match="every result scores the val split"):
        write_leaderboard(tmp_path / "results", tmp_path / "lb", own_bench["models"], own_bench["protocols"])
    evaluate(evaluation_request(own_bench, tmp_path / "results"))
    write_leaderboard(tmp_path / "results", tmp_path / "lb", own_bench["models"], own_bench["protocols"])
    csv = (tmp_path / "lb" / "leaderboard.csv").read_text().splitlines()
    assert len(csv) == 2 and ",cpu-seed0," in csv[1]


def test_a_holdout_that_is_not_test_or_val_is_a_one_line_error(own_bench, tmp_path):
    with pytest.raises(
        VPBenchError, match="--holdout must be one of test, val, not 'vall' \\(did you mean 'val'\\?\\)"
    ):
        evaluate(evaluation_request(own_bench, tmp_path / "results", holdout="vall"))


def test_a_dataset_without_val_videos_says_how_to_get_them(own_bench, tmp_path):
    dataset = own_bench["data"] / "synth-hmdb51"
    manifest = load_manifest(dataset)
    manifest.loc[manifest["split_1"] == "val", "split_1"] = "train"
    manifest.to_parquet(dataset / "manifest.parquet", index=False)
    with pytest.raises(VPBenchError, match="has no val video in fold 1 \\(build it with --val-share"):
        evaluate(evaluation_request(own_bench, tmp_path / "results", holdout="val"))


def _weights(path):
    return torch.load(path, weights_only=True)["model"]


def test_the_frozen_recognizers_are_the_ones_raw_trains_and_are_trained_once(own_bench, tmp_path):
    dataset = own_bench["data"] / "synth-hmdb51"
    [black] = evaluate(evaluation_request(own_bench, tmp_path / "a", method="blackening"))
    b = read_result(black)
    assert {t: e["from_cache"] for t, e in b["frozen"].items()} == {"action": False, "privacy": False}
    kept = {t: _weights(own_bench["data"] / e["weights"]) for t, e in b["frozen"].items()}
    # a second method pays nothing for them
    [blur] = evaluate(evaluation_request(own_bench, tmp_path / "a", method="strongblur"))
    assert all(e["from_cache"] for e in read_result(blur)["frozen"].values())
    assert read_result(blur)["frozen"] == {t: {**e, "from_cache": True} for t, e in b["frozen"].items()}
    # raw with no cache: its retrained recognizers become the frozen ones, with the very weights blackening trained
    shutil.rmtree(dataset / "cache" / "recognizers")
    [raw] = evaluate(evaluation_request(own_bench, tmp_path / "b", method="raw"))
    r = read_result(raw)
    assert not any(e["from_cache"] for e in r["frozen"].values())
    for target, entry in r["frozen"].items():
        again = _weights(own_bench["data"] / entry["weights"])
        assert again.keys() == kept[target].keys()
        assert all(torch.equal(again[k], kept[target][k]) for k in again)
    for name in ("action_top1", "privacy_f1", "privacy_cmap"):
        assert r["scores"][f"{name}_frozen"] == r["scores"][name]
    # frozen scores differ from retrained ones for a method that changes the pixels
    assert any(b["scores"][f"{n}_frozen"] != b["scores"][n] for n in ("privacy_f1", "privacy_cmap", "action_top1"))


def test_fidelity_is_the_cap_for_raw_and_between_noise_and_raw_for_blackening(own_bench, tmp_path):
    [raw] = evaluate(evaluation_request(own_bench, tmp_path / "r", method="raw"))
    [black] = evaluate(evaluation_request(own_bench, tmp_path / "r", method="blackening"))
    r, b = read_result(raw)["scores"], read_result(black)["scores"]
    assert r["fidelity_psnr"]["value"] == PSNR_CAP_DB and r["fidelity_ssim"]["value"] == pytest.approx(1.0)
    assert b["fidelity_ssim"]["noise"] < b["fidelity_ssim"]["value"] < 1.0
    # PSNR is no readability measure on its own: black boxes on VP-Synth's bright scenes score below noise
    assert b["fidelity_psnr"]["value"] < 20
    for s in (r, b):
        assert abs(s["fidelity_ssim"]["noise"]) < 0.1 and s["fidelity_psnr"]["noise"] < 12
        assert s["fidelity_ssim"]["ci_low"] <= s["fidelity_ssim"]["value"] <= s["fidelity_ssim"]["ci_high"]
    assert load_result_file(black).optional_score("action_top1_frozen") is not None


def test_frame_fidelity_of_known_pairs():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 24, 20, 3), dtype=np.uint8)
    assert frame_fidelity(frames, frames) == (PSNR_CAP_DB, pytest.approx(1.0))
    shifted = np.clip(frames.astype(int) + 10, 0, 255).astype(np.uint8)
    psnr, ssim = frame_fidelity(frames, shifted)
    mse = ((frames.astype(float) - shifted) ** 2).mean(axis=(1, 2, 3))
    assert psnr == pytest.approx(float(np.mean(10 * np.log10(255.0**2 / mse))), rel=1e-4)
    assert 0.5 < ssim < 1.0
