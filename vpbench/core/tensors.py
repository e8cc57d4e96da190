"""Pixels as tensors: the one normalization every network input goes through, and moving batches to a device.

Frames travel as ``uint8`` (4x less to copy than float) and are normalized on the device.
"""

from __future__ import annotations

import torch

MEAN, STD = 0.45, 0.225


def normalize(x: torch.Tensor) -> torch.Tensor:
    """uint8 -> float normalized (any layout)."""
    return x.float().div_(255.0).sub_(MEAN).div_(STD)


def to_device(x: torch.Tensor, dev: torch.device) -> torch.Tensor:
    """uint8 batch to the training device (pinned and asynchronous on a GPU; unchanged when already there)."""
    if dev.type == "cuda":
        return x.pin_memory().to(dev, non_blocking=True)
    return x.to(dev)
