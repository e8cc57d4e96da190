"""Per-epoch training checkpoints, so that a killed training resumes where it stopped.

A training run is a sequence of named *stages* of epochs (a recognizer has
one; STPrivacy has several). After every epoch :class:`Checkpointer` writes
one file holding everything the next epoch depends on: the state dicts of
the stage's models and optimizers, the numpy generator's and torch's RNG
states, the epoch, the stages already finished, and the loop's own
bookkeeping (losses, history). Resuming from it therefore continues the very
same computation: the scores equal those of a run that was never stopped.

The file is written atomically (a reader never sees half of it) and read
with ``torch.load(weights_only=True)``: it may hold tensors and plain data
only, so a planted file cannot run code. A file written with other settings
is refused rather than silently continued.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic import atomic_write
from .errors import VPBenchError

FORMAT = "vpbench-training-checkpoint"
FORMAT_VERSION = 1


def save_torch(path: str | os.PathLike, obj: Any) -> Path:
    """``torch.save`` through :func:`atomic_write` (temp file, fsync, rename)."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def load_torch(path: str | os.PathLike, what: str = "checkpoint") -> Any:
    """``torch.load(weights_only=True)`` with one-line errors naming the file.

    weights_only admits tensors and plain containers and refuses any other
    global before it is imported, so a pickle that would run code is refused
    and nothing runs.
    """
    path = Path(path)
    if not path.exists():
        raise VPBenchError(f"{path}: {what} not found")
    if not path.is_file():
        raise VPBenchError(f"{path}: {what} is not a file")
    if path.stat().st_size == 0:
        raise VPBenchError(f"{path}: {what} is an empty file")
    try:
        with warnings.catch_warnings():  # torch warns about unusual pickle protocols: noise on a one-line error
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - untrusted bytes fail in many ways
        # (UnpicklingError, RuntimeError, EOFError...): each is the same one-line error
        raise VPBenchError(f"{path}: not a {what} or refused as unsafe ({_load_failure(exc)})") from None


def _load_failure(exc: Exception) -> str:
    """The gist of a torch.load failure; weights_only's own message is a paragraph of advice."""
    text = str(exc)
    refused = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    if refused:
        return "weights-only load refused it: " + refused.group(1).strip().split(". ")[0][:160]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:160] if lines else type(exc).__name__


def rng_state(rng: np.random.Generator) -> dict:
    # The numpy state holds 128-bit integers; as JSON text it is plain data for weights_only.
    return {"numpy": json.dumps(rng.bit_generator.state), "torch": torch.get_rng_state()}


def restore_rng(rng: np.random.Generator, state: Mapping) -> None:
    rng.bit_generator.state = json.loads(state["numpy"])
    torch.set_rng_state(state["torch"])


class Checkpointer:
    """The checkpoint file of one training run (``path=None``: checkpoint nothing).

    ``settings`` (plain data) identifies what is trained; a file written under
    other settings is an error. Use, per stage::

        first, saved = ckpt.start("phase1", {"net": net, "opt": opt})
        for epoch in range(first, epochs):
            ...
            ckpt.save(epoch + 1, losses=losses)

    :meth:`start` returns the first epoch to run: 0 for a fresh stage, the
    saved epoch (with models, optimizers and RNG states restored, and the
    ``saved`` keywords of that :meth:`save`) for the stage the file stopped
    in, and ``None`` for a stage the file has already finished (skip it: the
    later stage restores everything it needs).
    """

    def __init__(self, path: str | os.PathLike | None, rng: np.random.Generator, settings: Mapping) -> None:
        self.path = None if path is None else Path(path)
        self.rng = rng
        self.settings = json.dumps(settings, sort_keys=True, default=str)
        self.stages_done: list[str] = []
        self.stage: str | None = None
        self.objects: dict[str, Any] = {}
        self._saved = self._read() if self.path is not None and self.path.is_file() else None

    def _read(self) -> dict:
        blob = load_torch(self.path, "vpbench training checkpoint")
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise VPBenchError(f"{self.path}: not a vpbench training checkpoint")
        if blob.get("format_version") != FORMAT_VERSION:
            raise VPBenchError(
                f"{self.path}: training checkpoint format {blob.get('format_version')!r}, this vpbench reads "
                f"{FORMAT_VERSION}"
            )
        if blob.get("settings") != self.settings:
            raise VPBenchError(
                f"{self.path}: training checkpoint written with other settings; delete it (or run without --resume) "
                f"to start over"
            )
        kinds = {"stage": str, "stages_done": list, "epoch": int, "states": dict, "rng": dict, "extra": dict}
        broken = [key for key, kind in kinds.items() if not isinstance(blob.get(key), kind)]
        if broken:
            raise VPBenchError(
                f"{self.path}: damaged training checkpoint (bad {', '.join(broken)}); delete it to start over"
            )
        return blob

    def start(self, stage: str, objects: Mapping[str, Any]) -> tuple[int | None, dict]:
        if self.stage is not None:
            self.stages_done.append(self.stage)
        self.stage, self.objects = stage, dict(objects)
        saved = self._saved
        if saved is None:
            return 0, {}
        if stage in saved["stages_done"]:
            return None, {}
        if stage != saved["stage"]:
            return 0, {}
        states = saved["states"]
        if set(states) != set(self.objects):
            raise VPBenchError(f"{self.path}: stage '{stage}' holds {sorted(states)}, expected {sorted(self.objects)}")
        try:
            for name, obj in self.objects.items():
                obj.load_state_dict(states[name])
            restore_rng(self.rng, saved["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise VPBenchError(f"{self.path}: training checkpoint does not fit ({_load_failure(exc)})") from None
        return int(saved["epoch"]), dict(saved["extra"])

    def save(self, epoch: int, **extra: Any) -> None:
        """Record that ``epoch`` epochs of the current stage are done (``extra``: plain data to get back)."""
        if self.path is None:
            return
        from . import distributed

        if not distributed.is_main():  # one writer; the others wait below until the file is whole
            distributed.barrier()
            return
        save_torch(
            self.path,
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "settings": self.settings,
                "stage": self.stage,
                "stages_done": list(self.stages_done),
                "epoch": int(epoch),
                "states": {name: obj.state_dict() for name, obj in self.objects.items()},
                "rng": rng_state(self.rng),
                "extra": extra,
            },
        )
        distributed.barrier()
