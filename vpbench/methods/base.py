"""The interface every privacy-removal method implements.

A method maps videos to videos of the same shape in pixel space. Convention
at this boundary: ``uint8`` tensors ``B x T x H x W x 3``; inside, methods
work on float ``B x C x T x H x W`` as they like. Evaluation never looks
inside a method: it trains its own recognizers on the transformed pixels.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..core.errors import VPBenchError


@dataclass(frozen=True)
class FitContext:
    """What a fit takes from the run besides its own settings (the card's profile, resolved by the caller)."""

    clip_len: int  # the recognizers' clip length (a method's settings may name their own)
    frame_size: tuple[int, int]  # height, width of the frames in ``FitData.videos``
    frame_interval: int = 1  # the frames' sampling interval, kept for anonymizing raw videos later
    seed: int = 0
    progress: bool = True
    checkpoint_dir: Path | None = None  # a folder private to the run, for per-epoch checkpoints (see ``fit``)
    # Called with the fit log (a dict of lists) after every checkpointed unit, so that a run can draw its curves
    # while it trains (`vpbench evaluate` writes <run>.curves.csv/.png); StagedFit calls it when given.
    report: Callable[[dict], None] | None = None

    @classmethod
    def of(cls, profile: dict, frame_interval: int = 1, **kw) -> FitContext:
        """The context of a recognizer profile (``clip_len``, ``frame_size``)."""
        h, w = (int(v) for v in profile["frame_size"])
        return cls(clip_len=int(profile["clip_len"]), frame_size=(h, w), frame_interval=int(frame_interval), **kw)


@dataclass
class FitData:
    """What a learned method may train on: the training split, at the working resolution.

    ``videos`` is a list of uint8 ``T x H x W x 3`` arrays (frames at the
    protocol's sampling rate), ``actions`` the class indices, ``privacy`` the
    ``N x 5`` video-level labels (a method such as SPAct must not read them).
    """

    videos: list
    actions: Any
    privacy: Any
    num_actions: int
    person_masks: list | None = None
    extra: dict = field(default_factory=dict)


class PrivacyMethod:
    """Base class: subclass, set ``name``/``version``, implement :meth:`transform`."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    learned: ClassVar[bool] = False
    needs_person_masks: ClassVar[bool] = False
    # identity: returns its input unchanged (evaluation skips transforming and storing a copy)
    identity: ClassVar[bool] = False
    # deploy_options: options that change a trained method without retraining (runs over them form a sweep)
    deploy_options: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        if options:
            raise VPBenchError(f"method '{self.name}' takes no options, got {', '.join(sorted(options))}")

    def fit(self, data: FitData, settings: dict, context: FitContext) -> None:
        """Train the method (learned methods); non-learned methods do nothing.

        ``settings`` are the method's settings for the run's profile (its model card's
        ``profiles.<name>``, resolved by the caller: a method reads no config file), ``context`` what
        the run gives (clip length, frame size, seed, progress bars, checkpoint folder).

        ``context.checkpoint_dir`` is a folder private to this run (``vpbench evaluate``
        passes ``<run>.work/``) where a learned method should keep per-epoch
        checkpoints, e.g. with :class:`vpbench.core.checkpoint.Checkpointer`: when a
        killed run is resumed, the folder still holds them and ``fit`` should
        continue from the last one. It is deleted once the result is written.
        """

    def check_settings(self, settings: dict) -> None:
        """Refuse, before any work, settings this method cannot fit with (a one-line :class:`VPBenchError`)."""

    def provenance(self) -> dict:
        """What the result should record about where this fit started (e.g. pretrained weights); ``{}`` by default."""
        return {}

    def transform(self, videos: torch.Tensor, person_masks: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 ``B x T x H x W x 3`` -> uint8 of the same shape."""
        raise NotImplementedError

    # --- state -----------------------------------------------------------------
    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            raise VPBenchError(f"method '{self.name}' has no trained state to load")

    def save(self, path: str | os.PathLike) -> Path:
        """Write the method's state (tensors and plain data only) atomically."""
        from ..core.checkpoint import save_torch

        return save_torch(path, {"method": self.name, "version": self.version, "state": self.state_dict()})

    def load(self, path: str | os.PathLike) -> None:
        """Load a checkpoint written by :meth:`save` (weights only: no code runs)."""
        from ..core.checkpoint import load_torch

        blob = load_torch(path, "vpbench checkpoint")
        if not isinstance(blob, dict) or blob.get("method") != self.name:
            raise VPBenchError(
                f"{path}: checkpoint is for method '{blob.get('method') if isinstance(blob, dict) else '?'}', not "
                f"'{self.name}'"
            )
        if not isinstance(blob.get("state"), dict):
            raise VPBenchError(f"{path}: checkpoint holds no method state")
        self.load_state_dict(blob["state"])


def check_videos(videos: torch.Tensor) -> None:
    if not isinstance(videos, torch.Tensor) or videos.dtype != torch.uint8 or videos.ndim != 5 or videos.shape[-1] != 3:
        shape = tuple(videos.shape) if hasattr(videos, "shape") else type(videos).__name__
        raise VPBenchError(f"methods take uint8 tensors B x T x H x W x 3, got {getattr(videos, 'dtype', '?')} {shape}")
