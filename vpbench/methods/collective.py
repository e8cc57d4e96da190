"""Collective (Zhang et al., ICDM 2019): one transformation against every privacy attribute at once.

Collective protection trains a single "integrative" transformation so that
several sensitive attributes can no longer be inferred together while the
utility task (here: the action) is kept. There is no public code; this
follows the paper's description, and ``models/methods/collective.yaml``
lists what had to be chosen:

- the transformation network is a frame-wise residual encoder-decoder (the
  same family as VITA's, so the baselines differ in their objective only),
  initialized towards the identity;
- one discriminator per attribute (a small video recognizer with one
  output), all trained at once on the transformed clips;
- the transformation minimizes ``CE_action + lambda * mean_k BCE(D_k, 1/2)``:
  each discriminator is pushed towards "cannot tell" (probability 1/2) rather
  than towards the wrong answer, since a discriminator that is reliably wrong
  still reveals the attribute;
- transformation, action model and discriminators are updated alternately,
  one step each.
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


class AttributeDiscriminators(nn.Module):
    """One single-output video recognizer per privacy attribute; logits ``B x K``."""

    def __init__(self, spec: dict, num_attributes: int, clip_len: int, frame_hw: tuple[int, int]) -> None:
        super().__init__()
        self.members = nn.ModuleList(create_recognizer(spec, 1, clip_len, frame_hw) for _ in range(num_attributes))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return torch.cat([d(video) for d in self.members], 1)


def confusion_loss(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every discriminator to probability 1/2, averaged over attributes and samples."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 0.5))


def transformation_loss(
    net: nn.Module,
    action_model: nn.Module,
    discriminators: AttributeDiscriminators,
    clips: torch.Tensor,
    actions: torch.Tensor,
    privacy_weight: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The transformation's objective on raw clips in [0, 1]: ``(CE_action + lambda * confusion, CE_action,
    confusion)``."""
    x = normalized(net(clips))
    l_t = F.cross_entropy(action_model(x), actions)
    l_p = confusion_loss(discriminators(x))
    return l_t + privacy_weight * l_p, l_t, l_p


class Collective(FrameAnonymizerMethod):
    name = "collective"
    version = "1"
    description = (
        "Collective (ICDM 2019): one transformation net trained against all privacy attributes' discriminators at once"
    )

    def __init__(self, privacy_weight: float | None = None) -> None:
        super().__init__()
        self.privacy_weight = optional_weight("privacy_weight", privacy_weight)

    def fit(self, data: FitData, settings: dict, context: FitContext) -> None:
        from tqdm import tqdm

        s = dict(settings)
        seed, progress, checkpoint_dir = context.seed, context.progress, context.checkpoint_dir
        lam = self.privacy_weight if self.privacy_weight is not None else float(s["privacy_weight"])
        rng, draw, clip_len = seeded_draw(data, s, context)
        dev = draw.device
        actions = torch.tensor(np.asarray(data.actions), dtype=torch.long).to(dev)
        privacy = torch.tensor(np.asarray(data.privacy), dtype=torch.float32).to(dev)
        indices = np.arange(len(draw))
        batch, clip = int(s["batch_size"]), s.get("grad_clip", 5.0)
        lr_g, lr_t, lr_d = float(s["lr_anonymizer"]), float(s["lr_action"]), float(s["lr_discriminator"])

        net = self._new_net(s, context)
        hw = (net.config.height, net.config.width)
        action_model = create_recognizer(s["action_model"], data.num_actions, clip_len, hw)
        discriminators = AttributeDiscriminators(s["discriminator"], privacy.shape[1], clip_len, hw)
        action_model.to(dev)  # initialized on the CPU above, so the weights do not depend on the device
        discriminators.to(dev)
        steps = int(s["adv_steps"])
        log = {
            "privacy_weight": lam,
            "recon_l1": [],
            "action_pretrain_ce": [],
            "discriminator_pretrain_bce": [],
            "steps": [],
        }
        settings = {
            "method": self.name,
            "version": self.version,
            "settings": s,
            "seed": int(seed),
            "options": {"privacy_weight": lam},
            "data": data_digest(data.actions, data.privacy, videos=data.videos),
        }
        opt_r = torch.optim.Adam(net.parameters(), lr=float(s["lr_recon"]))
        opt_p = torch.optim.Adam(action_model.parameters(), lr=float(s["lr_action_pretrain"]))
        opt_q = torch.optim.Adam(discriminators.parameters(), lr=lr_d)
        opt_g = torch.optim.Adam(net.parameters(), lr=lr_g)
        opt_t = torch.optim.Adam(action_model.parameters(), lr=lr_t)
        opt_d = torch.optim.Adam(discriminators.parameters(), lr=lr_d)
        # Under torchrun every network trains through DDP (alone: the networks themselves); each rank
        # takes its share of every global batch (anonymizer_method's rule).
        ddp_net, ddp_action, ddp_disc = (
            distributed.wrap(net),
            distributed.wrap(action_model),
            distributed.wrap(discriminators),
        )

        def adversarial_step(step: int) -> None:
            # The transformation: keep the action, leave every attribute's discriminator at "cannot tell".
            sel = draw.pick(indices, batch)
            mine, weight = local_part(sel)
            net.train()
            action_model.train()
            discriminators.train()
            clips = draw.clips(sel)
            with distributed.autocast():
                loss, l_t, l_p = transformation_loss(
                    ddp_net, ddp_action, ddp_disc, clips, actions[torch.as_tensor(mine)], lam
                )
            optimizer_step(opt_g, net.parameters(), weight * loss, lr_g, clip)
            l_t, l_p = logged(weight, l_t.item()), logged(weight, l_p.item())
            # The action model and the discriminators catch up on the transformed (frozen) clips.
            sel = draw.pick(indices, batch)
            mine, weight = local_part(sel)
            raw = draw.clips(sel)
            with torch.no_grad(), distributed.autocast():
                net.eval()
                x = normalized(ddp_net(raw))
            with distributed.autocast():
                l_ft = F.cross_entropy(ddp_action(x), actions[torch.as_tensor(mine)])
            optimizer_step(opt_t, action_model.parameters(), weight * l_ft, lr_t, clip)
            with distributed.autocast():
                l_d = F.binary_cross_entropy_with_logits(ddp_disc(x), privacy[torch.as_tensor(mine)])
            optimizer_step(opt_d, discriminators.parameters(), weight * l_d, lr_d, clip)
            l_ft, l_d = logged(weight, l_ft.item()), logged(weight, l_d.item())
            log["steps"].append(
                {
                    "step": step,
                    "l_action": round(l_t, 4),
                    "l_confusion": round(l_p, 4),
                    "action_ce": round(l_ft, 4),
                    "discriminator_bce": round(l_d, 4),
                }
            )
            bar.update()
            bar.set_postfix(ce=f"{l_ft:.2f}", disc=f"{l_d:.2f}")

        size = int(s.get("checkpoint_every", 50))
        n_adv, adv_range = chunks(steps, size)
        per_epoch = math.ceil(len(indices) / batch)
        total = (
            int(s["recon_steps"])
            + (int(s["action_pretrain_epochs"]) + int(s["discriminator_pretrain_epochs"])) * per_epoch
            + steps
        )
        with tqdm(
            total=total, desc="collective", unit="step", disable=None if progress and distributed.is_main() else True
        ) as bar:
            fit = StagedFit(checkpoint_dir, rng, settings, log, bar)
            identity_stage(fit, "collective", net, opt_r, ddp_net, draw, indices, s, clip, log)
            bar.set_description("collective: action pre-training")
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
            bar.set_description("collective: discriminator pre-training")
            fit.run(
                "discriminators",
                {"net": net, "action_model": action_model, "discriminators": discriminators, "opt": opt_q},
                int(s["discriminator_pretrain_epochs"]),
                lambda k: log["discriminator_pretrain_bce"].append(
                    mean(recognizer_epoch(ddp_disc, opt_q, draw, indices, privacy, batch, lr_d, clip, bar))
                ),
                per_epoch,
            )
            bar.set_description("collective: adversarial")
            fit.run(
                "adversarial",
                {
                    "net": net,
                    "action_model": action_model,
                    "discriminators": discriminators,
                    "opt_g": opt_g,
                    "opt_t": opt_t,
                    "opt_d": opt_d,
                },
                n_adv,
                lambda k: [adversarial_step(step) for step in adv_range(k)],
                size,
            )
        net.eval()
        self.log = log
