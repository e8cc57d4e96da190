"""VITA (Wu et al., TPAMI 2020): adversarial degradation against a restarted budget-model ensemble.

A 2D degradation network f_d (VITA's ITNet) transforms every frame; an
action model f_T classifies the degraded clip; M frame-level budget models
f_b of different architectures predict the privacy attributes (logits
averaged over the clip's frames). Per step, following the public code:

- one f_d update on ``L_T + gamma * L_B``, where ``L_B`` is, per sample, the
  maximum over the M budget models of the sigmoid cross-entropy to an
  all-ones target (the worst-fooled model counts), then averaged; the budget
  models see ``budget_frames`` random frames of each clip (the public code:
  all 16);
- f_T (with f_d, at f_T's learning rate) updated until its accuracy on
  held-out training videos reaches the threshold (capped at
  ``max_action_updates``; the public code has no cap);
- five budget-model updates on their true labels;
- every ``restart_every`` steps (and at step 0) the budget models are
  re-initialized with fresh random weights (the public code restores its
  pre-trained checkpoint) and pre-trained, so f_d cannot settle on fooling one
  fixed adversary (model restarting).

Settings per profile live in ``models/methods/vita.yaml``; its ``choices`` list
every departure from the public code (VITA-Group/Privacy-AdversarialLearning).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core import distributed
from ..core.errors import VPBenchError
from ..core.optim import optimizer_step
from ..core.tensors import normalized
from ..networks.frame_models import create_frame_model
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
    subsample_frames,
)
from .base import FitContext, FitData

MAX_BUDGET_MODELS = 4


class BudgetEnsemble(nn.Module):
    """M frame-level privacy models; on a video ``B x 3 x T x H x W`` each gives logits averaged over frames."""

    def __init__(self, models: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(models)

    def forward(self, video: torch.Tensor) -> list[torch.Tensor]:
        b, c, t, h, w = video.shape
        frames = video.transpose(1, 2).reshape(b * t, c, h, w)
        return [m(frames).reshape(b, t, -1).mean(1) for m in self.members]

    def restart(self, seed: int) -> None:
        """Re-initialize every member (fresh weights from ``seed``; the global random stream is left as it was)."""
        # On a GPU the weights are drawn from its generator, which manual_seed reseeds too: fork it as well.
        gpus = sorted({p.device.index or 0 for p in self.parameters() if p.is_cuda})
        with torch.random.fork_rng(devices=gpus):
            torch.manual_seed(seed)
            for module in self.modules():
                if module is not self and hasattr(module, "reset_parameters"):
                    module.reset_parameters()


def budget_loss(logits: list[torch.Tensor]) -> torch.Tensor:
    """VITA's L_B: per sample, the max over models of the mean sigmoid cross-entropy to an all-ones target; batch
    mean."""
    per_model = torch.stack(
        [F.binary_cross_entropy_with_logits(z, torch.ones_like(z), reduction="none").mean(1) for z in logits]
    )
    return per_model.max(0).values.mean()


def budget_fit_loss(logits: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
    """What the budget models minimize: their multi-label BCE on the true labels, averaged over models."""
    return torch.stack([F.binary_cross_entropy_with_logits(z, labels) for z in logits]).mean()


def degradation_loss(
    net: nn.Module,
    action_model: nn.Module,
    budget: BudgetEnsemble,
    clips: torch.Tensor,
    actions: torch.Tensor,
    gamma: float,
    budget_frames: int,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """f_d's objective on raw clips in [0, 1]: ``(L_T + gamma * L_B, L_T, L_B)``, the budget models seeing
    ``budget_frames`` random frames of each degraded clip."""
    degraded = net(clips)
    l_t = F.cross_entropy(action_model(normalized(degraded)), actions)
    l_b = budget_loss(budget(normalized(subsample_frames(degraded, budget_frames, rng))))
    return l_t + gamma * l_b, l_t, l_b


class VITA(FrameAnonymizerMethod):
    name = "vita"
    version = "1"
    description = "VITA (TPAMI 2020): 2D degradation net vs. action model and a restarted ensemble of budget models"

    def __init__(self, budget_models: int | None = None, gamma: float | None = None, restarting: bool = True) -> None:
        super().__init__()
        if budget_models is not None and not 1 <= int(budget_models) <= MAX_BUDGET_MODELS:
            raise VPBenchError(f"budget_models must be 1 to {MAX_BUDGET_MODELS} (VITA's M), got {budget_models}")
        self.budget_models = None if budget_models is None else int(budget_models)
        self.gamma = optional_weight("gamma", gamma)
        self.restarting = bool(restarting)

    def fit(self, data: FitData, settings: dict, context: FitContext) -> None:
        from ..core.progress import Progress

        s = dict(settings)
        seed, progress, checkpoint_dir = context.seed, context.progress, context.checkpoint_dir
        m = self.budget_models if self.budget_models is not None else int(s["num_budget_models"])
        specs = list(s["budget_models"])
        if not 1 <= m <= min(len(specs), MAX_BUDGET_MODELS):
            raise VPBenchError(
                f"vita: {m} budget models asked, the profile defines {len(specs)} (at most {MAX_BUDGET_MODELS})"
            )
        gamma = self.gamma if self.gamma is not None else float(s["gamma"])
        rng, draw, clip_len = seeded_draw(data, s, context)
        dev = draw.device
        actions = torch.tensor(np.asarray(data.actions), dtype=torch.long).to(dev)
        privacy = torch.tensor(np.asarray(data.privacy), dtype=torch.float32).to(dev)
        n = len(draw)
        # Held-out videos for the action-accuracy monitor (VITA watches validation accuracy).
        order = rng.permutation(n)
        n_val = max(1, round(float(s["val_share"]) * n)) if n > 1 else 0
        val_idx, train_idx = (order[:n_val], order[n_val:]) if n_val else (order, order)
        batch, clip = int(s["batch_size"]), s.get("grad_clip", 5.0)
        lr_d, lr_t, lr_b = float(s["lr_anonymizer"]), float(s["lr_action"]), float(s["lr_budget"])

        net = self._new_net(s, context)
        action_model = create_recognizer(
            s["action_model"], data.num_actions, clip_len, (net.config.height, net.config.width)
        )
        budget = BudgetEnsemble([create_frame_model(spec, privacy.shape[1]) for spec in specs[:m]])
        action_model.to(dev)  # initialized on the CPU above, so the weights do not depend on the device
        budget.to(dev)
        steps = int(s["adv_steps"])
        every = int(s["restart_every"])
        if every < 1:
            raise VPBenchError(f"vita: restart_every must be at least 1 step, got {every}")
        restarts = [k for k in range(steps) if k == 0 or (self.restarting and k % every == 0)]
        pre_steps = int(s["restart_pretrain_steps"])
        per_epoch = math.ceil(len(train_idx) / batch)
        bb, bf = int(s["budget_batch"]), int(s["budget_frames"])
        # "restarts" is the schedule; each step records what it really did ("restarted", budget updates).
        log = {
            "budget_models": m,
            "gamma": gamma,
            "restarting": self.restarting,
            "restarts": restarts,
            "recon_l1": [],
            "action_pretrain_ce": [],
            "steps": [],
        }
        settings = {
            "method": self.name,
            "version": self.version,
            "settings": s,
            "seed": int(seed),
            "options": {"budget_models": m, "gamma": gamma, "restarting": self.restarting},
            "data": data_digest(data.actions, data.privacy, videos=data.videos),
        }
        opt_r = torch.optim.Adam(net.parameters(), lr=float(s["lr_recon"]))
        opt_p = torch.optim.Adam(action_model.parameters(), lr=float(s["lr_action_pretrain"]))
        opt_d = torch.optim.Adam(net.parameters(), lr=lr_d)
        # f_T's updates move f_d too, as in the public code (its optimizer holds both).
        opt_t = torch.optim.Adam([*action_model.parameters(), *net.parameters()], lr=lr_t)
        opt_b = torch.optim.Adam(budget.parameters(), lr=lr_b)
        # Under torchrun every network trains through DDP (alone: the networks themselves); each rank
        # takes its share of every global batch (anonymizer_method's rule).
        ddp_net, ddp_action, ddp_budget = (
            distributed.wrap(net),
            distributed.wrap(action_model),
            distributed.wrap(budget),
        )

        def budget_update() -> float:
            sel = draw.pick(train_idx, bb)
            mine, weight = local_part(sel)
            with torch.no_grad(), distributed.autocast():
                net.eval()
                x = ddp_net(draw.frames(sel, bf))
            budget.train()
            with distributed.autocast():
                loss = budget_fit_loss(ddp_budget(normalized(x)), privacy[torch.as_tensor(mine)])
            optimizer_step(opt_b, budget.parameters(), weight * loss, lr_b, clip)
            return logged(weight, loss.item())

        @torch.no_grad()
        def action_accuracy() -> float:
            """Top-1 on held-out videos, counted over the ranks' shares: every rank gets the same number
            (each then decides alike whether to update the action model again)."""
            net.eval()
            action_model.eval()
            sel = val_idx if len(val_idx) <= batch else draw.pick(val_idx, batch)
            mine, weight = local_part(sel)
            with distributed.autocast():
                pred = ddp_action(normalized(ddp_net(draw.clips(sel)))).argmax(1)
            hits = float((pred == actions[torch.as_tensor(mine)]).sum()) if weight else 0.0
            hits, seen = distributed.sum_across([hits, len(mine) if weight else 0])
            # In float32, as the monitor has always computed it (a mean of a float32 tensor): the same
            # decisions at the threshold, so that a fit's numbers do not change with this code.
            return float(np.float32(hits) / np.float32(seen))

        def adversarial_step(step: int) -> None:
            restarted = step in restarts
            if restarted:
                budget.restart(seed * 7919 + step + 1)
                opt_b.state.clear()  # a fresh optimizer for the fresh models
                for _ in range(pre_steps):
                    budget_update()
            # One degradation update: keep the action, make the worst-fooled budget model say "all present".
            sel = draw.pick(train_idx, batch)
            mine, weight = local_part(sel)
            net.train()
            action_model.train()
            budget.train()
            clips = draw.clips(sel)
            with distributed.autocast():
                loss, l_t, l_b = degradation_loss(
                    ddp_net, ddp_action, ddp_budget, clips, actions[torch.as_tensor(mine)], gamma, bf, rng
                )
            optimizer_step(opt_d, net.parameters(), weight * loss, lr_d, clip)
            # Action updates until the monitor says the target task is kept (at most max_action_updates).
            updates, acc = 0, action_accuracy()
            while acc < float(s["action_threshold"]) and updates < int(s["max_action_updates"]):
                sel = draw.pick(train_idx, batch)
                mine, w = local_part(sel)
                net.train()
                action_model.train()
                clips = draw.clips(sel)
                with distributed.autocast():
                    loss = F.cross_entropy(ddp_action(normalized(ddp_net(clips))), actions[torch.as_tensor(mine)])
                optimizer_step(opt_t, opt_t.param_groups[0]["params"], w * loss, lr_t, clip)
                updates += 1
                acc = action_accuracy()
            l_fb = [budget_update() for _ in range(int(s["budget_updates"]))]
            l_t, l_b = logged(weight, l_t.item()), logged(weight, l_b.item())
            log["steps"].append(
                {
                    "step": step,
                    "restarted": restarted,
                    "restart_pretrain_steps": pre_steps if restarted else 0,
                    "l_action": round(l_t, 4),
                    "l_budget": round(l_b, 4),
                    "budget_fit": mean(l_fb) if l_fb else None,
                    "budget_updates": len(l_fb),
                    "action_updates": updates,
                    "val_top1": round(acc, 4),
                }
            )
            bar.update()
            bar.set_postfix(l_act=f"{l_t:.2f}", l_bud=f"{l_b:.2f}", acc=f"{acc:.2f}")

        size = int(s.get("checkpoint_every", 50))
        n_adv, adv_range = chunks(steps, size)
        total = int(s["recon_steps"]) + int(s["action_pretrain_epochs"]) * per_epoch + steps
        with Progress(total=total, desc="vita", unit="step", disable=not progress) as bar:
            fit = StagedFit(checkpoint_dir, rng, settings, log, bar, report=context.report)
            identity_stage(fit, "vita", net, opt_r, ddp_net, draw, train_idx, s, clip, log)
            bar.set_description("vita: action pre-training")
            fit.run(
                "action",
                {"net": net, "action_model": action_model, "opt": opt_p},
                int(s["action_pretrain_epochs"]),
                lambda k: log["action_pretrain_ce"].append(
                    mean(
                        recognizer_epoch(
                            ddp_action,
                            opt_p,
                            draw,
                            train_idx,
                            actions,
                            batch,
                            float(s["lr_action_pretrain"]),
                            clip,
                            bar,
                        )
                    )
                ),
                per_epoch,
            )
            bar.set_description("vita: adversarial")
            fit.run(
                "adversarial",
                {
                    "net": net,
                    "action_model": action_model,
                    "budget": budget,
                    "opt_d": opt_d,
                    "opt_t": opt_t,
                    "opt_b": opt_b,
                },
                n_adv,
                lambda k: [adversarial_step(step) for step in adv_range(k)],
                size,
            )
        net.eval()
        self.log = log
