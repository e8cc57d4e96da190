"""The non-learned methods: identity, downsampling, and person-region blackening / blurring.

Blackening and blurring act on person regions given as masks (rasterized
boxes). Missing masks are an error, never a silent whole-frame fallback: the
whole frame is used only when the user asks for it (``--boxes whole-frame``).
Blur kernels are the only public values (SPAct's code): strong k=21 sigma=10,
weak k=13 sigma=10; they are applied at the evaluation's working resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.errors import VPBenchError
from ..core.tensors import to_float, to_uint8
from .base import PrivacyMethod, check_videos


class Raw(PrivacyMethod):
    name = "raw"
    identity = True
    description = "identity (the raw videos): the upper bound of both action and privacy recognition"

    def transform(self, videos, person_masks=None):
        check_videos(videos)
        return videos.clone()


class Downsample(PrivacyMethod):
    factor = 2
    description = "bilinear resize to H/f x W/f and back up (VITA's code)"

    def transform(self, videos, person_masks=None):
        check_videos(videos)
        b, t, h, w, _ = videos.shape
        x = to_float(videos).reshape(b, 3 * t, h, w)
        small = F.interpolate(
            x, size=(max(h // self.factor, 1), max(w // self.factor, 1)), mode="bilinear", align_corners=False
        )
        x = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
        return to_uint8(x.reshape(b, 3, t, h, w))


class Downsample2x(Downsample):
    name, factor = "downsample-2x", 2


class Downsample4x(Downsample):
    name, factor = "downsample-4x", 4


def _masks(videos: torch.Tensor, person_masks: torch.Tensor | None, name: str) -> torch.Tensor:
    if person_masks is None:
        raise VPBenchError(
            f"method '{name}' needs person regions: the dataset ships no boxes; pass a boxes file or ask for the "
            f"whole frame explicitly"
        )
    b, t, h, w, _ = videos.shape
    if tuple(person_masks.shape) != (b, t, h, w):
        raise VPBenchError(f"person masks must be B x T x H x W = {(b, t, h, w)}, got {tuple(person_masks.shape)}")
    return person_masks.to(torch.bool)


class Blackening(PrivacyMethod):
    name = "blackening"
    needs_person_masks = True
    description = "person regions set to black"

    def transform(self, videos, person_masks=None):
        check_videos(videos)
        mask = _masks(videos, person_masks, self.name)
        return videos.masked_fill(mask[..., None], 0)


def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    k = torch.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


class Blur(PrivacyMethod):
    needs_person_masks = True
    kernel, sigma = 21, 10.0

    def transform(self, videos, person_masks=None):
        check_videos(videos)
        mask = _masks(videos, person_masks, self.name)
        b, t, h, w, _ = videos.shape
        x = videos.permute(0, 1, 4, 2, 3).reshape(b * t * 3, 1, h, w).float()
        k = gaussian_kernel(self.kernel, self.sigma)
        pad = self.kernel // 2
        # Separable blur with replicated borders (no dark halo at the frame edge).
        x = F.conv2d(F.pad(x, (pad, pad, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
        x = F.conv2d(F.pad(x, (0, 0, pad, pad), mode="replicate"), k.view(1, 1, -1, 1))
        blurred = x.reshape(b, t, 3, h, w).permute(0, 1, 3, 4, 2).round().clamp(0, 255).to(torch.uint8)
        return torch.where(mask[..., None], blurred, videos)


class StrongBlur(Blur):
    name, kernel, sigma = "strongblur", 21, 10.0
    description = "person regions Gaussian-blurred, kernel 21, sigma 10"


class WeakBlur(Blur):
    name, kernel, sigma = "weakblur", 13, 10.0
    description = "person regions Gaussian-blurred, kernel 13, sigma 10"


BUILTIN = (Raw, Downsample2x, Downsample4x, Blackening, StrongBlur, WeakBlur)
