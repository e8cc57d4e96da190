"""How much of the raw picture a transformed video keeps: PSNR and SSIM against the raw frames.

Measured per test video over all its frames at the working resolution (torchmetrics' PSNR and SSIM, on RGB
in [0, 1]: SSIM with its default 11-pixel Gaussian window), then averaged over videos. The same figures
for uniform noise in place of the transformed video give the floor a result is read against: a method
whose output no person can read sits near it.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.frames.store import FrameStore

PSNR_CAP_DB = 100.0  # identical frames have an infinite PSNR; they are reported at this cap
NOISE_VIDEOS = 32  # the noise floor is measured on the first videos only: it hardly varies between videos
_BATCH = 64  # frames per SSIM call: bounds memory at any resolution


def _as_float(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)


def frame_fidelity(raw: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """Mean PSNR (dB, capped) and mean SSIM over the frames of one video (uint8 ``T x H x W x 3`` each)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    psnr, ssim = [], []
    for i in range(0, len(raw), _BATCH):
        a, b = _as_float(raw[i : i + _BATCH]), _as_float(other[i : i + _BATCH])
        p = peak_signal_noise_ratio(b, a, data_range=1.0, reduction="none", dim=(1, 2, 3))
        psnr.append(p.clamp(max=PSNR_CAP_DB))
        # 11-pixel window: frames smaller than it (tiny test profiles) use the largest odd window that fits.
        k = min(11, min(a.shape[-2:]) - (1 - min(a.shape[-2:]) % 2))
        ssim.append(structural_similarity_index_measure(b, a, data_range=1.0, kernel_size=k, reduction="none"))
    return float(torch.cat(psnr).mean()), float(torch.cat(ssim).mean())


def video_fidelity(raw: FrameStore, transformed: FrameStore, videos: np.ndarray, seed: int = 0) -> dict:
    """Per-video PSNR and SSIM of ``transformed`` against ``raw`` (same indices), and the noise floor:
    the same figures for uniform noise (seeded) on the first :data:`NOISE_VIDEOS` videos."""
    psnr, ssim = np.empty(len(videos)), np.empty(len(videos))
    for j, v in enumerate(videos):
        psnr[j], ssim[j] = frame_fidelity(raw.video(int(v)), transformed.video(int(v)))
    rng = np.random.default_rng(seed)
    noise = [
        frame_fidelity(frames, rng.integers(0, 256, frames.shape, dtype=np.uint8))
        for frames in (raw.video(int(v)) for v in videos[:NOISE_VIDEOS])
    ]
    return {
        "psnr": psnr,
        "ssim": ssim,
        "noise_psnr": float(np.mean([n[0] for n in noise])),
        "noise_ssim": float(np.mean([n[1] for n in noise])),
    }
