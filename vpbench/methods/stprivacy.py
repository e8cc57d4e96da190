"""STPrivacy (Li et al., ICCV 2023) as a vpbench method: training phases, transform, keep-ratio knob.

Phase 1 (init): L_spars + L'_action, the network classifying actions itself.
Phase 2 (adversarial): L_spars + lambda_action L_action - lambda_privacy L_privacy
against an auxiliary action recognizer (CE) and video-privacy recognizer
(multi-label BCE), both updated alternately on the network's (detached)
output. Inference keeps the top keep-ratio share of tubelets per temporal
slice (alpha^3 by default) and drops the rest physically; ``keep_ratio`` can
be changed at deployment without retraining. Settings per profile live in
``models/methods/stprivacy.yaml``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..core import distributed
from ..core.checkpoint import Checkpointer
from ..core.errors import VPBenchError
from ..core.optim import cosine_lr, optimizer_step, optimizer_steps, scale_grad
from ..core.tensors import MEAN, STD, denormalized, normalize, to_uint8
from ..data.frames.sampling import random_clip, random_scaled_box
from ..networks.recognizers import create_recognizer
from ..networks.stprivacy import (
    STPrivacyConfig,
    STPrivacyNet,
    load_vit_weights,
    sparsity_loss,
)
from .anonymizer_method import data_digest
from .base import FitContext, FitData, PrivacyMethod, check_videos

BLACK = (0.0 - MEAN) / STD  # the normalized value of a black pixel
_PIXEL_RANGE = (BLACK, (1.0 - MEAN) / STD)  # black and white, normalized


def _straight_through_clamp(x: torch.Tensor) -> torch.Tensor:
    """Clamp to the valid pixel range forward; identity gradient backward (so the adversary's signal reaches outliers)."""
    return x + (x.clamp(*_PIXEL_RANGE) - x).detach()


def _crop_and_resize(clips: torch.Tensor, boxes: list[tuple[int, int, int, int]]) -> torch.Tensor:
    """Each ``3,T,H,W`` clip cut to its ``(y0, x0, y1, x1)`` box and resized back to ``H x W`` (bilinear)."""
    c, t, h, w = clips.shape[1:]
    return torch.stack([
        F.interpolate(clip[:, :, y0:y1, x0:x1].reshape(1, c * t, y1 - y0, x1 - x0), size=(h, w), mode="bilinear",
                      align_corners=False).reshape(c, t, h, w)
        for clip, (y0, x0, y1, x1) in zip(clips, boxes)
    ])


class STPrivacy(PrivacyMethod):
    name = "stprivacy"
    version = "1"
    learned = True
    deploy_options = ("keep_ratio",)
    description = "STPrivacy (ICCV 2023): tubelet sparsification + anonymization with a ViT, adversarial training"

    def __init__(self, keep_ratio: float | None = None, alpha: float | None = None, use_pab: bool = True,
                 delta_t: int | None = None, init_weights: str | None = None) -> None:
        if keep_ratio is not None and not 0.0 < float(keep_ratio) <= 1.0:
            raise VPBenchError(f"keep_ratio must be in (0, 1], got {keep_ratio}")
        if alpha is not None and not 0.0 < float(alpha) <= 1.0:
            raise VPBenchError(f"alpha must be in (0, 1], got {alpha}")
        if delta_t is not None and int(delta_t) not in (1, 2, 4):
            raise VPBenchError(f"delta_t must be 1, 2 or 4 (the paper's ablation), got {delta_t}")
        self.keep_ratio = None if keep_ratio is None else float(keep_ratio)
        self.alpha = None if alpha is None else float(alpha)
        self.use_pab = bool(use_pab)
        self.delta_t = None if delta_t is None else int(delta_t)
        self.init_weights = init_weights
        self.net: STPrivacyNet | None = None
        self.frame_interval = 1  # the training clips' frame interval, reused by `vpbench anonymize`
        self.log: dict = {}

    # --- training ----------------------------------------------------------------
    def initial_weights(self, settings: dict) -> str | None:
        """The local ViT file the fit starts from, or None for random weights.

        A profile whose ``init_weights`` is ``required`` (the paper profile: the paper starts from an ImageNet
        ViT-S) refuses to start without one, unless the option says ``none``."""
        init = self.init_weights if self.init_weights is not None else settings.get("init_weights")
        if init is None or str(init).lower() == "none":
            return None
        if init == "required":
            raise VPBenchError(
                "this STPrivacy profile starts from an ImageNet ViT-S, as the paper does: pass --option init_weights=PATH "
                "(a local timm-format deit_small_patch16_224 state dict, .safetensors or .pth), "
                "or --option init_weights=none to train from random weights"
            )
        if not Path(init).is_file():
            raise VPBenchError(f"{init}: ViT weights file not found (option init_weights)")
        return str(init)

    def check_settings(self, settings: dict) -> None:
        self.initial_weights(settings)  # the paper profile needs a ViT-S file (or init_weights=none)

    def _config(self, settings: dict, context: FitContext, num_actions: int) -> STPrivacyConfig:
        tubelet = list(settings["tubelet"])
        if self.delta_t is not None:
            tubelet[0] = self.delta_t
        return STPrivacyConfig(
            frames=context.clip_len, height=context.frame_size[0], width=context.frame_size[1],
            tubelet=tuple(tubelet), dim=int(settings["dim"]), heads=int(settings["heads"]),
            layers_per_psb=tuple(settings["layers_per_psb"]), pab_layers=int(settings["pab_layers"]),
            alpha=self.alpha if self.alpha is not None else float(settings["alpha"]),
            stem=settings.get("stem", "linear"), stem_channels=tuple(settings.get("stem_channels", (32, 64))),
            num_actions=num_actions, use_pab=self.use_pab, gumbel_tau=float(settings.get("gumbel_tau", 1.0)),
        )

    def fit(self, data: FitData, settings: dict, context: FitContext) -> None:
        from tqdm import tqdm

        s = dict(settings)
        seed, progress, checkpoint_dir = context.seed, context.progress, context.checkpoint_dir
        config = self._config(s, context, data.num_actions)
        self.frame_interval = context.frame_interval
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        init = self.initial_weights(s)
        self.net = net = STPrivacyNet(config)
        if init is None:
            self.log["init_weights"] = {"file": None, "chosen_by": "option init_weights=none" if self.init_weights else "profile"}
        else:
            self.log["init_weights"] = {"file": Path(init).name, **load_vit_weights(net, init)}
        dev = distributed.device()  # the configured device (--device; auto: the GPU when there is one)
        net.to(dev)
        clip_len = config.frames
        videos = data.videos
        actions = torch.tensor(np.asarray(data.actions), dtype=torch.long).to(dev)
        privacy = torch.tensor(np.asarray(data.privacy), dtype=torch.float32).to(dev)
        batch = int(s["batch_size"])
        steps_per_epoch = max(1, math.ceil(len(videos) / batch))
        lr = float(s["lr"])
        clip = float(s.get("grad_clip", 1.0))
        la, lp = float(s["lambda_action"]), float(s["lambda_privacy"])
        # Scale jitter of the training clips (a choice, cpu profile; the paper names no augmentation):
        # each clip is a random crop of min_scale..1 of the frame's sides, resized back. No flip
        # (left/right actions). 1.0: the whole frame, as the paper profile trains.
        jitter = float(s.get("train_min_scale", 1.0))
        if not 0.0 < jitter <= 1.0:  # checked here: above 1 would otherwise mean "no jitter" without a word
            raise VPBenchError(f"models/methods/stprivacy.yaml: train_min_scale must be in (0, 1], got {jitter}")
        # Every epoch of every stage ends in a checkpoint; a killed fit resumes from the last one.
        ckpt = Checkpointer(None if checkpoint_dir is None else Path(checkpoint_dir) / "fit.pt", rng, {
            "method": self.name, "version": self.version, "settings": s, "config": asdict(config), "seed": int(seed),
            "init": None if init is None else str(init), "data": data_digest(data.actions, data.privacy, videos=data.videos),
        })

        def sample(sel) -> tuple[torch.Tensor, list[torch.Tensor], np.ndarray, float]:
            """This rank's share of a global batch: clips, Gumbel noise, batch positions, loss weight.

            Every rank draws the clip starts and the Gumbel noise of the whole global batch (the
            numbers one process draws) and keeps its own share, as the recognizers' training does.
            """
            picks = [random_clip(len(videos[int(k)]), clip_len, rng) for k in sel]
            noise = net.draw_gumbel_noise(rng, len(sel))
            boxes = [random_scaled_box(config.height, config.width, jitter, rng) for _ in sel] if jitter < 1.0 else None
            part, weight = distributed.local_share(len(sel))
            work = self.log.setdefault("work", {"world_size": distributed.world()[1], "clips": 0, "clips_here": 0})
            work["clips"] += len(sel)  # the global batches' clips; clips_here: this rank's (rank 0's in a checkpoint)
            work["clips_here"] += len(part) if weight else 0
            clips = [torch.from_numpy(np.ascontiguousarray(videos[int(sel[i])][picks[i]])) for i in part]
            local = torch.as_tensor(part)
            x = normalize(torch.stack(clips).to(dev).permute(0, 4, 1, 2, 3))
            if boxes is not None:
                x = _crop_and_resize(x, [boxes[i] for i in part])
            return x, [g[local].to(dev) for g in noise], np.asarray(sel)[part], weight

        def begin(stage: str, objects: dict, epochs: int) -> tuple[int, int, list]:
            """Resume ``stage`` from the checkpoint (its first epoch still to run, the step, its log); a
            finished stage returns ``epochs``, so its loop runs no more."""
            first, saved = ckpt.start(stage, objects)
            self.log.update(saved.get("log", {}))
            first = epochs if first is None else first
            clock[0] = time.perf_counter()
            return first, first * steps_per_epoch, self.log.setdefault(stage, [])

        clock = [0.0]

        def end_epoch(history: list, epoch: int, **values) -> None:
            """Log the epoch (its wall seconds included) and checkpoint the fit."""
            now = time.perf_counter()
            history.append({"epoch": epoch + 1, **{k: v if isinstance(v, list) else float(v) for k, v in values.items()}, "seconds": round(now - clock[0], 2)})
            clock[0] = now
            ckpt.save(epoch + 1, log=self.log)

        def step_opt(opt, params, loss, step, total, warmup, base_lr):
            optimizer_step(opt, params, loss, cosine_lr(step, total, warmup, base_lr), clip)

        # Phase 1: initialization (eq. 12).
        e1 = int(s["init_epochs"])
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=float(s["weight_decay"]))
        total, warmup = e1 * steps_per_epoch, int(float(s.get("warmup_epochs", 1)) * steps_per_epoch)
        first, step, history = begin("phase1", {"net": net, "opt": opt}, e1)
        # One DDP wrapper for all phases (wrapping a module twice would reduce its gradients twice);
        # each phase's loss leaves some heads out, hence find_unused_parameters.
        ddp = distributed.wrap(net, find_unused_parameters=True)
        quiet = True if not progress or not distributed.is_main() else None
        net.train()
        with tqdm(total=total, initial=step, desc="stprivacy phase 1 (init)", unit="step", disable=quiet) as bar:
            for epoch in range(first, e1):
                order = rng.permutation(len(videos))
                correct = seen = 0
                losses = []
                for b in range(steps_per_epoch):
                    x, noise, mine, weight = sample(order[b * batch : (b + 1) * batch])
                    with distributed.autocast():
                        out = ddp(x, black_value=BLACK, gumbel_noise=noise, video=False)
                        ce = F.cross_entropy(out.action_logits, actions[mine])
                        spars = sparsity_loss(out.decisions, config.alpha)
                    step_opt(opt, net.parameters(), weight * (spars + ce), step, total, warmup, lr)
                    hits, n_seen, *mean = distributed.sum_across([
                        float((out.action_logits.argmax(1) == actions[mine]).sum()) if weight else 0.0, len(mine) if weight else 0,
                        weight * spars.item(), weight * ce.item()])
                    correct, seen = correct + int(hits), seen + int(n_seen)
                    losses.append(tuple(v / distributed.world()[1] for v in mean))
                    step += 1
                    bar.update()
                spars_m, ce_m = np.mean(losses, axis=0)
                bar.set_postfix(top1=f"{correct / max(seen, 1):.2f}", spars=f"{spars_m:.3f}")
                end_epoch(history, epoch, l_spars=spars_m, l_action_self=ce_m, train_top1=correct / max(seen, 1),
                          keep_share=[d.detach().mean().item() for d in out.decisions])

        # PAB warm start (a choice: the paper does not say how the PAB starts phase 2). Phase 1
        # never trains the PAB, so phase 2 would begin from random pixels that carry no action;
        # a few epochs of L1 reconstruction of the kept tubelets, with everything else frozen,
        # start it near the identity instead (SPAct initializes its anonymizer the same way).
        # Eq. 12 is unchanged: only PAB parameters move, and the paper profile sets 0 epochs.
        norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        e_warm = int(s.get("pab_warmup_epochs", 0)) if config.use_pab else 0
        if e_warm:
            pab_params = [p for m in (net.pab, net.pab_norm, net.to_pixels) for p in m.parameters()]
            opt_pab = torch.optim.AdamW(pab_params, lr=lr, weight_decay=float(s["weight_decay"]))
            total = e_warm * steps_per_epoch
            first, step, history = begin("pab_warmup", {"net": net, "opt": opt_pab}, e_warm)
            frozen = [p for p in net.parameters() if all(p is not q for q in pab_params)]
            for p in frozen:
                p.requires_grad_(False)
            for m in norms:  # frozen means frozen: the stem's batch statistics stay too
                m.eval()
            with tqdm(total=total, initial=step, desc="stprivacy PAB warm start", unit="step", disable=quiet) as bar:
                for epoch in range(first, e_warm):
                    order = rng.permutation(len(videos))
                    losses = []
                    for b in range(steps_per_epoch):
                        x, noise, _, weight = sample(order[b * batch : (b + 1) * batch])
                        with distributed.autocast():
                            out = ddp(x, black_value=BLACK, gumbel_noise=noise, actions=False)
                            mask = net._mask_to_video(out.decisions[-1].detach())
                            target = x * mask + net._black(BLACK, x) * (1.0 - mask)
                            loss = (out.video - target).abs().mean()
                        step_opt(opt_pab, pab_params, weight * loss, step, total, 0, lr)
                        losses.append(distributed.mean_across(weight * loss.item()))
                        step += 1
                        bar.update()
                    bar.set_postfix(l1=f"{np.mean(losses):.3f}")
                    end_epoch(history, epoch, l1_reconstruction=np.mean(losses))
            for p in frozen:
                p.requires_grad_(True)
            for m in norms:
                m.train()

        # Phase 2: adversarial learning (eq. 13) with auxiliary recognizers updated alternately.
        e2 = int(s["adv_epochs"])
        frame_hw = (config.height, config.width)
        aux_a = create_recognizer(s["aux_action"], data.num_actions, clip_len, frame_hw)
        aux_p = create_recognizer(s["aux_privacy"], privacy.shape[1], clip_len, frame_hw)
        aux_a.to(dev)
        aux_p.to(dev)
        # The network's own learning rate in phase 2 (adv_lr; default: phase 1's lr). The cpu profile
        # trains phase 1 gently (a fast one diverged over 40 epochs) and phase 2 fast: the measured
        # top-1 rose with the phase-2 rate (card, variants).
        adv_lr = float(s.get("adv_lr", lr))
        opt_net = torch.optim.AdamW(net.parameters(), lr=adv_lr, weight_decay=float(s["weight_decay"]))
        aux_lr = float(s.get("aux_lr", lr))
        opt_a = torch.optim.AdamW(aux_a.parameters(), lr=aux_lr, weight_decay=float(s["weight_decay"]))
        opt_p = torch.optim.AdamW(aux_p.parameters(), lr=aux_lr, weight_decay=float(s["weight_decay"]))
        # Through DDP, which averages the auxiliaries' gradients over the ranks.
        ddp_a, ddp_p = distributed.wrap(aux_a), distributed.wrap(aux_p)

        # Auxiliary warm start (a choice; cpu profile only): the auxiliary recognizers first learn on
        # the warm-started network's output, the network fixed, as SPAct's initialization pre-trains
        # its action and privacy models. Without it phase 2 opens against an action recognizer at
        # chance, whose loss tells the anonymizer nothing, while the privacy term already scrambles it.
        e_aux = int(s.get("aux_warmup_epochs", 0))
        if e_aux:
            # The network is saved too, though fixed here: a resumed fit skips the earlier stages.
            first, step, history = begin("aux_warmup", {"net": net, "aux_action": aux_a, "aux_privacy": aux_p,
                                                        "opt_action": opt_a, "opt_privacy": opt_p}, e_aux)
            total = e_aux * steps_per_epoch
            aux_a.train()
            aux_p.train()
            for m in norms:  # the network is fixed here, its batch statistics included
                m.eval()
            with tqdm(total=total, initial=step, desc="stprivacy auxiliary warm start", unit="step", disable=quiet) as bar:
                for epoch in range(first, e_aux):
                    order = rng.permutation(len(videos))
                    losses = []
                    for b in range(steps_per_epoch):
                        x, noise, mine, weight = sample(order[b * batch : (b + 1) * batch])
                        with torch.no_grad(), distributed.autocast():
                            video = net(x, black_value=BLACK, gumbel_noise=noise, actions=False).video.clamp(*_PIXEL_RANGE)
                        with distributed.autocast():
                            l_a = F.cross_entropy(ddp_a(video), actions[mine])
                        step_opt(opt_a, aux_a.parameters(), weight * l_a, step, total, warmup, aux_lr)
                        with distributed.autocast():
                            l_p = F.binary_cross_entropy_with_logits(ddp_p(video), privacy[mine])
                        step_opt(opt_p, aux_p.parameters(), weight * l_p, step, total, warmup, aux_lr)
                        losses.append(tuple(distributed.mean_across(weight * v.item()) for v in (l_a, l_p)))
                        step += 1
                        bar.update()
                    m = np.mean(losses, axis=0)
                    bar.set_postfix(l_act=f"{m[0]:.2f}", l_priv=f"{m[1]:.2f}")
                    end_epoch(history, epoch, l_action=m[0], l_privacy=m[1])
            for m in norms:
                m.train()

        total = e2 * steps_per_epoch
        first, step, history = begin("phase2", {"net": net, "opt": opt_net, "aux_action": aux_a, "aux_privacy": aux_p,
                                                "opt_action": opt_a, "opt_privacy": opt_p}, e2)
        aux_a.train()
        aux_p.train()
        with tqdm(total=total, initial=step, desc="stprivacy phase 2 (adversarial)", unit="step", disable=quiet) as bar:
            for epoch in range(first, e2):
                order = rng.permutation(len(videos))
                losses = []
                for b in range(steps_per_epoch):
                    x, noise, mine, weight = sample(order[b * batch : (b + 1) * batch])
                    with distributed.autocast():
                        out = ddp(x, black_value=BLACK, gumbel_noise=noise, actions=False)
                        video = _straight_through_clamp(out.video)
                        spars = sparsity_loss(out.decisions, config.alpha)
                        # One backward pass serves the three alternate updates: each auxiliary gets the
                        # gradient of its own loss on this output, and the network, through scale_grad,
                        # lambda_action times the action one and -lambda_privacy times the privacy one
                        # (eq. 13). The updates of three separate passes (dropout masks aside), without
                        # running the auxiliaries twice.
                        l_action = F.cross_entropy(ddp_a(scale_grad(video, la)), actions[mine])
                        l_privacy = F.binary_cross_entropy_with_logits(ddp_p(scale_grad(video, -lp)), privacy[mine])
                    net_lr, aux_step_lr = cosine_lr(step, total, warmup, adv_lr), cosine_lr(step, total, warmup, aux_lr)
                    optimizer_steps([(opt_net, net.parameters(), net_lr), (opt_a, aux_a.parameters(), aux_step_lr),
                                     (opt_p, aux_p.parameters(), aux_step_lr)], weight * (spars + l_action + l_privacy), clip)
                    losses.append(tuple(distributed.mean_across(weight * v.item()) for v in (spars, l_action, l_privacy)))
                    step += 1
                    bar.update()
                m = np.mean(losses, axis=0)
                bar.set_postfix(l_act=f"{m[1]:.2f}", l_priv=f"{m[2]:.2f}")
                end_epoch(history, epoch, l_spars=m[0], l_action=m[1], l_privacy=m[2])
        net.eval()

    # --- inference -----------------------------------------------------------------
    def effective_keep_ratio(self) -> float:
        if self.keep_ratio is not None:
            return self.keep_ratio
        cfg = self._require_net().config
        return cfg.alpha ** len(cfg.layers_per_psb)

    def _require_net(self) -> STPrivacyNet:
        if self.net is None:
            raise VPBenchError("stprivacy is not trained: train it with `vpbench evaluate` or pass --checkpoint")
        return self.net

    @torch.no_grad()
    def transform(self, videos: torch.Tensor, person_masks=None) -> torch.Tensor:
        check_videos(videos)
        net = self._require_net()
        cfg = net.config
        b, t, h, w, _ = videos.shape
        if (h, w) != (cfg.height, cfg.width):
            raise VPBenchError(f"stprivacy was trained on {cfg.height}x{cfg.width} frames, got {h}x{w} (vpbench anonymize resizes for you)")
        x = videos
        if t < cfg.frames:  # short window: repeat the last frame, cut the output back
            x = torch.cat([videos, videos[:, -1:].expand(b, cfg.frames - t, h, w, 3)], 1)
        elif t > cfg.frames:
            raise VPBenchError(f"stprivacy transforms {cfg.frames}-frame windows, got {t} frames")
        net.eval()
        dev = distributed.device()
        net.to(dev)  # a loaded checkpoint sits on the CPU; a fitted net already on the device
        with distributed.autocast():
            out = net(normalize(x.to(dev).permute(0, 4, 1, 2, 3)), keep_ratio=self.effective_keep_ratio(), black_value=BLACK)
        return to_uint8(denormalized(out.video.float()))[:, :t].cpu()  # rounded from float32 whatever the pass's precision

    # --- state ------------------------------------------------------------------------
    def provenance(self) -> dict:
        """Which ViT weights the fit started from (a checkpoint carries it in its log)."""
        return {"init_weights": self.log["init_weights"]} if "init_weights" in self.log else {}

    def state_dict(self) -> dict:
        net = self._require_net()
        config = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(net.config).items()}
        weights = {k: v.detach().cpu() for k, v in net.state_dict().items()}  # a checkpoint loads anywhere
        return {"config": config, "weights": weights, "frame_interval": self.frame_interval, "log": self.log}

    def load_state_dict(self, state: dict) -> None:
        try:
            config = STPrivacyConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["config"].items()})
            net = STPrivacyNet(config)
            net.load_state_dict(state["weights"])
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
            # A checkpoint is untrusted input: any malformed part is a one-line user error.
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
            raise VPBenchError(f"not a valid stprivacy checkpoint ({reason})") from None
        if self.alpha is not None and abs(self.alpha - config.alpha) > 1e-9:
            raise VPBenchError(f"the checkpoint was trained with alpha={config.alpha}; change the deployment trade-off with keep_ratio instead")
        net.eval()
        self.net = net
        self.frame_interval = int(state.get("frame_interval", 1))
        self.log = state.get("log", {})
