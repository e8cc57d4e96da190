"""What `vpbench evaluate --resume` continues from, and what it refuses.

Each evaluation keeps its intermediate state in a work folder beside its
result, ``<run>.work/``: the per-epoch training checkpoints of each phase
(``fit.pt`` of a learned method, ``train_action.pt``, ``train_privacy.pt``,
``train_frame_privacy.pt``), the test predictions (``test_*.npz``) and
``run.json``, the settings that wrote them. Decoding and transforming are
deterministic and are simply redone. A run without ``--resume`` starts the
folder afresh; with ``--resume`` it continues from it when the settings match
and refuses when they do not (a checkpoint of other settings would give a
result that no configuration produces). The folder is removed once the
result JSON is written, and when a run fails or is interrupted before it holds
anything to resume from (its ``run.json`` alone). ``vpbench evaluate --resume``
checks every job's folder with :func:`check_work_dir` before the first job starts.

A finished result met by ``--resume`` is kept only if it was written for the
same protocol version, method version and result schema.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..core import distributed
from ..core.atomic import atomic_write_bytes, atomic_write_json, stale_temporaries
from ..core.errors import VPBenchError
from ..results import preview_path
from .curves import curves_paths

SETTINGS_FILE = "run.json"


def work_dir_of(result: Path) -> Path:
    return result.with_name(result.stem + ".work")


def _plain(obj: Any) -> Any:
    """JSON-normal form (tuples become lists, paths strings), so that settings compare equal after a round trip."""
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


class WorkDir:
    """The work folder of one evaluation (see the module docstring)."""

    def __init__(self, result: Path, settings: dict, resume: bool) -> None:
        self.path = work_dir_of(Path(result))
        self.settings = _plain(settings)
        if not distributed.is_main():  # under torchrun rank 0 alone sets the folder up
            distributed.barrier()
            return
        meta = self.path / SETTINGS_FILE
        if resume and self.path.is_dir():
            if not check_work_dir(result, self.settings):
                # Killed before run.json was written: nothing in the folder can be trusted to match.
                shutil.rmtree(self.path)
        elif self.path.exists():
            shutil.rmtree(self.path)
        # A kill's torn writes: the temporaries of every file the run writes beside its result.
        written = (result, Path(result).with_suffix(".pt"), preview_path(result), *curves_paths(result))
        for path in written:
            for stale in stale_temporaries(path):
                stale.unlink(missing_ok=True)
        atomic_write_json(meta, self.settings)
        distributed.barrier()

    def file(self, name: str) -> Path:
        return self.path / name

    def arrays(self, name: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` (an array or a tuple of arrays), saved once and read back on resume."""
        path = self.path / f"{name}.npz"
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as data:
                    values = tuple(data[f"arr_{i}"] for i in range(len(data.files) - 1))
                    single = bool(data["single"])
            except Exception as exc:  # noqa: BLE001 - a damaged file fails in many ways
                # (allow_pickle=False: reading it runs no code)
                raise VPBenchError(
                    f"{path}: unreadable saved predictions ({type(exc).__name__}); delete it to recompute"
                ) from None
            return values[0] if single else values
        values = compute()  # on every rank: predictions are gathered across ranks inside
        if distributed.is_main():
            single = not isinstance(values, tuple)
            parts = (values,) if single else values
            buf = io.BytesIO()
            np.savez(buf, *parts, single=np.asarray(single))
            atomic_write_bytes(path, buf.getvalue())
        distributed.barrier()
        return values

    def finish(self) -> None:
        if distributed.is_main():
            shutil.rmtree(self.path, ignore_errors=True)

    def discard_if_empty(self) -> None:
        """Remove the folder when it holds nothing to resume from (only ``run.json``): a run that failed or
        was interrupted before its first checkpoint leaves no work folder behind."""
        if not distributed.is_main() or not self.path.is_dir():
            return
        if all(p.name == SETTINGS_FILE or p.name.endswith(".tmp") for p in self.path.iterdir()):
            shutil.rmtree(self.path, ignore_errors=True)


def check_work_dir(result: Path, settings: dict) -> bool:
    """Whether ``--resume`` can continue the work folder of ``result`` under ``settings``: True when it
    exists with the same settings, False when there is none (or it lacks its ``run.json``, so nothing
    in it can be trusted); refuses one written under other settings. Reads only: ``vpbench evaluate``
    calls it for every job before the first one starts."""
    path = work_dir_of(Path(result))
    meta = path / SETTINGS_FILE
    if not path.is_dir():
        return False
    try:
        saved = json.loads(meta.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VPBenchError(
            f"{meta}: unreadable resume state ({type(exc).__name__}); delete {path} or run without --resume"
        ) from None
    settings = _plain(settings)
    if saved != settings:
        keys = sorted(set(saved) | set(settings)) if isinstance(saved, dict) else ["(all)"]
        differ = [k for k in keys if not isinstance(saved, dict) or saved.get(k) != settings.get(k)]
        raise VPBenchError(
            f"{meta}: the interrupted run had other settings ({', '.join(differ)} differ); "
            f"delete {path} or run without --resume to start over"
        )
    return True


def check_finished_result(path: Path, expected: dict) -> None:
    """Refuse a finished result that ``--resume`` would otherwise keep although it is stale.

    ``expected``: ``{"schema_version": ..., "protocol": {"name", "version"}, "method": {"name", "version"}}``.
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VPBenchError(
            f"{path}: not a readable result ({type(exc).__name__}); delete it or run without --resume"
        ) from None
    if not isinstance(doc, dict):
        raise VPBenchError(f"{path}: not a vpbench result; delete it or run without --resume")
    if doc.get("schema_version") != expected["schema_version"]:
        raise VPBenchError(
            f"{path}: result schema version {doc.get('schema_version')!r}, this vpbench writes "
            f"{expected['schema_version']}; "
            "move it away or run without --resume to replace it"
        )
    for part in ("protocol", "method"):
        got = doc.get(part) if isinstance(doc.get(part), dict) else {}
        want = expected[part]
        if (got.get("name"), got.get("version")) != (want["name"], want["version"]):
            raise VPBenchError(
                f"{path}: result of {part} '{got.get('name')}' version {got.get('version')!r}, but {part} "
                f"'{want['name']}' is version {want['version']!r} now; move it away or run without --resume to "
                f"replace it"
            )
