"""Recognizers trained from scratch on transformed videos, the same for every method.

Input convention inside: float ``B x 3 x T x H x W`` (video) or ``B x 3 x H x W``
(frame), normalized. ``paper`` profile: ViT-S (video: 2x16x16 tubelets; frame:
16x16 patches). ``cpu`` profile: small CNNs chosen by measurement on two cores
(see models/recognizers.yaml): a ViT trained from scratch on a few hundred
clips learns poorly, a small 3D CNN learns the same probe in minutes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..core.errors import VPBenchError
from ..core.registry import Registry


def _conv3d(cin: int, cout: int, kernel, stride) -> nn.Sequential:
    kernel = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
    return nn.Sequential(
        nn.Conv3d(cin, cout, kernel, stride, tuple(k // 2 for k in kernel), bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
    )


class VideoCNN(nn.Module):
    """Small 3D CNN: a stride-(1,2,2) stem keeps every frame for motion, then three stride-2 blocks."""

    def __init__(self, num_outputs: int, widths=(8, 32, 64, 128), dropout: float = 0.2) -> None:
        super().__init__()
        w = list(widths)
        self.features = nn.Sequential(
            _conv3d(3, w[0], 3, (1, 2, 2)),
            _conv3d(w[0], w[1], 3, (2, 2, 2)),
            _conv3d(w[1], w[2], 3, (2, 2, 2)),
            _conv3d(w[2], w[3], 3, (2, 2, 2)),
            nn.AdaptiveAvgPool3d(1),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(w[3], num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class FrameCNN(nn.Module):
    """Small 2D CNN for single frames (the frame-level privacy recognizer)."""

    def __init__(self, num_outputs: int, widths=(16, 32, 64, 128), dropout: float = 0.2) -> None:
        super().__init__()
        layers, cin = [], 3
        for i, c in enumerate(widths):
            layers += [nn.Conv2d(cin, c, 3, 2 if i else 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            if i == 0:
                layers.append(nn.MaxPool2d(2))
            cin = c
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(cin, num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Block(nn.Module):
    """Pre-norm Transformer layer."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, drop: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=drop, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(drop), nn.Linear(hidden, dim), nn.Dropout(drop)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class ViTClassifier(nn.Module):
    """ViT over tubelets (video, ``tubelet = (dt, dh, dw)``) or patches (frame, ``dt = 0``), mean-pooled."""

    def __init__(
        self, num_outputs: int, input_size, tubelet, dim: int = 384, depth: int = 12, heads: int = 6, drop: float = 0.0
    ) -> None:
        super().__init__()
        self.video = tubelet[0] > 0
        if self.video:
            t, h, w = input_size
            dt, dh, dw = tubelet
            if t % dt or h % dh or w % dw:
                raise VPBenchError(f"input {input_size} is not divisible by tubelets {tubelet}")
            self.embed = nn.Conv3d(3, dim, tubelet, tubelet)
            n = (t // dt) * (h // dh) * (w // dw)
        else:
            h, w = input_size[-2:]
            self.embed = nn.Conv2d(3, dim, tubelet[1:], tubelet[1:])
            n = (h // tubelet[1]) * (w // tubelet[2])
        self.pos = nn.Parameter(torch.zeros(1, n, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, drop=drop) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2) + self.pos
        return self.head(self.norm(self.blocks(tokens)).mean(1))


# Each builder takes (num_outputs, clip_len, (height, width)) and the card entry's options.
RECOGNIZERS: Registry[Callable[..., nn.Module]] = Registry("recognizer architecture")


def _video_vit(num_outputs: int, clip_len: int, hw: tuple[int, int], /, tubelet=(2, 16, 16), **options) -> nn.Module:
    return ViTClassifier(num_outputs, (clip_len, *hw), tuple(tubelet), **options)


def _frame_vit(num_outputs: int, clip_len: int, hw: tuple[int, int], /, patch=16, **options) -> nn.Module:
    patch = int(patch)
    return ViTClassifier(num_outputs, (1, *hw), (0, patch, patch), **options)


RECOGNIZERS.register("video-cnn", lambda num_outputs, clip_len, hw, /, **options: VideoCNN(num_outputs, **options))
RECOGNIZERS.register("frame-cnn", lambda num_outputs, clip_len, hw, /, **options: FrameCNN(num_outputs, **options))
RECOGNIZERS.register("video-vit", _video_vit)
RECOGNIZERS.register("frame-vit", _frame_vit)


def create_recognizer(spec: dict, num_outputs: int, clip_len: int, crop: int | tuple[int, int]) -> nn.Module:
    """Build a recognizer from its card entry: ``{"arch": ..., **options}`` (``arch``: one of :data:`RECOGNIZERS`).

    ``crop`` is the input's spatial size: a square side, or ``(height, width)``
    (STPrivacy's auxiliary recognizers see whole frames).
    """
    options = dict(spec)
    build = RECOGNIZERS.get(str(options.pop("arch", None)))
    h, w = (crop, crop) if isinstance(crop, int) else crop
    return build(num_outputs, clip_len, (h, w), **options)
