"""Recognizers trained once on raw videos and then kept: the frozen attackers and the frozen utility model.

Beside the protocol's recognizers, retrained on the transformed videos, every result applies recognizers
trained on the **raw** training videos to the transformed test videos. A method that keeps a readable
picture keeps some of their accuracy; a method that writes the action into a code only a retrained
recognizer reads drops them to chance (see docs/leaderboard.md).

A frozen recognizer is trained exactly as a ``raw`` evaluation trains its recognizers (same profile,
seed, training videos and steps), so for ``raw`` the two are the same model. It is kept in the dataset's
folder, ``cache/recognizers/<key>/<target>.pt``, where ``key`` digests everything it depends on: the
dataset's content, the training videos, the architecture, the training settings and the seed. Every
method's evaluation then pays for it once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from ..core import distributed
from ..core.checkpoint import load_torch, save_torch

CACHE_FORMAT = 1


def frozen_path(dataset_dir: str | os.PathLike, target: str, recipe: dict) -> Path:
    """Where the raw-trained recognizer of ``target`` made by ``recipe`` (a JSON-able dict) is kept."""
    text = json.dumps({"format": CACHE_FORMAT, "target": target, **recipe}, sort_keys=True, default=str)
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    return Path(dataset_dir) / "cache" / "recognizers" / key / f"{target}.pt"


def videos_digest(video_ids) -> str:
    """One digest of the training videos' ids (their order included: it decides the batches)."""
    return hashlib.sha256("\n".join(str(v) for v in video_ids).encode()).hexdigest()


def frozen_recognizer(path: Path, model: torch.nn.Module, train: Callable[[], None], recipe: dict) -> tuple[bool, Path]:
    """``model`` with the weights kept at ``path``, or trained by ``train()`` (in place) and kept there.

    Under torchrun every rank trains (the training is shared) and rank 0 writes. Returns whether the weights
    came from the cache, and the path."""
    distributed.barrier()  # no rank looks for the file while another may be writing it
    if path.is_file():
        state = load_torch(path, "frozen recognizer")
        model.load_state_dict(state["model"])
        return True, path
    train()
    if distributed.is_main():
        weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        save_torch(path, {"model": weights, "recipe": json.loads(json.dumps(recipe, default=str))})
    distributed.barrier()
    return False, path
