"""Training and multi-view testing of recognizers on a :class:`FrameStore`.

One place for the sampling rules of every protocol: training draws one
random clip and one random square crop per video per epoch (no horizontal
flip: VP-Synth's walk_left/walk_right and real left/right actions would be
confused); testing averages softmax (actions) or sigmoid (privacy) scores
over ``num_clips`` evenly spaced clips x ``num_crops`` crops per video.

Every loop runs on :func:`vpbench.core.distributed.device` (batches are decoded on
the CPU, moved there as uint8, and the scores come back to the CPU) with its
forward passes in :func:`vpbench.core.distributed.autocast` (``--precision``).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core import distributed
from ..core.checkpoint import Checkpointer
from ..core.optim import cosine_lr, optimizer_step
from ..core.tensors import normalize, to_device
from ..data.frames.sampling import ClipSampler, crop_boxes, random_clip, random_crop_box
from ..data.frames.store import FrameStore


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    clip_len: int = 16
    crop: int = 64
    grad_clip: float | None = 5.0

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def clip_tensor(store: FrameStore, video: int, idx: np.ndarray, crop: tuple[int, int, int, int]) -> torch.Tensor:
    """uint8 ``T x h x w x 3``: frames ``idx`` of one video, cropped (one view)."""
    return torch.from_numpy(np.ascontiguousarray(store.frames_at(video, idx, crop)))


def _settings(cfg: TrainConfig, seed: int, task: str, items: np.ndarray, targets) -> dict:
    """What a training checkpoint must have been written for: the config, the seed and the exact data."""
    data = hashlib.sha256(np.ascontiguousarray(items).tobytes() + np.ascontiguousarray(targets).tobytes()).hexdigest()
    return {"config": asdict(cfg), "seed": int(seed), "task": task, "data": data}


def _loss(task: str, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if task == "action":
        return F.cross_entropy(logits, target)
    return F.binary_cross_entropy_with_logits(logits, target)


def train_video_recognizer(
    model: nn.Module,
    store: FrameStore,
    videos: np.ndarray,
    targets: np.ndarray,
    task: str,
    cfg: TrainConfig,
    seed: int,
    progress: bool = True,
    desc: str = "training",
    checkpoint: str | os.PathLike | None = None,
    on_epoch=None,
) -> dict:
    """Train ``model`` on random clips of ``videos`` (store indices). ``task``: "action" or "privacy".
    ``on_epoch(epoch, loss)`` is called after each epoch with its mean training loss (training curves).

    With ``checkpoint``, the state after every epoch is written there, and an
    existing file (from a killed run) is resumed: the result is the same as
    an uninterrupted training's.
    """
    from ..core.progress import Progress

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    h, w = store.frame_size
    steps_per_epoch = max(1, math.ceil(len(videos) / cfg.batch_size))
    total = cfg.epochs * steps_per_epoch
    dev = distributed.device()
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    target_t = torch.tensor(np.asarray(targets), dtype=torch.long if task == "action" else torch.float32)
    ckpt = Checkpointer(checkpoint, rng, _settings(cfg, seed, task, videos, targets))
    first, saved = ckpt.start(task, {"model": model, "optimizer": opt})
    ddp = distributed.wrap(model)
    model.train()
    step, losses = first * steps_per_epoch, list(saved.get("losses", []))
    with Progress(
        total=total,
        initial=step,
        desc=desc,
        unit="step",
        disable=not progress,
    ) as bar:
        for epoch in range(first, cfg.epochs):
            order = rng.permutation(len(videos))
            for b in range(steps_per_epoch):
                sel = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                # Every rank draws the views of the whole global batch (the same numbers a single
                # process draws), then decodes only its own share of them.
                views = []
                for k in sel:
                    v = int(videos[k])
                    idx = random_clip(store.num_frames(v), cfg.clip_len, rng)
                    views.append((v, idx, random_crop_box(h, w, cfg.crop, rng)))
                part, weight = distributed.local_share(len(sel))
                clips = [clip_tensor(store, v, idx, box) for v, idx, box in (views[i] for i in part)]
                batch = normalize(to_device(torch.stack(clips), dev).permute(0, 4, 1, 2, 3))
                with distributed.autocast():
                    loss = weight * _loss(task, ddp(batch), target_t[torch.as_tensor(sel[part])].to(dev))
                lr = cosine_lr(step, total, int(cfg.warmup_epochs * steps_per_epoch), cfg.lr)
                optimizer_step(opt, model.parameters(), loss, lr, cfg.grad_clip)
                losses.append(distributed.mean_across(loss.item()))
                step += 1
                bar.update()
                bar.set_postfix(loss=f"{np.mean(losses[-steps_per_epoch:]):.3f}")
            losses = losses[-steps_per_epoch:]
            ckpt.save(epoch + 1, losses=losses)
            if on_epoch is not None:
                on_epoch(epoch + 1, float(np.mean(losses)))
    return {"steps": step, "final_loss": float(np.mean(losses[-steps_per_epoch:]))}


@torch.no_grad()
def predict_videos(
    model: nn.Module,
    store: FrameStore,
    videos: np.ndarray,
    task: str,
    clip_len: int,
    crop: int,
    num_clips: int = 5,
    num_crops: int = 3,
    progress: bool = True,
    desc: str = "testing",
) -> np.ndarray:
    """Per-video scores averaged over clips x crops: softmax (action) or sigmoid (privacy)."""
    from ..core.progress import Progress

    model.eval()
    dev = distributed.device()
    model.to(dev)
    h, w = store.frame_size
    crops = crop_boxes(h, w, crop, num_crops)
    sampler = ClipSampler(clip_len=clip_len, frame_interval=1, num_clips=num_clips, mode="test")
    out = []
    part, _ = distributed.share(len(videos))  # each rank tests its share; the scores are gathered below
    for v in Progress(videos[part], desc=desc, unit="video", disable=not progress):
        v = int(v)
        views = [clip_tensor(store, v, idx, c) for idx in sampler(store.num_frames(v)) for c in crops]
        with distributed.autocast():
            logits = model(normalize(to_device(torch.stack(views), dev).permute(0, 4, 1, 2, 3)))
        logits = logits.float()  # scores in float32 whatever the precision of the pass (numpy has no bf16)
        probs = logits.softmax(-1) if task == "action" else logits.sigmoid()
        out.append(probs.mean(0).cpu().numpy())
    local = np.stack(out).astype(np.float64) if out else np.zeros((0, 0))
    return distributed.gather_rows(local, len(videos))


def train_frame_recognizer(
    model: nn.Module,
    store: FrameStore,
    videos: np.ndarray,
    cfg: TrainConfig,
    seed: int,
    progress: bool = True,
    desc: str = "training frame privacy",
    checkpoint: str | os.PathLike | None = None,
    on_epoch=None,
) -> dict:
    """Train a 2D multi-label recognizer on single frames with their frame labels (``checkpoint``, ``on_epoch``: as
    for videos)."""
    from ..core.progress import Progress

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    h, w = store.frame_size
    frames = np.concatenate([store.rows(int(v)) for v in videos])  # pool rows
    steps_per_epoch = max(1, math.ceil(len(frames) / cfg.batch_size))
    total = cfg.epochs * steps_per_epoch
    dev = distributed.device()
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    labels = torch.as_tensor(store.frame_labels, dtype=torch.float32)
    ckpt = Checkpointer(checkpoint, rng, _settings(cfg, seed, "frame_privacy", frames, store.frame_labels[frames]))
    first, saved = ckpt.start("frame_privacy", {"model": model, "optimizer": opt})
    ddp = distributed.wrap(model)
    model.train()
    step, losses = first * steps_per_epoch, list(saved.get("losses", []))
    with Progress(total=total, initial=step, desc=desc, unit="step", disable=not progress) as bar:
        for epoch in range(first, cfg.epochs):
            order = frames[rng.permutation(len(frames))]
            for b in range(steps_per_epoch):
                sel = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                ys = rng.integers(0, h - cfg.crop + 1, len(sel))
                xs = rng.integers(0, w - cfg.crop + 1, len(sel))
                part, weight = distributed.local_share(len(sel))
                sel, ys, xs = sel[part], ys[part], xs[part]
                whole = store.frames[sel]  # one read of the batch's frames, then a crop of each
                imgs = torch.stack(
                    [
                        torch.from_numpy(np.ascontiguousarray(img[y : y + cfg.crop, x : x + cfg.crop]))
                        for img, y, x in zip(whole, ys, xs)
                    ]
                )
                with distributed.autocast():
                    logits = ddp(normalize(to_device(imgs, dev).permute(0, 3, 1, 2)))
                    loss = weight * F.binary_cross_entropy_with_logits(logits, labels[torch.as_tensor(sel)].to(dev))
                lr = cosine_lr(step, total, int(cfg.warmup_epochs * steps_per_epoch), cfg.lr)
                optimizer_step(opt, model.parameters(), loss, lr, cfg.grad_clip)
                losses.append(distributed.mean_across(loss.item()))
                step += 1
                bar.update()
            losses = losses[-steps_per_epoch:]
            ckpt.save(epoch + 1, losses=losses)
            if on_epoch is not None:
                on_epoch(epoch + 1, float(np.mean(losses)))
    return {"steps": step, "final_loss": float(np.mean(losses[-steps_per_epoch:]))}


@torch.no_grad()
def predict_frames(
    model: nn.Module, store: FrameStore, videos: np.ndarray, crop: int, num_crops: int = 3, batch: int = 256
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sigmoid scores per frame (averaged over crops), the frame labels, and each frame's video."""
    model.eval()
    dev = distributed.device()
    model.to(dev)
    h, w = store.frame_size
    crops = crop_boxes(h, w, crop, num_crops)
    frames = np.concatenate([store.rows(int(v)) for v in videos])  # pool rows
    owner = np.concatenate([np.full(store.num_frames(v), v) for v in videos])
    probs = []
    for i in range(0, len(frames), batch):
        sel = frames[i : i + batch]
        acc = 0
        whole = store.frames[sel]  # read once, cropped three ways
        for y0, x0, y1, x1 in crops:
            imgs = to_device(torch.from_numpy(np.ascontiguousarray(whole[:, y0:y1, x0:x1])), dev)
            with distributed.autocast():
                logits = model(normalize(imgs.permute(0, 3, 1, 2)))
            acc = acc + logits.float().sigmoid()
        probs.append((acc / len(crops)).float().cpu().numpy())
    return np.concatenate(probs).astype(np.float64), store.frame_labels[frames].astype(np.int64), owner
