"""Pixels as tensors: the one set of converters between uint8 frames, [0, 1] floats and the normalized
input every network takes, and moving batches to a device.

Frames travel as ``uint8`` ``B x T x H x W x 3`` (4x less to copy than float) and are converted on the
device. Layouts: methods exchange uint8 ``B,T,H,W,3``; networks take float ``B,3,T,H,W``.
"""

from __future__ import annotations

import torch

MEAN, STD = 0.45, 0.225


def normalize(x: torch.Tensor) -> torch.Tensor:
    """uint8 -> float normalized (any layout)."""
    return x.float().div_(255.0).sub_(MEAN).div_(STD)


def normalized(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] float -> normalized (any layout; differentiable, for a network's output fed to another)."""
    return (x - MEAN) / STD


def denormalized(x: torch.Tensor) -> torch.Tensor:
    """Normalized -> [0, 1] float (not clamped)."""
    return x.mul(STD).add(MEAN)


def to_float(videos: torch.Tensor) -> torch.Tensor:
    """uint8 ``B,T,H,W,3`` -> float ``B,3,T,H,W`` in [0, 1]."""
    return videos.permute(0, 4, 1, 2, 3).float().div_(255.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float ``B,3,T,H,W`` in [0, 1] -> uint8 ``B,T,H,W,3`` (clamped, rounded)."""
    return x.clamp(0, 1).mul(255.0).round_().to(torch.uint8).permute(0, 2, 3, 4, 1).contiguous()


def to_device(x: torch.Tensor, dev: torch.device) -> torch.Tensor:
    """uint8 batch to the training device (pinned and asynchronous on a GPU; unchanged when already there)."""
    if dev.type == "cuda":
        return x.pin_memory().to(dev, non_blocking=True)
    return x.to(dev)
