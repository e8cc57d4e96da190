"""Shared fixtures: tiny real videos written on the fly, the one session-wide tiny benchmark, and the reference
data path. The plain helpers they use are in tests/helpers/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.tiny import gradient_frames, reference_data, write_tiny_models, write_tiny_protocols


@pytest.fixture
def reference() -> Path:
    path = reference_data()
    if path is None:
        pytest.skip("reference data (../shared/data or VPBENCH_REFERENCE_DATA) is not present")
    return path


@pytest.fixture
def make_video(tmp_path):
    from vpbench.data.video import write_video

    def _make(name: str, num_frames: int = 20, height: int = 32, width: int = 64, seed: int = 0) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, gradient_frames(num_frames, height, width, seed), fps=25)
        return path

    return _make


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    return write_tiny_models(tmp_path_factory.mktemp("models"))


def pytest_configure(config):
    # tests/apps/test_view.py: real fiftyone with its bundled mongod (the `fiftyone` extra); CI fails, not skips,
    # without it.
    config.addinivalue_line("markers", "fiftyone: builds FiftyOne datasets with real fiftyone and its bundled database")
    # tests/annotation/test_labelstudio.py: a real Label Studio server (tools/labelstudio-server.sh); CI fails, not
    # skips, without it.
    config.addinivalue_line("markers", "labelstudio: runs a real Label Studio server on loopback")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors train fastest on one thread; on a busy machine two threads mostly wait on each other
    (measured here: a tiny fit 1.5 s on one thread, 10-30 s on two). OMP_NUM_THREADS keeps `evaluate` at one too."""
    import torch

    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory) -> dict:
    """The one tiny benchmark the evaluation tests share: tiny synth-hmdb51 and synth-ucf101 (seed 0), the tiny
    profiles as ``cpu`` and the shipped protocols with few bootstrap samples. Read-only: a test that changes a
    dataset copies it first (clip caches built in it by evaluations are shared, as a user's are)."""
    from vpbench.data.builder import build_dataset

    root = tmp_path_factory.mktemp("tiny-bench")
    for name in ("synth-hmdb51", "synth-ucf101"):
        build_dataset(name, root / "data" / name, size="tiny", seed=0, progress=False)
    return {
        "root": root,
        "data": root / "data",
        "models": write_tiny_models(root / "models"),
        "protocols": write_tiny_protocols(root / "protocols"),
    }
