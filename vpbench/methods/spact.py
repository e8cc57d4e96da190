"""SPAct (Dave et al., CVPR 2022): self-supervised privacy removal, no privacy labels.

A UNet anonymizer f_a, initialized towards the identity by L1 reconstruction;
a privacy branch f_b (2D encoder + projection MLP) trained with NT-Xent
(temperature 0.1) to match two augmented views of each frame after f_a; an
action branch f_t on anonymized clips. Minimax, alternating batch by batch as
the public code does: f_a minimizes ``-NT-Xent + w * CE_action`` (f_b and f_t
frozen, in eval mode), then f_b minimizes NT-Xent and f_t minimizes CE on
the anonymized (detached) inputs.

The method never reads ``FitData.privacy``: that is the point of SPAct, and a
test holds it to it. Settings per profile live in ``models/methods/spact.yaml``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..engine import optimizer_step
from ..networks.frame_models import ProjectedEncoder, create_frame_model
from ..networks.recognizers import create_recognizer
from .anonymizer_method import (
    FrameAnonymizerMethod,
    StagedFit,
    card_settings,
    chunks,
    data_digest,
    mean,
    normalized,
    optional_weight,
    recognizer_epoch,
    reconstruction_steps,
    seeded_draw,
)
from .base import FitData


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's NT-Xent over ``2N`` embeddings: each view's positive is the other view of its frame, the
    ``2N - 2`` other embeddings are its negatives; cosine similarity / temperature; mean over all ``2N`` anchors."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    sim = (z @ z.t()) / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, targets)


def anonymizer_loss(net: nn.Module, action_model: nn.Module, privacy_model: nn.Module, view1: torch.Tensor, view2: torch.Tensor,
                    clips: torch.Tensor, actions: torch.Tensor, action_weight: float, temperature: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """f_a's objective: ``(-NT-Xent + w * CE_action, NT-Xent, CE_action)`` on two raw views of frames
    ``N x 3 x H x W`` and raw clips ``B x 3 x T x H x W``, all in [0, 1]."""
    l_b = nt_xent(privacy_model(normalized(net.frames(view1))), privacy_model(normalized(net.frames(view2))), temperature)
    l_t = F.cross_entropy(action_model(normalized(net(clips))), actions)
    return -l_b + action_weight * l_t, l_b, l_t


def augment(frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """One random view of each frame (``N x 3 x H x W`` in [0, 1]), SPAct's augmentations minus hue:
    resized crop (0.6-1 of each side), contrast / saturation / brightness in [0.9, 1.1] (each rarely),
    grayscale (p 0.1), horizontal flip (p 0.5), random erasing (p 0.25)."""
    h, w = frames.shape[-2:]
    out = []
    for x in frames:
        c = rng.uniform(0.6, 1.0)
        ch, cw = max(1, round(h * c)), max(1, round(w * c))
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        x = F.interpolate(x[None, :, y0 : y0 + ch, x0 : x0 + cw], size=(h, w), mode="bilinear", align_corners=False)[0]
        r = rng.random(7)
        gray = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
        if r[0] < 0.0625:
            x = (x - gray.mean()) * rng.uniform(0.9, 1.1) + gray.mean()
        if r[1] < 0.15:
            x = gray + (x - gray) * rng.uniform(0.9, 1.1)
        if r[2] < 0.15:
            x = x * rng.uniform(0.9, 1.1)
        if r[3] > 0.9:
            x = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None].expand(3, h, w)
        if r[4] > 0.5:
            x = x.flip(-1)
        if r[5] < 0.25:
            # SPAct erases a 9-19 pixel box on 112-pixel frames: the same share of the side here.
            eh, ew = (max(1, round(s * rng.uniform(9, 19) / 112)) for s in (h, w))
            ey, ex = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
            x = x.clone()
            x[:, ey : ey + eh, ex : ex + ew] = 0
        out.append(x.clamp(0, 1))
    return torch.stack(out)


class SPAct(FrameAnonymizerMethod):
    name = "spact"
    version = "1"
    description = "SPAct (CVPR 2022): UNet anonymizer, self-supervised (NT-Xent) privacy branch, action branch; no privacy labels"

    def __init__(self, action_weight: float | None = None) -> None:
        super().__init__()
        self.action_weight = optional_weight("action_weight", action_weight)

    def fit(self, data: FitData, profile: dict, seed: int = 0, progress: bool = True, checkpoint_dir=None) -> None:
        from tqdm import tqdm

        s = card_settings(self.name, profile)
        w_action = self.action_weight if self.action_weight is not None else float(s["action_weight"])
        tau = float(s["temperature"])
        rng, draw, clip_len = seeded_draw(data, s, profile, seed)
        actions = torch.tensor(np.asarray(data.actions), dtype=torch.long)
        indices = np.arange(len(draw))
        batch, clip = int(s["batch_size"]), s.get("grad_clip", 5.0)
        pb = int(s["privacy_batch"])
        lr_a, lr_t, lr_b = float(s["lr_anonymizer"]), float(s["lr_action"]), float(s["lr_privacy"])

        net = self._new_net(s, profile)
        action_model = create_recognizer(s["action_model"], data.num_actions, clip_len, (net.config.height, net.config.width))
        hidden, out = s["projection"]
        privacy_model = ProjectedEncoder(create_frame_model(s["privacy_encoder"], 0), hidden, out)
        steps = int(s["adv_steps"])
        log = {"action_weight": w_action, "temperature": tau, "recon_l1": [], "action_pretrain_ce": [], "privacy_pretrain_ntxent": [], "steps": []}
        # The checkpoint is tied to what SPAct reads: actions and clips, never the privacy labels.
        settings = {"method": self.name, "version": self.version, "settings": s, "seed": int(seed), "options": {"action_weight": w_action},
                    "data": data_digest(data.actions, videos=data.videos)}
        opt_r = torch.optim.Adam(net.parameters(), lr=float(s["lr_recon"]))
        opt_p = torch.optim.Adam(action_model.parameters(), lr=float(s["lr_action_pretrain"]))
        opt_b = torch.optim.Adam(privacy_model.parameters(), lr=lr_b)
        opt_a = torch.optim.Adam(net.parameters(), lr=lr_a)
        opt_t = torch.optim.Adam(action_model.parameters(), lr=lr_t)

        def views():
            """Two augmented views of one random frame per video, each through the anonymizer (as SPAct's code)."""
            frames = draw.frames(draw.pick(indices, pb), 1)[:, :, 0]
            return augment(frames, rng), augment(frames, rng)

        def privacy_pretrain_step() -> float:
            net.eval()
            privacy_model.train()
            v1, v2 = views()
            with torch.no_grad():
                a1, a2 = net.frames(v1), net.frames(v2)
            loss = nt_xent(privacy_model(normalized(a1)), privacy_model(normalized(a2)), tau)
            optimizer_step(opt_b, privacy_model.parameters(), loss, lr_b, clip)
            bar.update()
            return loss.item()

        def minimax_step(step: int) -> None:
            # Step 1: the anonymizer fools the privacy branch while keeping the action.
            net.train()
            action_model.eval()
            privacy_model.eval()
            v1, v2 = views()
            sel = draw.pick(indices, batch)
            loss, l_b, l_t = anonymizer_loss(net, action_model, privacy_model, v1, v2, draw.clips(sel), actions[torch.as_tensor(sel)], w_action, tau)
            optimizer_step(opt_a, net.parameters(), loss, lr_a, clip)
            # Step 2: the privacy and action branches catch up on the anonymizer's (frozen) output.
            net.eval()
            action_model.train()
            privacy_model.train()
            v1, v2 = views()
            sel = draw.pick(indices, batch)
            with torch.no_grad():
                a1, a2, clips = net.frames(v1), net.frames(v2), net(draw.clips(sel))
            l_fb = nt_xent(privacy_model(normalized(a1)), privacy_model(normalized(a2)), tau)
            optimizer_step(opt_b, privacy_model.parameters(), l_fb, lr_b, clip)
            l_ft = F.cross_entropy(action_model(normalized(clips)), actions[torch.as_tensor(sel)])
            optimizer_step(opt_t, action_model.parameters(), l_ft, lr_t, clip)
            log["steps"].append({"step": step, "anonymizer_ntxent": round(l_b.item(), 4), "anonymizer_ce": round(l_t.item(), 4),
                                 "privacy_ntxent": round(l_fb.item(), 4), "action_ce": round(l_ft.item(), 4)})
            bar.update()
            bar.set_postfix(ntxent=f"{l_fb.item():.2f}", ce=f"{l_ft.item():.2f}")

        size = int(s.get("checkpoint_every", 50))
        n_recon, recon_range = chunks(int(s["recon_steps"]), size)
        n_priv, priv_range = chunks(int(s["privacy_pretrain_steps"]), size)
        n_adv, adv_range = chunks(steps, size)
        per_epoch = math.ceil(len(indices) / batch)
        total = int(s["recon_steps"]) + int(s["action_pretrain_epochs"]) * per_epoch + int(s["privacy_pretrain_steps"]) + steps
        with tqdm(total=total, desc="spact", unit="step", disable=None if progress else True) as bar:
            fit = StagedFit(checkpoint_dir, rng, settings, log, bar)
            bar.set_description("spact: identity init")
            fit.run("identity", {"net": net, "opt": opt_r}, n_recon, lambda k: log["recon_l1"].append(mean(reconstruction_steps(
                net, opt_r, draw, indices, len(recon_range(k)), int(s["recon_batch"]), int(s["recon_frames"]), float(s["lr_recon"]), clip, bar))), size)
            bar.set_description("spact: action pre-training")
            fit.run("action", {"net": net, "action_model": action_model, "opt": opt_p}, int(s["action_pretrain_epochs"]),
                    lambda k: log["action_pretrain_ce"].append(mean(recognizer_epoch(
                        action_model, opt_p, draw, indices, actions, batch, float(s["lr_action_pretrain"]), clip, bar))), per_epoch)
            bar.set_description("spact: privacy pre-training (self-supervised)")
            fit.run("privacy", {"net": net, "action_model": action_model, "privacy_model": privacy_model, "opt": opt_b}, n_priv,
                    lambda k: log["privacy_pretrain_ntxent"].append(mean([privacy_pretrain_step() for _ in priv_range(k)])), size)
            bar.set_description("spact: minimax")
            fit.run("minimax", {"net": net, "action_model": action_model, "privacy_model": privacy_model, "opt_a": opt_a, "opt_t": opt_t,
                                "opt_b": opt_b}, n_adv, lambda k: [minimax_step(step) for step in adv_range(k)], size)
        net.eval()
        self.log = log
