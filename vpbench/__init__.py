"""vpbench: the benchmark toolkit for video-level privacy-preserving action recognition.

Python API (the CLI is a thin layer over these)::

    from vpbench import build_dataset, load_manifest, summarize_dataset
    result = build_dataset("synth-hmdb51", "data/synth-hmdb51", size="tiny", seed=0)
    manifest = load_manifest("data/synth-hmdb51")
"""

__version__ = "0.1.0"

from .core.attributes import ATTRIBUTES  # noqa: E402
from .core.errors import VPBenchError  # noqa: E402


def __getattr__(name: str):
    # Lazy: `import vpbench` stays light (no pandas/av import until used).
    if name in ("build_dataset", "load_manifest", "load_info"):
        from .data import builder

        return getattr(builder, name)
    if name == "summarize_dataset":
        from .data.summary import summarize_dataset

        return summarize_dataset
    raise AttributeError(f"module 'vpbench' has no attribute {name!r}")


__all__ = [
    "ATTRIBUTES",
    "VPBenchError",
    "build_dataset",
    "load_manifest",
    "load_info",
    "summarize_dataset",
    "__version__",
]
