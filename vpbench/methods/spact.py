"""SPAct (Dave et al., CVPR 2022): self-supervised privacy removal, no privacy labels.

A UNet anonymizer f_a, initialized towards the identity by L1 reconstruction;
a privacy branch f_b (2D encoder + projection MLP) trained with NT-Xent
(temperature 0.1) to match two augmented views of each frame after f_a; an
action branch f_t on anonymized clips. Minimax, alternating batch by batch as
the public code does: f_a minimizes ``-NT-Xent + w * CE_action`` (f_b and f_t
frozen, in eval mode), then f_b minimizes NT-Xent and f_t minimizes CE on
the anonymized (detached) inputs.

The method never reads ``FitData.privacy``: that is the point of SPAct, and a
test holds it to it. Settings per profile live in ``models/methods/spact.yaml``;
its ``choices`` list every departure from the public code (DAVEISHAN/SPAct).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core import distributed
from ..core.optim import optimizer_step
from ..core.tensors import normalized
from ..networks.frame_models import ProjectedEncoder, create_frame_model
from ..networks.recognizers import create_recognizer
from .anonymizer_method import (
    FrameAnonymizerMethod,
    StagedFit,
    chunks,
    data_digest,
    identity_stage,
    local_part,
    logged,
    mean,
    optional_weight,
    recognizer_epoch,
    seeded_draw,
)
from .base import FitContext, FitData


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's NT-Xent over ``2N`` embeddings: each view's positive is the other view of its frame, the
    ``2N - 2`` other embeddings are its negatives; cosine similarity / temperature; mean over all ``2N`` anchors."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    sim = (z @ z.t()) / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, targets)


def contrast(z1: torch.Tensor, z2: torch.Tensor, n: int, temperature: float) -> torch.Tensor:
    """NT-Xent over the whole global batch of ``n`` frames, from this rank's embeddings of its share (alone:
    ``nt_xent``).

    Every other frame of the global batch is a negative, as in one process: the embeddings are gathered
    (:func:`vpbench.core.distributed.gather_with_grad`), and what a rank backpropagates is the world size times this."""
    return nt_xent(distributed.gather_with_grad(z1, n), distributed.gather_with_grad(z2, n), temperature)


def anonymizer_loss(
    net: nn.Module,
    action_model: nn.Module,
    privacy_model: nn.Module,
    view1: torch.Tensor,
    view2: torch.Tensor,
    clips: torch.Tensor,
    actions: torch.Tensor,
    action_weight: float,
    temperature: float,
    views_total: int | None = None,
    clip_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """f_a's objective: ``(-NT-Xent + w * CE_action, NT-Xent, CE_action)`` on two raw views of frames
    ``N x 3 x H x W`` and raw clips ``B x 3 x T x H x W``, all in [0, 1].

    Under torchrun the views and clips are this rank's shares (``views_total``: the global batch's frames,
    ``clip_weight``: the share's loss weight), and the first value is what this rank backpropagates:
    NT-Xent of the whole batch times the world size, the share-weighted CE (see :func:`contrast`)."""
    n = len(view1) if views_total is None else int(views_total)
    # The frames through the network's forward (not .frames): DDP synchronizes what goes through forward.
    l_b = contrast(privacy_model(normalized(net(view1))), privacy_model(normalized(net(view2))), n, temperature)
    l_t = F.cross_entropy(action_model(normalized(net(clips))), actions)
    return -distributed.world()[1] * l_b + action_weight * clip_weight * l_t, l_b, l_t


def _augment_draw(h: int, w: int, rng: np.random.Generator) -> dict:
    """The random numbers of one view, in the order they have always been drawn (they depend on no pixel)."""
    c = rng.uniform(0.6, 1.0)
    ch, cw = max(1, round(h * c)), max(1, round(w * c))
    d = {"crop": (int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw), "r": rng.random(7)}
    r = d["r"]
    d["contrast"] = rng.uniform(0.9, 1.1) if r[0] < 0.0625 else None
    d["saturation"] = rng.uniform(0.9, 1.1) if r[1] < 0.15 else None
    d["brightness"] = rng.uniform(0.9, 1.1) if r[2] < 0.15 else None
    if r[5] < 0.25:
        # SPAct erases a 9-19 pixel box on 112-pixel frames: the same share of the side here.
        eh, ew = (max(1, round(s * rng.uniform(9, 19) / 112)) for s in (h, w))
        d["erase"] = (int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1)), eh, ew)
    return d


def _augment_one(x: torch.Tensor, d: dict) -> torch.Tensor:
    h, w = x.shape[-2:]
    y0, x0, ch, cw = d["crop"]
    x = F.interpolate(x[None, :, y0 : y0 + ch, x0 : x0 + cw], size=(h, w), mode="bilinear", align_corners=False)[0]
    r = d["r"]
    gray = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
    if d["contrast"] is not None:
        x = (x - gray.mean()) * d["contrast"] + gray.mean()
    if d["saturation"] is not None:
        x = gray + (x - gray) * d["saturation"]
    if d["brightness"] is not None:
        x = x * d["brightness"]
    if r[3] > 0.9:
        x = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None].expand(3, h, w)
    if r[4] > 0.5:
        x = x.flip(-1)
    if "erase" in d:
        ey, ex, eh, ew = d["erase"]
        x = x.clone()
        x[:, ey : ey + eh, ex : ex + ew] = 0
    return x.clamp(0, 1)


def augment(frames: torch.Tensor, rng: np.random.Generator, positions=None, total: int | None = None) -> torch.Tensor:
    """One random view of each frame (``N x 3 x H x W`` in [0, 1]), SPAct's augmentations minus hue:
    resized crop (0.6-1 of each side), contrast / saturation / brightness in [0.9, 1.1] (each rarely),
    grayscale (p 0.1), horizontal flip (p 0.5), random erasing (p 0.25).

    Under torchrun ``frames`` are a rank's share of a global batch of ``total`` frames, at ``positions``
    in it: the numbers of all ``total`` views are drawn (every rank's generator stays in step with one
    process's), and the views of ``frames`` are made."""
    h, w = frames.shape[-2:]
    total = len(frames) if total is None else int(total)
    where = dict(zip(range(total) if positions is None else (int(i) for i in positions), range(len(frames))))
    out = []
    for i in range(total):
        d = _augment_draw(h, w, rng)
        if i in where:
            out.append(_augment_one(frames[where[i]], d))
    return torch.stack(out)


class SPAct(FrameAnonymizerMethod):
    name = "spact"
    version = "1"
    description = (
        "SPAct (CVPR 2022): UNet anonymizer, self-supervised (NT-Xent) privacy branch, action branch; no privacy labels"
    )

    def __init__(self, action_weight: float | None = None) -> None:
        super().__init__()
        self.action_weight = optional_weight("action_weight", action_weight)

    def fit(self, data: FitData, settings: dict, context: FitContext) -> None:
        from ..core.progress import Progress

        s = dict(settings)
        seed, progress, checkpoint_dir = context.seed, context.progress, context.checkpoint_dir
        w_action = self.action_weight if self.action_weight is not None else float(s["action_weight"])
        tau = float(s["temperature"])
        rng, draw, clip_len = seeded_draw(data, s, context)
        dev = draw.device
        actions = torch.tensor(np.asarray(data.actions), dtype=torch.long).to(dev)
        indices = np.arange(len(draw))
        batch, clip = int(s["batch_size"]), s.get("grad_clip", 5.0)
        pb = int(s["privacy_batch"])
        lr_a, lr_t, lr_b = float(s["lr_anonymizer"]), float(s["lr_action"]), float(s["lr_privacy"])

        net = self._new_net(s, context)
        action_model = create_recognizer(
            s["action_model"], data.num_actions, clip_len, (net.config.height, net.config.width)
        )
        hidden, out = s["projection"]
        privacy_model = ProjectedEncoder(create_frame_model(s["privacy_encoder"], 0), hidden, out)
        action_model.to(dev)  # initialized on the CPU above, so the weights do not depend on the device
        privacy_model.to(dev)
        steps = int(s["adv_steps"])
        log = {
            "action_weight": w_action,
            "temperature": tau,
            "recon_l1": [],
            "action_pretrain_ce": [],
            "privacy_pretrain_ntxent": [],
            "steps": [],
        }
        # The checkpoint is tied to what SPAct reads: actions and clips, never the privacy labels.
        settings = {
            "method": self.name,
            "version": self.version,
            "settings": s,
            "seed": int(seed),
            "options": {"action_weight": w_action},
            "data": data_digest(data.actions, videos=data.videos),
        }
        opt_r = torch.optim.Adam(net.parameters(), lr=float(s["lr_recon"]))
        opt_p = torch.optim.Adam(action_model.parameters(), lr=float(s["lr_action_pretrain"]))
        opt_b = torch.optim.Adam(privacy_model.parameters(), lr=lr_b)
        opt_a = torch.optim.Adam(net.parameters(), lr=lr_a)
        opt_t = torch.optim.Adam(action_model.parameters(), lr=lr_t)
        # Under torchrun every network trains through DDP (alone: the networks themselves); each rank
        # takes its share of every global batch, and NT-Xent is the global batch's (see contrast).
        ddp_net, ddp_action, ddp_privacy = (
            distributed.wrap(net),
            distributed.wrap(action_model),
            distributed.wrap(privacy_model),
        )
        world = distributed.world()[1]

        def views() -> tuple[torch.Tensor, torch.Tensor, int]:
            """Two augmented views of one random frame per video (this rank's share of them), and the global
            batch's size."""
            sel = draw.pick(indices, pb)
            frames = draw.frames(sel, 1)[:, :, 0]
            part = distributed.local_share(len(sel))[0]
            return augment(frames, rng, part, len(sel)), augment(frames, rng, part, len(sel)), len(sel)

        def privacy_pretrain_step() -> float:
            net.eval()
            privacy_model.train()
            v1, v2, n = views()
            with torch.no_grad(), distributed.autocast():
                a1, a2 = ddp_net(v1), ddp_net(v2)
            with distributed.autocast():
                loss = contrast(ddp_privacy(normalized(a1)), ddp_privacy(normalized(a2)), n, tau)
            optimizer_step(opt_b, privacy_model.parameters(), world * loss, lr_b, clip)
            bar.update()
            return loss.item()  # the global batch's, the same on every rank

        def minimax_step(step: int) -> None:
            # Step 1: the anonymizer fools the privacy branch while keeping the action.
            net.train()
            action_model.eval()
            privacy_model.eval()
            v1, v2, n = views()
            sel = draw.pick(indices, batch)
            mine, weight = local_part(sel)
            clips = draw.clips(sel)
            with distributed.autocast():
                loss, l_b, l_t = anonymizer_loss(
                    ddp_net,
                    ddp_action,
                    ddp_privacy,
                    v1,
                    v2,
                    clips,
                    actions[torch.as_tensor(mine)],
                    w_action,
                    tau,
                    views_total=n,
                    clip_weight=weight,
                )
            optimizer_step(opt_a, net.parameters(), loss, lr_a, clip)
            l_t = logged(weight, l_t.item())
            # Step 2: the privacy and action branches catch up on the anonymizer's (frozen) output.
            net.eval()
            action_model.train()
            privacy_model.train()
            v1, v2, n = views()
            sel = draw.pick(indices, batch)
            mine, weight = local_part(sel)
            raw = draw.clips(sel)
            with torch.no_grad(), distributed.autocast():
                a1, a2, clips = ddp_net(v1), ddp_net(v2), ddp_net(raw)
            with distributed.autocast():
                l_fb = contrast(ddp_privacy(normalized(a1)), ddp_privacy(normalized(a2)), n, tau)
            optimizer_step(opt_b, privacy_model.parameters(), world * l_fb, lr_b, clip)
            with distributed.autocast():
                l_ft = F.cross_entropy(ddp_action(normalized(clips)), actions[torch.as_tensor(mine)])
            optimizer_step(opt_t, action_model.parameters(), weight * l_ft, lr_t, clip)
            l_ft = logged(weight, l_ft.item())
            log["steps"].append(
                {
                    "step": step,
                    "anonymizer_ntxent": round(l_b.item(), 4),
                    "anonymizer_ce": round(l_t, 4),
                    "privacy_ntxent": round(l_fb.item(), 4),
                    "action_ce": round(l_ft, 4),
                }
            )
            bar.update()
            bar.set_postfix(ntxent=f"{l_fb.item():.2f}", ce=f"{l_ft:.2f}")

        size = int(s.get("checkpoint_every", 50))
        n_priv, priv_range = chunks(int(s["privacy_pretrain_steps"]), size)
        n_adv, adv_range = chunks(steps, size)
        per_epoch = math.ceil(len(indices) / batch)
        total = (
            int(s["recon_steps"])
            + int(s["action_pretrain_epochs"]) * per_epoch
            + int(s["privacy_pretrain_steps"])
            + steps
        )
        with Progress(total=total, desc="spact", unit="step", disable=not progress) as bar:
            fit = StagedFit(checkpoint_dir, rng, settings, log, bar, report=context.report)
            identity_stage(fit, "spact", net, opt_r, ddp_net, draw, indices, s, clip, log)
            bar.set_description("spact: action pre-training")
            fit.run(
                "action",
                {"net": net, "action_model": action_model, "opt": opt_p},
                int(s["action_pretrain_epochs"]),
                lambda k: log["action_pretrain_ce"].append(
                    mean(
                        recognizer_epoch(
                            ddp_action, opt_p, draw, indices, actions, batch, float(s["lr_action_pretrain"]), clip, bar
                        )
                    )
                ),
                per_epoch,
            )
            bar.set_description("spact: privacy pre-training (self-supervised)")
            fit.run(
                "privacy",
                {"net": net, "action_model": action_model, "privacy_model": privacy_model, "opt": opt_b},
                n_priv,
                lambda k: log["privacy_pretrain_ntxent"].append(mean([privacy_pretrain_step() for _ in priv_range(k)])),
                size,
            )
            bar.set_description("spact: minimax")
            fit.run(
                "minimax",
                {
                    "net": net,
                    "action_model": action_model,
                    "privacy_model": privacy_model,
                    "opt_a": opt_a,
                    "opt_t": opt_t,
                    "opt_b": opt_b,
                },
                n_adv,
                lambda k: [minimax_step(step) for step in adv_range(k)],
                size,
            )
        net.eval()
        self.log = log
