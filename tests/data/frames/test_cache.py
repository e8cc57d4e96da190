"""The clip cache: same frames as decoding, used by evaluate when present, refused when stale."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from vpbench.core.errors import VPBenchError
from vpbench.data.builder import build_dataset, load_manifest
from vpbench.data.frames.cache import build_cache, cache_path, open_cache
from vpbench.data.frames.framefile import FrameFile
from vpbench.data.frames.store import load_store

SIZE, INTERVAL = (32, 40), 2


@pytest.fixture
def dataset(tmp_path):
    out = tmp_path / "synth-hmdb51"
    build_dataset("synth-hmdb51", out, size="tiny", seed=0, progress=False)
    return out


def test_cached_frames_equal_decoded_frames_for_all_and_for_a_subset(dataset):
    build_cache(dataset, SIZE, INTERVAL, workers=2, progress=False)
    manifest = load_manifest(dataset)
    for rows in (manifest, manifest.iloc[::-3], manifest[manifest["split_1"] == "test"]):
        cached = load_store(dataset, rows, SIZE, INTERVAL, progress=False)
        decoded = load_store(dataset, rows, SIZE, INTERVAL, progress=False, use_cache=False)
        assert cached.source.startswith("cache ") and decoded.source == "decoded"
        np.testing.assert_array_equal(cached.counts, decoded.counts)
        for i in range(len(rows)):
            np.testing.assert_array_equal(cached.video(i), decoded.video(i))
        assert cached.video_ids == decoded.video_ids
        # Any subset indexes the cache file itself: nothing is read until a batch asks for frames.
        assert isinstance(cached.frames, FrameFile)


def test_a_missing_cache_is_built_on_first_use_at_that_size(dataset):
    manifest = load_manifest(dataset)
    assert open_cache(dataset, SIZE, INTERVAL) is None
    build_cache(dataset, SIZE, INTERVAL, progress=False)
    assert open_cache(dataset, (16, 20), INTERVAL) is None and open_cache(dataset, SIZE, 1) is None
    store = load_store(dataset, manifest, (16, 20), INTERVAL, progress=False)
    assert (
        store.source == f"cache {cache_path(dataset, (16, 20), INTERVAL)}"
        and open_cache(dataset, (16, 20), INTERVAL) is not None
    )
    assert store.video(0).shape[1:] == (16, 20, 3)


def test_a_cache_of_other_dataset_content_is_refused(dataset):
    build_cache(dataset, SIZE, INTERVAL, progress=False)
    # Rebuilt from another seed: other videos, so the content hash differs from the cache's.
    build_dataset("synth-hmdb51", dataset, size="tiny", seed=1, progress=False)
    manifest = load_manifest(dataset)
    with pytest.raises(
        VPBenchError,
        match=r"stale clip cache: made for dataset content \w{12}, the dataset is now "
        r"\w{12}; rebuild it with `vpbench cache",
    ):
        load_store(dataset, manifest, SIZE, INTERVAL, progress=False)
    build_cache(dataset, SIZE, INTERVAL, progress=False)  # rebuilding the cache fixes it
    np.testing.assert_array_equal(
        load_store(dataset, manifest, SIZE, INTERVAL, progress=False).frames,
        load_store(dataset, manifest, SIZE, INTERVAL, progress=False, use_cache=False).frames,
    )


def test_a_damaged_or_foreign_cache_is_refused_not_used(dataset):
    path = build_cache(dataset, SIZE, INTERVAL, progress=False)
    index = json.loads((path / "index.json").read_text())
    (path / "index.json").write_text(json.dumps({**index, "format": 99}))
    with pytest.raises(VPBenchError, match="clip cache format 99, this vpbench reads 1"):
        open_cache(dataset, SIZE, INTERVAL)
    (path / "index.json").write_text(json.dumps(index))
    np.save(path / "frames.npy", np.zeros((3, *SIZE, 3), np.uint8))
    with pytest.raises(VPBenchError, match=r"frames.npy: holds \(3, 32, 40, 3\), the index expects"):
        open_cache(dataset, SIZE, INTERVAL)
    (path / "index.json").write_text("{not json")
    with pytest.raises(VPBenchError, match="unreadable clip cache index"):
        open_cache(dataset, SIZE, INTERVAL)


def test_a_killed_cache_build_leaves_no_index(dataset, monkeypatch):
    import vpbench.data.frames.decode as store

    build_cache(dataset, SIZE, INTERVAL, progress=False)

    def broken(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "decode_video", broken)
    with pytest.raises(KeyboardInterrupt):
        build_cache(dataset, SIZE, INTERVAL, workers=1, progress=False)
    path = cache_path(dataset, SIZE, INTERVAL)
    assert not (path / "index.json").exists() and not list(path.glob(".*.tmp"))
    assert open_cache(dataset, SIZE, INTERVAL) is None  # so evaluate builds it again instead of reading a partial cache


def test_cli_cache_takes_the_profile_size(dataset, tiny_models):
    proc = subprocess.run(
        [sys.executable, "-m", "vpbench", "cache", str(dataset), "--models-dir", str(tiny_models)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "synth-hmdb51: clip cache 32x40 every 2 frame(s)" in proc.stdout
    assert open_cache(dataset, SIZE, INTERVAL) is not None


def test_evaluate_reads_the_cache_and_decodes_nothing(dataset, tiny_models, tmp_path, monkeypatch):
    import vpbench.data.frames.decode as store
    from tests.helpers.tiny import write_tiny_protocols
    from vpbench.evaluation import EvaluationRequest, evaluate

    build_cache(dataset, SIZE, INTERVAL, progress=False)

    def no_decoding(args):
        raise AssertionError(f"decoded {args[0]} although the clip cache holds it")

    monkeypatch.setattr(store, "decode_video", no_decoding)
    [path] = evaluate(
        EvaluationRequest(
            method="raw",
            protocol="known",
            suite="synth",
            dataset="synth-hmdb51",
            data_root=dataset.parent,
            out=tmp_path / "results",
            models_dir=tiny_models,
            protocols_dir=write_tiny_protocols(tmp_path / "protocols"),
            progress=False,
        )
    )
    assert json.loads(path.read_text())["scores"]["action_top1"]["value"] >= 0
