"""What the learned frame-wise baselines (VITA, SPAct, Collective) share.

Each trains a frame-to-frame anonymizer (:class:`FrameAnonymizer`) against
adversaries; this module holds the parts that do not depend on the
adversarial recipe: the method's settings from its model card, random clips
and frames drawn from :class:`FitData`, the reconstruction (identity)
initialization, supervised pre-training of a video recognizer, a fit made of
checkpointed stages (a killed fit resumes), and transform / checkpoint state
in the one format every method uses.

Under torchrun the fits follow :mod:`vpbench.core.distributed`'s rule: every rank
draws the random numbers of the whole global batch (the same as one process
draws), decodes and trains on its own share of it (:meth:`ClipDraw.clips`
returns that share), weights its loss by the share, and trains the networks
through DistributedDataParallel; the logged losses are the global batch's.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core import distributed
from ..core.checkpoint import Checkpointer
from ..core.errors import VPBenchError
from ..core.optim import optimizer_step
from ..core.tensors import normalized, to_device, to_float, to_uint8
from ..data.frames.sampling import random_clip
from ..networks.anonymizers import AnonymizerConfig, FrameAnonymizer
from .base import FitContext, PrivacyMethod, check_videos


def optional_weight(name: str, value) -> float | None:
    """A loss-weight option: ``None`` (take the profile's) or a number >= 0."""
    if value is not None and float(value) < 0:
        raise VPBenchError(f"{name} must be >= 0, got {value}")
    return None if value is None else float(value)


def seeded_draw(data, settings: dict, context: FitContext) -> tuple[np.random.Generator, "ClipDraw", int]:
    """What every baseline's fit starts from: torch and numpy seeded from ``seed``, and the clip
    drawer over the training videos at the method's clip length (else the run's), whose batches
    land on the configured device (:func:`vpbench.core.distributed.device`)."""
    torch.manual_seed(context.seed)
    rng = np.random.default_rng(context.seed)
    clip_len = int(settings.get("clip_len", context.clip_len))
    return rng, ClipDraw(data.videos, clip_len, rng, distributed.device()), clip_len


def local_part(sel) -> tuple[np.ndarray, float]:
    """This rank's items of the global batch ``sel`` (what :meth:`ClipDraw.clips` returns clips of) and its
    loss weight; alone: all of ``sel`` at weight 1."""
    part, weight = distributed.local_share(len(sel))
    return np.asarray(sel)[part], weight


def logged(weight: float, value: float) -> float:
    """The global batch's mean of a per-item loss, from this rank's share-weighted one (logs match across world
    sizes)."""
    return distributed.mean_across(weight * value)


class ClipDraw:
    """Random clips and frames of the training videos, as float [0, 1] tensors ``B x 3 x T x H x W`` on ``device``
    (moved there as uint8, a quarter of the float bytes, and converted there).

    ``clips(sel)`` and ``frames(sel, k)`` draw the random numbers of all of ``sel`` and return this rank's
    share of it (:func:`local_part`; alone: all of it), so that every rank's generator stays in step."""

    def __init__(
        self, videos: list, clip_len: int, rng: np.random.Generator, device: torch.device | str = "cpu"
    ) -> None:
        if not videos:
            raise VPBenchError("no training videos to fit the method on")
        self.videos, self.clip_len, self.rng = videos, int(clip_len), rng
        self.device = torch.device(device)

    def __len__(self) -> int:
        return len(self.videos)

    def clips(self, sel) -> torch.Tensor:
        """Random clips of this rank's share of the videos ``sel``."""
        picks = [random_clip(len(self.videos[int(k)]), self.clip_len, self.rng) for k in sel]
        out = [
            torch.from_numpy(np.ascontiguousarray(self.videos[int(sel[i])][picks[i]]))
            for i in distributed.local_share(len(sel))[0]
        ]
        return to_float(to_device(torch.stack(out), self.device))

    def frames(self, sel, per_video: int) -> torch.Tensor:
        """``per_video`` distinct random frames of each video of this rank's share of ``sel`` (in time order), ``B
        x 3 x k x H x W``."""
        picks = []
        for k in sel:
            v = self.videos[int(k)]
            n = min(per_video, len(v))
            idx = np.sort(self.rng.choice(len(v), n, replace=False))
            if n < per_video:  # a very short video: repeat its last frame
                idx = np.concatenate([idx, np.full(per_video - n, len(v) - 1)])
            picks.append(idx)
        out = [
            torch.from_numpy(np.ascontiguousarray(self.videos[int(sel[i])][picks[i]]))
            for i in distributed.local_share(len(sel))[0]
        ]
        return to_float(to_device(torch.stack(out), self.device))

    def batches(self, indices: np.ndarray, batch: int):
        """One epoch of batches of ``indices`` in random order."""
        order = indices[self.rng.permutation(len(indices))]
        for b in range(0, len(order), batch):
            yield order[b : b + batch]

    def pick(self, indices: np.ndarray, batch: int) -> np.ndarray:
        """A random batch of ``indices`` (without replacement when there are enough)."""
        return self.rng.choice(indices, min(batch, len(indices)), replace=False)


def subsample_frames(video: torch.Tensor, k: int, rng: np.random.Generator) -> torch.Tensor:
    """``k`` random frames (in time order) of ``B x C x T x H x W``."""
    t = video.shape[2]
    if k >= t:
        return video
    return video[:, :, np.sort(rng.choice(t, k, replace=False))]


def mean(values: list[float]) -> float:
    return round(float(np.mean(values)), 4) if values else float("nan")


def reconstruction_steps(
    net: FrameAnonymizer,
    opt: torch.optim.Optimizer,
    draw: ClipDraw,
    indices: np.ndarray,
    steps: int,
    batch: int,
    frames_per_video: int,
    lr: float,
    grad_clip: float | None,
    bar=None,
) -> list[float]:
    """Train the anonymizer towards the identity (L1 reconstruction), as VITA and SPAct initialize theirs.
    ``net``: the anonymizer, or its DDP wrapper under torchrun (as ``model`` of :func:`recognizer_epoch`)."""
    net.train()
    losses = []
    for _ in range(int(steps)):
        sel = draw.pick(indices, batch)
        x = draw.frames(sel, frames_per_video)
        _, weight = local_part(sel)
        with distributed.autocast():
            loss = F.l1_loss(net(x), x)
        optimizer_step(opt, net.parameters(), weight * loss, lr, grad_clip)
        losses.append(logged(weight, loss.item()))
        if bar is not None:
            bar.update()
    return losses


def recognizer_epoch(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    draw: ClipDraw,
    indices: np.ndarray,
    targets: torch.Tensor,
    batch: int,
    lr: float,
    grad_clip: float | None,
    bar=None,
) -> list[float]:
    """One epoch of supervised pre-training on raw clips (what the identity-initialized anonymizer passes through)."""
    model.train()
    multi = targets.is_floating_point()  # float multi-hot: privacy labels; integers: action classes
    losses = []
    for sel in draw.batches(indices, batch):
        x = draw.clips(sel)
        mine, weight = local_part(sel)
        t = targets[torch.as_tensor(mine)]
        with distributed.autocast():
            logits = model(normalized(x))
            loss = F.binary_cross_entropy_with_logits(logits, t) if multi else F.cross_entropy(logits, t)
        optimizer_step(opt, model.parameters(), weight * loss, lr, grad_clip)
        losses.append(logged(weight, loss.item()))
        if bar is not None:
            bar.update()
    return losses


def data_digest(*arrays, videos: list) -> str:
    """Identifies the training data a fit checkpoint belongs to (the labels the method reads, and clip lengths)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a)).tobytes())
    h.update(str([len(v) for v in videos]).encode())
    return h.hexdigest()


class StagedFit:
    """A fit as named stages of units (epochs, or chunks of steps), checkpointed after every unit.

    ``report`` (a method passes ``FitContext.report``) is called with the log after every unit.

    With a ``checkpoint_dir`` (``vpbench evaluate`` passes ``<run>.work/``), a
    killed fit resumes from the last finished unit with models, optimizers,
    random generators and the fit log restored, and ends as an uninterrupted
    fit would (:class:`vpbench.core.checkpoint.Checkpointer`). Every stage lists
    all the objects trained so far, so the stage a fit stopped in restores
    everything.
    """

    def __init__(
        self, checkpoint_dir, rng: np.random.Generator, settings: dict, log: dict, bar=None, report=None
    ) -> None:
        self.ckpt = Checkpointer(None if checkpoint_dir is None else Path(checkpoint_dir) / "fit.pt", rng, settings)
        self.log, self.bar = log, bar
        self.report = report  # FitContext.report: the fit log after every unit (for training curves)

    def run(
        self, stage: str, objects: dict, units: int, unit, steps_per_unit: int = 1, *, bar=None, started=None
    ) -> None:
        """Run ``unit(k)`` for the units ``k`` not done yet; ``steps_per_unit`` only moves the bar past done ones.

        ``bar``: this stage's own progress bar (default: the fit's, if any). ``started()``: called once the stage is
        restored (or found done), before its first unit: what must follow the restore, such as a DDP wrap."""
        first, saved = self.ckpt.start(stage, objects)
        if "log" in saved:
            self.log.clear()
            self.log.update(saved["log"])
        first = units if first is None else first
        bar = self.bar if bar is None else bar
        if bar is not None:
            bar.update(first * steps_per_unit)
        if started is not None:
            started()
        for k in range(first, units):
            unit(k)
            self.ckpt.save(k + 1, log=self.log)
            if self.report is not None:
                self.report(self.log)


def chunks(steps: int, size: int) -> tuple[int, callable]:
    """``steps`` split into units of at most ``size``: the number of units and ``k -> range of steps``."""
    size = max(1, int(size))
    return math.ceil(int(steps) / size), lambda k: range(k * size, min((k + 1) * size, int(steps)))


def identity_stage(
    fit: StagedFit, name: str, net, opt, ddp_net, draw, indices, settings: dict, clip, log: dict
) -> None:
    """The baselines' first stage: the anonymizer trained towards the identity (L1 reconstruction) for
    ``recon_steps`` steps, checkpointed every ``checkpoint_every`` steps."""
    size = int(settings.get("checkpoint_every", 50))
    units, steps_of = chunks(int(settings["recon_steps"]), size)
    recon = (int(settings["recon_batch"]), int(settings["recon_frames"]), float(settings["lr_recon"]))
    fit.bar.set_description(f"{name}: identity init")
    fit.run(
        "identity",
        {"net": net, "opt": opt},
        units,
        lambda k: log["recon_l1"].append(
            mean(reconstruction_steps(ddp_net, opt, draw, indices, len(steps_of(k)), *recon, clip, fit.bar))
        ),
        size,
    )


class FrameAnonymizerMethod(PrivacyMethod):
    """A learned method whose trained state is one :class:`FrameAnonymizer` applied frame by frame."""

    learned = True

    def __init__(self) -> None:
        self.net: FrameAnonymizer | None = None
        self.frame_interval = 1  # the training clips' frame interval, reused by `vpbench anonymize`
        self.log: dict = {}

    def _new_net(self, settings: dict, context: FitContext) -> FrameAnonymizer:
        """The anonymizer, initialized on the CPU (the same weights whatever the device) and moved to the
        configured device."""
        spec = dict(settings["anonymizer"])
        arch = spec.pop("arch")
        h, w = context.frame_size
        self.frame_interval = context.frame_interval
        self.net = FrameAnonymizer(
            AnonymizerConfig(arch=arch, options=spec, height=h, width=w, frames=context.clip_len)
        )
        return self.net.to(distributed.device())

    def _require_net(self) -> FrameAnonymizer:
        if self.net is None:
            raise VPBenchError(f"{self.name} is not trained: train it with `vpbench evaluate` or pass --checkpoint")
        return self.net

    @torch.no_grad()
    def transform(self, videos: torch.Tensor, person_masks=None) -> torch.Tensor:
        check_videos(videos)
        net = self._require_net()
        cfg = net.config
        h, w = videos.shape[2:4]
        if (h, w) != (cfg.height, cfg.width):
            raise VPBenchError(
                f"{self.name} was trained on {cfg.height}x{cfg.width} frames, got {h}x{w} (vpbench "
                f"anonymize resizes for you)"
            )
        net.eval()
        dev = distributed.device()
        net.to(dev)  # a loaded checkpoint sits on the CPU; a fitted net already on the device
        with distributed.autocast():
            out = net(to_float(to_device(videos, dev)))
        return to_uint8(out.float()).cpu()  # rounded from float32 whatever the pass's precision

    def state_dict(self) -> dict:
        net = self._require_net()
        weights = {k: v.detach().cpu() for k, v in net.state_dict().items()}  # a checkpoint loads anywhere
        return {
            "config": asdict(net.config),
            "weights": weights,
            "frame_interval": self.frame_interval,
            "log": self.log,
        }

    def load_state_dict(self, state: dict) -> None:
        try:
            net = FrameAnonymizer(AnonymizerConfig(**state["config"]))
            net.load_state_dict(state["weights"])
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
            # A checkpoint is untrusted input: any malformed part is a one-line user error.
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
            raise VPBenchError(f"not a valid {self.name} checkpoint ({reason})") from None
        net.eval()
        self.net = net
        self.frame_interval = int(state.get("frame_interval", 1))
        self.log = state.get("log", {})
