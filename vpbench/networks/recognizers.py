"""Recognizers trained from scratch on transformed videos, the same for every method.

Input convention inside: float ``B x 3 x T x H x W`` (video) or ``B x 3 x H x W``
(frame), normalized. ``paper`` profile: ViT-S (video: 2x16x16 tubelets; frame:
16x16 patches). ``cpu`` profile: small CNNs chosen by measurement on two cores
(see models/recognizers.yaml): a ViT trained from scratch on a few hundred
clips learns poorly, a small 3D CNN learns the same probe in minutes.

``torchvision/<model>``: torchvision's own architectures (:data:`TORCHVISION_VIDEO`,
:data:`TORCHVISION_FRAMES`), built with ``weights=None`` (nothing is ever
downloaded), optionally loaded from a local state dict (``weights: PATH``), with
a new classification head (see :func:`torchvision_recognizer`). The ``spact``
profile is built from them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..core.errors import VPBenchError
from ..core.registry import Registry
from ..core.tensors import MEAN, STD


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


# --- torchvision's architectures ----------------------------------------------------------------------------------

_KINETICS = ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))  # torchvision's VideoClassification preset
_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

# name -> (the key prefix of its classification head, the mean and std its published weights were trained with:
# the ``transforms`` of torchvision's weight enums, e.g. R3D_18_Weights.KINETICS400_V1, Swin3D_T_Weights)
TORCHVISION_VIDEO: dict[str, tuple[str, tuple]] = {
    "r3d_18": ("fc", _KINETICS),
    "mc3_18": ("fc", _KINETICS),
    "r2plus1d_18": ("fc", _KINETICS),
    "mvit_v2_s": ("head.1", ((0.45,) * 3, (0.225,) * 3)),
    "swin3d_t": ("head", _IMAGENET),
}
TORCHVISION_FRAMES: dict[str, tuple[str, tuple]] = {"resnet18": ("fc", _IMAGENET), "resnet50": ("fc", _IMAGENET)}
# torchvision builds mvit_v2_s for one input size (its relative position tables have that size's shape).
_FIXED_INPUT = {"mvit_v2_s": (16, (224, 224))}


class TorchvisionRecognizer(nn.Module):
    """A torchvision model (``net``, whose state dict keys are torchvision's under ``net.``) on vpbench's input.

    The input arrives normalized with vpbench's mean and std (:mod:`vpbench.core.tensors`) and is mapped to the
    per-channel mean and std that torchvision's published weights of the architecture were trained with, so that
    a loaded state dict sees what it was trained on (from scratch, this is a fixed affine map of the input).
    A frame model (``frames``) takes ``N x 3 x H x W`` images, or ``B x 3 x T x H x W`` clips whose ``T``
    per-frame outputs it averages (the same as averaging its pooled features: the head is linear). With no head
    (``feature_dim`` set, an encoder) it returns the pooled features.
    """

    def __init__(self, net: nn.Module, frames: bool, mean, std, feature_dim: int | None = None) -> None:
        super().__init__()
        self.net = net
        self.frames = frames
        self.feature_dim = feature_dim
        std_t = torch.tensor(std, dtype=torch.float32)
        self.register_buffer("scale", (STD / std_t).view(3, 1, 1, 1), persistent=False)
        shift = (MEAN - torch.tensor(mean, dtype=torch.float32)) / std_t
        self.register_buffer("shift", shift.view(3, 1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        video = x.dim() == 5
        scale, shift = (self.scale, self.shift) if video else (self.scale[..., 0], self.shift[..., 0])
        x = x * scale.to(x.dtype) + shift.to(x.dtype)
        if not (self.frames and video):
            return self.net(x)
        b, c, t, h, w = x.shape
        out = self.net(x.transpose(1, 2).reshape(b * t, c, h, w))
        return out.view(b, t, -1).mean(1)


def _read_state_dict(path: Path, arch: str) -> dict:
    if not path.is_file():
        raise VPBenchError(f"{arch}: weights file {path} not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a file that is not a tensor pickle
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise VPBenchError(f"{arch}: {path} is not a readable state dict ({first})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a training checkpoint that keeps its weights under "state_dict"
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(v) for v in state.values()):
        raise VPBenchError(f"{arch}: {path} is not a state dict (a mapping of parameter names to tensors)")
    for prefix in ("module.", "net."):  # nn.DataParallel's wrapper; a saved TorchvisionRecognizer
        if all(str(k).startswith(prefix) for k in state):
            state = {str(k)[len(prefix) :]: v for k, v in state.items()}
    return state


def _keys(keys: list[str], n: int = 3) -> str:
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def load_torchvision_weights(net: nn.Module, path: str | os.PathLike, head: str, arch: str) -> None:
    """Load a local state dict of torchvision's ``arch`` into ``net``, every key but the classification head's.

    The file's head (keys under ``head.``) is dropped and ``net``'s stays as built: a torchvision file with its
    Kinetics-400 or ImageNet head and a fine-tuned file with any number of classes both load, and the head for
    the task starts fresh. Anything else must match exactly; a mismatch is one line naming the first keys."""
    path = Path(path).expanduser()
    state = _read_state_dict(path, arch)
    prefix = head + "."
    state = {k: v for k, v in state.items() if not k.startswith(prefix)}
    own = {k: v for k, v in net.state_dict().items() if not k.startswith(prefix)}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = ([f"missing keys {_keys(missing)}"] if missing else []) + (
            [f"unexpected keys {_keys(unexpected)}"] if unexpected else []
        )
        raise VPBenchError(f"{path} does not match {arch}: {'; '.join(parts)}")
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise VPBenchError(
                f"{path} does not match {arch}: '{k}' has shape {tuple(state[k].shape)} in the file, "
                f"{tuple(v.shape)} in the model"
            )
    net.load_state_dict(state, strict=False)  # strict on everything but the head, checked above


def _spact_layer4(net: nn.Module) -> None:
    """SPAct's R3D-18 (DAVEISHAN/SPAct, anonymization_training/model.py, build_r3d_classifier): layer4's first
    block keeps the temporal size (stride 1 in time, temporal dilation 2); the weights keep their shapes."""
    block = net.layer4[0]
    block.conv1[0] = nn.Conv3d(256, 512, (3, 3, 3), (1, 2, 2), padding=(2, 1, 1), dilation=(2, 1, 1), bias=False)
    block.downsample[0] = nn.Conv3d(256, 512, (1, 1, 1), (1, 2, 2), bias=False)


def _replace_head(net: nn.Module, head: str, num_outputs: int) -> int:
    """Put a fresh ``Linear(features, num_outputs)`` (``nn.Identity`` for 0) where ``head`` is; return features."""
    parent_name, _, leaf = head.rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    old = getattr(parent, leaf) if not leaf.isdigit() else parent[int(leaf)]
    features = old.in_features
    new = nn.Linear(features, num_outputs) if num_outputs else nn.Identity()
    if leaf.isdigit():
        parent[int(leaf)] = new
    else:
        setattr(parent, leaf, new)
    return features


def torchvision_recognizer(
    model: str, num_outputs: int, clip_len: int | None = None, hw: tuple[int, int] | None = None, /, **options
) -> TorchvisionRecognizer:
    """``torchvision/<model>``: torchvision's architecture with ``weights=None`` (never downloaded).

    Options: ``weights`` (a local state dict of torchvision's model, e.g. the file torchvision itself would
    download, or a fine-tuned one: loaded by :func:`load_torchvision_weights`, the head excluded), and for
    ``r3d_18`` ``spact_layer4`` (SPAct's layer4, see :func:`_spact_layer4`). The head is replaced by a new
    ``num_outputs``-wide linear layer (none with ``num_outputs=0``: an encoder with ``feature_dim``).
    Video models take ``B x 3 x T x H x W``; frame models (``resnet18``, ``resnet50``) images or clips (see
    :class:`TorchvisionRecognizer`). ``mvit_v2_s`` exists in torchvision for 16 x 224 x 224 clips only.
    """
    arch = f"torchvision/{model}"
    video = model in TORCHVISION_VIDEO
    head, (mean, std) = (TORCHVISION_VIDEO if video else TORCHVISION_FRAMES)[model]
    allowed = {"weights"} | ({"spact_layer4"} if model == "r3d_18" else set())
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise VPBenchError(f"{arch}: unknown option {', '.join(unknown)}; it takes {', '.join(sorted(allowed))}")
    if model in _FIXED_INPUT and clip_len is not None and hw is not None:
        want_t, want_hw = _FIXED_INPUT[model]
        if (int(clip_len), tuple(int(v) for v in hw)) != (want_t, want_hw):
            raise VPBenchError(
                f"{arch} takes {want_t}-frame {want_hw[0]}x{want_hw[1]} clips (torchvision builds it for that size), "
                f"got {clip_len}-frame {hw[0]}x{hw[1]}; use torchvision/swin3d_t for other sizes"
            )
    import torchvision.models as tvm
    import torchvision.models.video as tvv

    net = getattr(tvv if video else tvm, model)(weights=None)
    if options.get("spact_layer4"):
        _spact_layer4(net)
    if options.get("weights") is not None:
        load_torchvision_weights(net, options["weights"], head, arch)
    features = _replace_head(net, head, int(num_outputs))
    return TorchvisionRecognizer(net, not video, mean, std, None if num_outputs else features)


for _name in (*TORCHVISION_VIDEO, *TORCHVISION_FRAMES):
    RECOGNIZERS.register(f"torchvision/{_name}", functools.partial(torchvision_recognizer, _name))
del _name


def create_recognizer(spec: dict, num_outputs: int, clip_len: int, crop: int | tuple[int, int]) -> nn.Module:
    """Build a recognizer from its card entry: ``{"arch": ..., **options}`` (``arch``: one of :data:`RECOGNIZERS`).

    ``crop`` is the input's spatial size: a square side, or ``(height, width)``
    (STPrivacy's auxiliary recognizers see whole frames).
    """
    options = dict(spec)
    build = RECOGNIZERS.get(str(options.pop("arch", None)))
    h, w = (crop, crop) if isinstance(crop, int) else crop
    return build(num_outputs, clip_len, (h, w), **options)
