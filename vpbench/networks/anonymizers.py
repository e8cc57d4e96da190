"""Frame-wise anonymizer networks of the learned baselines: VITA's degradation net, SPAct's UNet.

Both map one frame to one frame in pixel space: input float ``B x 3 x H x W``
in [0, 1], output in [0, 1]. :class:`FrameAnonymizer` applies one to every
frame of a video ``B x 3 x T x H x W`` and carries the settings a checkpoint
needs to rebuild it (``config``: architecture, options, working resolution,
training clip length: what `vpbench anonymize` reads).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..core.errors import VPBenchError
from ..core.registry import Registry


def _conv_in(cin: int, cout: int, kernel: int, stride: int, relu: bool = True) -> nn.Sequential:
    """Conv + instance norm (+ ReLU), 'same' padding: the layer of Johnson et al.'s transformation net."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2), nn.InstanceNorm2d(cout, affine=True, eps=1e-3)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_in(channels, channels, 3, 1), _conv_in(channels, channels, 3, 1, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DegradationNet(nn.Module):
    """VITA's degradation model (ITNet, after Johnson et al.): 9x9 conv, two stride-2 convs,
    residual blocks, two stride-2 deconvs, 9x9 conv, output ``(tanh + 1) / 2``.

    ``widths`` are the three stage widths (VITA: 32, 64, 128); ``blocks`` the
    residual blocks (VITA: 5); ``outer_kernel`` the first and last kernel (VITA: 9).
    Any frame size works: the deconvolutions are cropped back to the input size.
    """

    def __init__(self, widths=(32, 64, 128), blocks: int = 5, outer_kernel: int = 9) -> None:
        super().__init__()
        w1, w2, w3 = (int(w) for w in widths)
        self.down = nn.Sequential(_conv_in(3, w1, outer_kernel, 1), _conv_in(w1, w2, 3, 2), _conv_in(w2, w3, 3, 2))
        self.res = nn.Sequential(*[_Residual(w3) for _ in range(int(blocks))])
        self.up1 = nn.ConvTranspose2d(w3, w2, 3, 2, 1, output_padding=1)
        self.norm1 = nn.Sequential(nn.InstanceNorm2d(w2, affine=True, eps=1e-3), nn.ReLU(inplace=True))
        self.up2 = nn.ConvTranspose2d(w2, w1, 3, 2, 1, output_padding=1)
        self.norm2 = nn.Sequential(nn.InstanceNorm2d(w1, affine=True, eps=1e-3), nn.ReLU(inplace=True))
        self.out = _conv_in(w1, 3, outer_kernel, 1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        y = self.norm1(self.up1(self.res(self.down(x))))
        y = self.norm2(self.up2(y)[..., :h, :w])  # odd sizes come back one pixel larger: crop
        return (torch.tanh(self.out(y)) + 1) / 2


def _double_conv(cin: int, cout: int, mid: int | None = None) -> nn.Sequential:
    mid = mid or cout
    return nn.Sequential(
        nn.Conv2d(cin, mid, 3, padding=1, bias=False),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class _Up(nn.Module):
    """Bilinear upsampling, pad to the skip connection's size, concatenate, double conv."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv = _double_conv(cin, cout, cin // 2)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        dy, dx = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
        x = nn.functional.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([skip, x], 1))


class UNet(nn.Module):
    """SPAct's anonymizer: the UNet of Ronneberger et al. (bilinear variant), sigmoid output.

    ``width`` is the first stage's channels and ``depth`` the number of
    down-sampling stages (SPAct: 64 and 4, i.e. 64 ... 1024 channels).
    """

    def __init__(self, width: int = 64, depth: int = 4) -> None:
        super().__init__()
        chs = [int(width) * 2**i for i in range(int(depth) + 1)]
        self.inc = _double_conv(3, chs[0])
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), _double_conv(chs[i - 1], chs[i] if i < depth else chs[i] // 2))
            for i in range(1, depth + 1)
        )
        self.ups = nn.ModuleList(_Up(chs[i], chs[i - 1] // 2 if i > 1 else chs[0]) for i in range(depth, 0, -1))
        self.outc = nn.Conv2d(chs[0], 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up in self.ups:
            y = up(y, skips.pop())
        return torch.sigmoid(self.outc(y))


# AnonymizerConfig.arch -> the frame-to-frame network, built from AnonymizerConfig.options.
ANONYMIZERS: Registry[type[nn.Module]] = Registry("anonymizer architecture", base=nn.Module)
ANONYMIZERS.register("degradation", DegradationNet)
ANONYMIZERS.register("unet", UNet)


@dataclass
class AnonymizerConfig:
    """What rebuilds a trained anonymizer: architecture and options, plus the data it was trained on."""

    arch: str
    options: dict = field(default_factory=dict)
    height: int = 112  # the working resolution of training (`vpbench anonymize` resizes to it)
    width: int = 112
    frames: int = 16  # the training clip length (`vpbench anonymize` cuts windows of it)


class FrameAnonymizer(nn.Module):
    """Applies a frame-to-frame network to every frame of ``B x 3 x T x H x W`` videos in [0, 1]."""

    def __init__(self, config: AnonymizerConfig) -> None:
        super().__init__()
        build = ANONYMIZERS.get(str(config.arch))
        try:
            self.body = build(**config.options)
        except TypeError as exc:
            raise VPBenchError(f"anonymizer '{config.arch}': bad options {config.options} ({exc})") from None
        self.config = config

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        """``N x 3 x H x W`` -> same."""
        return self.body(x)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Videos ``B x 3 x T x H x W``, or frames ``N x 3 x H x W``, -> same shape.

        Frames go through ``forward`` too, not only :meth:`frames`: DistributedDataParallel
        synchronizes the gradients of what passes through its wrapper's forward only."""
        if video.ndim == 4:
            return self.body(video)
        b, c, t, h, w = video.shape
        flat = video.transpose(1, 2).reshape(b * t, c, h, w)
        return self.body(flat).reshape(b, t, c, h, w).transpose(1, 2)
