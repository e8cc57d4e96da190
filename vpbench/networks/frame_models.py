"""Small 2D models on single frames, of several architecture families.

The learned baselines need frame-level adversaries of *different* architectures
(VITA's budget-model ensemble: ResNets and MobileNets) and a 2D encoder (SPAct's
privacy branch). Input: normalized float ``N x 3 x H x W``. With
``num_outputs=0`` a model returns its pooled features (``feature_dim`` wide).

``norm``: ``batch`` (BatchNorm, the published models') or ``group`` (GroupNorm
with one group: per-sample statistics, so that a batch split over DDP ranks on
CPUs, where BatchNorm cannot be synchronized, computes what one process does).

``torchvision/resnet18`` and ``torchvision/resnet50``: torchvision's ResNets (never
downloaded; ``weights: PATH`` loads a local state dict), as for the recognizers
(:func:`vpbench.networks.recognizers.torchvision_recognizer`); BatchNorm only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

from ..core.errors import VPBenchError
from ..core.registry import Registry
from .recognizers import TORCHVISION_FRAMES, FrameCNN, torchvision_recognizer

NORMS = ("batch", "group")


def _norm(channels: int, norm: str) -> nn.Module:
    if norm not in NORMS:
        raise VPBenchError(f"frame model norm must be one of {', '.join(NORMS)}, got '{norm}'")
    return nn.BatchNorm2d(channels) if norm == "batch" else nn.GroupNorm(1, channels)


def _conv_bn(
    cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1, relu: bool = True, norm: str = "batch"
) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), _norm(cout, norm)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, norm: str = "batch") -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn(cin, cout, 3, stride, norm=norm), _conv_bn(cout, cout, 3, 1, relu=False, norm=norm)
        )
        self.skip = (
            nn.Identity() if stride == 1 and cin == cout else _conv_bn(cin, cout, 1, stride, relu=False, norm=norm)
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.skip(x))


class _PooledFrameModel(nn.Module):
    """``features`` ending in global pooling, then a dropout + linear head (none with ``num_outputs=0``: an encoder)."""

    def _pool_and_head(self, layers: list[nn.Module], dim: int, num_outputs: int, dropout: float) -> None:
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = dim
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, num_outputs)) if num_outputs else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class FrameResNet(_PooledFrameModel):
    """ResNet with basic blocks: a 3x3 stem, one stage per width (stride 2 after the first), global pooling."""

    def __init__(
        self, num_outputs: int, widths=(16, 32, 64), blocks=None, dropout: float = 0.0, norm: str = "batch"
    ) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        blocks = [1] * len(widths) if blocks is None else [int(b) for b in blocks]
        if len(blocks) != len(widths):
            raise VPBenchError(f"frame-resnet: {len(widths)} widths but {len(blocks)} block counts")
        layers, cin = [_conv_bn(3, widths[0], 3, 2, norm=norm)], widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(_BasicBlock(cin, w, 2 if (i > 0 and j == 0) else 1, norm))
                cin = w
        self._pool_and_head(layers, cin, num_outputs, dropout)


class FrameMobileNet(_PooledFrameModel):
    """MobileNet-v1 style: depthwise-separable convolutions, a width multiplier (VITA's ensemble has 1.0 and 0.75)."""

    def __init__(
        self,
        num_outputs: int,
        widths=(16, 32, 64, 128),
        width_mult: float = 1.0,
        dropout: float = 0.0,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        widths = [max(4, round(int(w) * float(width_mult))) for w in widths]
        layers, cin = [_conv_bn(3, widths[0], 3, 2, norm=norm)], widths[0]
        for i, w in enumerate(widths[1:]):
            layers += [_conv_bn(cin, cin, 3, 2 if i < 3 else 1, groups=cin, norm=norm), _conv_bn(cin, w, 1, norm=norm)]
            cin = w
        self._pool_and_head(layers, cin, num_outputs, dropout)


def _frame_cnn(num_outputs: int, **options) -> nn.Module:
    if not num_outputs:
        raise VPBenchError(
            "frame-cnn always has a classification head; use frame-resnet or frame-mobilenet as an encoder"
        )
    return FrameCNN(num_outputs, **options)


# Each builder takes num_outputs (0: an encoder returning its pooled features) and the spec's options.
FRAME_MODELS: Registry[Callable[..., nn.Module]] = Registry("frame model architecture")
FRAME_MODELS.register("frame-cnn", _frame_cnn)
FRAME_MODELS.register("frame-resnet", FrameResNet)
FRAME_MODELS.register("frame-mobilenet", FrameMobileNet)
for _name in TORCHVISION_FRAMES:
    FRAME_MODELS.register(f"torchvision/{_name}", functools.partial(torchvision_recognizer, _name))
del _name


def create_frame_model(spec: dict, num_outputs: int) -> nn.Module:
    """Build a frame model from ``{"arch": ..., **options}``: frame-cnn, frame-resnet, frame-mobilenet or
    torchvision/resnet18 / resnet50."""
    spec = dict(spec)
    arch = str(spec.pop("arch", None))
    build = FRAME_MODELS.get(arch)
    try:
        return build(num_outputs, **spec)
    except TypeError as exc:
        raise VPBenchError(f"frame model '{arch}': bad options {spec} ({exc})") from None


class ProjectedEncoder(nn.Module):
    """A frame encoder and a two-layer projection MLP with L2-normalized output (SimCLR-style, SPAct's privacy
    branch)."""

    def __init__(self, encoder: nn.Module, hidden: int, out: int) -> None:
        super().__init__()
        dim = getattr(encoder, "feature_dim", None)
        if dim is None:
            raise VPBenchError("the privacy encoder must be a frame model built with num_outputs=0")
        self.encoder = encoder
        self.mlp = nn.Sequential(nn.Linear(dim, int(hidden)), nn.ReLU(inplace=True), nn.Linear(int(hidden), int(out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.mlp(self.encoder(x)), dim=1)
