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
from .anonymizer_method import StagedFit, data_digest
from .base import FitContext, FitData, PrivacyMethod, check_videos

BLACK = (0.0 - MEAN) / STD  # the normalized value of a black pixel
_PIXEL_RANGE = (BLACK, (1.0 - MEAN) / STD)  # black and white, normalized


def _straight_through_clamp(x: torch.Tensor) -> torch.Tensor:
    """Clamp to the valid pixel range forward; identity gradient backward (so the adversary's signal reaches
    outliers)."""
    return x + (x.clamp(*_PIXEL_RANGE) - x).detach()


def _crop_and_resize(clips: torch.Tensor, boxes: list[tuple[int, int, int, int]]) -> torch.Tensor:
    """Each ``3,T,H,W`` clip cut to its ``(y0, x0, y1, x1)`` box and resized back to ``H x W`` (bilinear)."""
    c, t, h, w = clips.shape[1:]
    return torch.stack(
        [
            F.interpolate(
                clip[:, :, y0:y1, x0:x1].reshape(1, c * t, y1 - y0, x1 - x0),
                size=(h, w),
                mode="bilinear",
                align_corners=False,
            ).reshape(c, t, h, w)
            for clip, (y0, x0, y1, x1) in zip(clips, boxes)
        ]
    )


class _Fit:
    """One STPrivacy fit: the network, its training data and settings, and a method per stage.

    Every epoch of every stage ends in a checkpoint (:class:`StagedFit`); a killed fit resumes from the last one.
    """

    def __init__(self, method: STPrivacy, data: FitData, s: dict, context: FitContext) -> None:
        self.s, self.data, self.log = s, data, method.log
        self.config = config = method._config(s, context, data.num_actions)
        method.frame_interval = context.frame_interval
        torch.manual_seed(context.seed)
        self.rng = np.random.default_rng(context.seed)
        init = method.initial_weights(s)
        method.net = self.net = STPrivacyNet(config)
        if init is None:
            chosen_by = "option init_weights=none" if method.init_weights else "profile"
            self.log["init_weights"] = {"file": None, "chosen_by": chosen_by}
        else:
            self.log["init_weights"] = {"file": Path(init).name, **load_vit_weights(self.net, init)}
        self.dev = dev = distributed.device()  # the configured device (--device; auto: the GPU when there is one)
        self.net.to(dev)
        self.actions = torch.tensor(np.asarray(data.actions), dtype=torch.long).to(dev)
        self.privacy = torch.tensor(np.asarray(data.privacy), dtype=torch.float32).to(dev)
        self.batch = int(s["batch_size"])
        self.steps = max(1, math.ceil(len(data.videos) / self.batch))
        self.lr, self.clip, self.wd = float(s["lr"]), float(s.get("grad_clip", 1.0)), float(s["weight_decay"])
        self.warmup = int(float(s.get("warmup_epochs", 1)) * self.steps)
        # Scale jitter of the training clips (a choice, cpu profile; the paper names no augmentation):
        # each clip is a random crop of min_scale..1 of the frame's sides, resized back. No flip
        # (left/right actions). 1.0: the whole frame, as the paper profile trains.
        self.jitter = float(s.get("train_min_scale", 1.0))
        if not 0.0 < self.jitter <= 1.0:  # checked here: above 1 would otherwise mean "no jitter" without a word
            raise VPBenchError(f"models/methods/stprivacy.yaml: train_min_scale must be in (0, 1], got {self.jitter}")
        self.stages = StagedFit(
            context.checkpoint_dir,
            self.rng,
            {
                "method": method.name,
                "version": method.version,
                "settings": s,
                "config": asdict(config),
                "seed": int(context.seed),
                "init": None if init is None else str(init),
                "data": data_digest(data.actions, data.privacy, videos=data.videos),
            },
            self.log,
            report=context.report,
        )
        self.quiet = not context.progress
        self.ddp, self.norms = None, []  # set by phase 1 and after it (fit)
        self.step = self.total = 0  # the stage's step (of self.total): the learning rates' schedule

    def sample(self, sel) -> tuple[torch.Tensor, list[torch.Tensor], np.ndarray, float]:
        """This rank's share of a global batch: clips, Gumbel noise, batch positions, loss weight.

        Every rank draws the clip starts and the Gumbel noise of the whole global batch (the
        numbers one process draws) and keeps its own share, as the recognizers' training does.
        """
        videos, config, rng = self.data.videos, self.config, self.rng
        picks = [random_clip(len(videos[int(k)]), config.frames, rng) for k in sel]
        noise = self.net.draw_gumbel_noise(rng, len(sel))
        jitter = self.jitter
        boxes = [random_scaled_box(config.height, config.width, jitter, rng) for _ in sel] if jitter < 1.0 else None
        part, weight = distributed.local_share(len(sel))
        work = self.log.setdefault("work", {"world_size": distributed.world()[1], "clips": 0, "clips_here": 0})
        work["clips"] += len(sel)  # the global batches' clips; clips_here: this rank's (rank 0's in a checkpoint)
        work["clips_here"] += len(part) if weight else 0
        clips = [torch.from_numpy(np.ascontiguousarray(videos[int(sel[i])][picks[i]])) for i in part]
        local = torch.as_tensor(part)
        x = normalize(torch.stack(clips).to(self.dev).permute(0, 4, 1, 2, 3))
        if boxes is not None:
            x = _crop_and_resize(x, [boxes[i] for i in part])
        return x, [g[local].to(self.dev) for g in noise], np.asarray(sel)[part], weight

    def step_opt(self, opt, params, loss, warmup: int, base_lr: float) -> None:
        optimizer_step(opt, params, loss, cosine_lr(self.step, self.total, warmup, base_lr), self.clip)

    def run_stage(self, stage: str, objects: dict, epochs: int, desc: str, train, summary, started=None) -> None:
        """``epochs`` epochs of ``stage``, resumed from the checkpoint. Each epoch draws a random order of the
        videos and trains on its batches (``train(x, noise, mine, weight)``: the batch's losses); then
        ``summary(mean losses)`` gives the progress bar's postfix and the values logged with the epoch's wall
        seconds. ``started()``: what follows the restore (see :meth:`StagedFit.run`)."""
        from ..core.progress import Progress

        self.total = epochs * self.steps

        def begin() -> None:
            self.clock = time.perf_counter()
            self.log.setdefault(stage, [])
            if started is not None:
                started()

        def epoch(k: int) -> None:
            order = self.rng.permutation(len(self.data.videos))
            self.step, losses = k * self.steps, []
            for b in range(self.steps):
                losses.append(train(*self.sample(order[b * self.batch : (b + 1) * self.batch])))
                self.step += 1
                bar.update()
            postfix, values = summary(np.mean(losses, axis=0))
            bar.set_postfix(**postfix)
            now = time.perf_counter()
            values = {name: v if isinstance(v, list) else float(v) for name, v in values.items()}
            self.log[stage].append({"epoch": k + 1, **values, "seconds": round(now - self.clock, 2)})
            self.clock = now

        with Progress(total=self.total, desc=desc, unit="step", disable=self.quiet) as bar:
            self.stages.run(stage, objects, epochs, epoch, self.steps, bar=bar, started=begin)

    def phase1(self) -> None:
        """Phase 1, initialization (eq. 12): L_spars + L'_action, the network classifying actions itself."""
        net, alpha = self.net, self.config.alpha
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.wd)
        tally = {"correct": 0, "seen": 0}

        def started() -> None:
            # One DDP wrapper for all phases (wrapping a module twice would reduce its gradients twice);
            # each phase's loss leaves some heads out, hence find_unused_parameters.
            self.ddp = distributed.wrap(net, find_unused_parameters=True)
            net.train()

        def train(x, noise, mine, weight) -> tuple[float, float]:
            with distributed.autocast():
                out = self.ddp(x, black_value=BLACK, gumbel_noise=noise, video=False)
                ce = F.cross_entropy(out.action_logits, self.actions[mine])
                spars = sparsity_loss(out.decisions, alpha)
            self.step_opt(opt, net.parameters(), weight * (spars + ce), self.warmup, self.lr)
            hits, n_seen, *mean = distributed.sum_across(
                [
                    float((out.action_logits.argmax(1) == self.actions[mine]).sum()) if weight else 0.0,
                    len(mine) if weight else 0,
                    weight * spars.item(),
                    weight * ce.item(),
                ]
            )
            tally.update(correct=tally["correct"] + int(hits), seen=tally["seen"] + int(n_seen), out=out)
            return tuple(v / distributed.world()[1] for v in mean)

        def summary(m) -> tuple[dict, dict]:
            top1 = tally["correct"] / max(tally["seen"], 1)
            keep = [d.detach().mean().item() for d in tally["out"].decisions]
            tally.update(correct=0, seen=0)
            return (
                {"top1": f"{top1:.2f}", "spars": f"{m[0]:.3f}"},
                {"l_spars": m[0], "l_action_self": m[1], "train_top1": top1, "keep_share": keep},
            )

        self.run_stage(
            "phase1",
            {"net": net, "opt": opt},
            int(self.s["init_epochs"]),
            "stprivacy phase 1 (init)",
            train,
            summary,
            started,
        )

    def pab_warmup(self, epochs: int) -> None:
        """PAB warm start (a choice: the paper does not say how the PAB starts phase 2). Phase 1 never
        trains the PAB, so phase 2 would begin from random pixels that carry no action; a few epochs of
        L1 reconstruction of the kept tubelets, with everything else frozen, start it near the identity
        instead (SPAct initializes its anonymizer the same way). Eq. 12 is unchanged: only PAB parameters
        move, and the paper profile sets 0 epochs."""
        net = self.net
        pab_params = [p for m in (net.pab, net.pab_norm, net.to_pixels) for p in m.parameters()]
        opt = torch.optim.AdamW(pab_params, lr=self.lr, weight_decay=self.wd)
        frozen = [p for p in net.parameters() if all(p is not q for q in pab_params)]

        def started() -> None:
            for p in frozen:
                p.requires_grad_(False)
            for m in self.norms:  # frozen means frozen: the stem's batch statistics stay too
                m.eval()

        def train(x, noise, _, weight) -> float:
            with distributed.autocast():
                out = self.ddp(x, black_value=BLACK, gumbel_noise=noise, actions=False)
                mask = net._mask_to_video(out.decisions[-1].detach())
                target = x * mask + net._black(BLACK, x) * (1.0 - mask)
                loss = (out.video - target).abs().mean()
            self.step_opt(opt, pab_params, weight * loss, 0, self.lr)
            return distributed.mean_across(weight * loss.item())

        self.run_stage(
            "pab_warmup",
            {"net": net, "opt": opt},
            epochs,
            "stprivacy PAB warm start",
            train,
            lambda m: ({"l1": f"{m:.3f}"}, {"l1_reconstruction": m}),
            started,
        )
        for p in frozen:
            p.requires_grad_(True)
        for m in self.norms:
            m.train()

    def auxiliaries(self) -> None:
        """Phase 2's auxiliary action and privacy recognizers, and the optimizers of phase 2."""
        s, (frames, h, w) = self.s, (self.config.frames, self.config.height, self.config.width)
        self.aux_a = create_recognizer(s["aux_action"], self.data.num_actions, frames, (h, w))
        self.aux_p = create_recognizer(s["aux_privacy"], self.privacy.shape[1], frames, (h, w))
        self.aux_a.to(self.dev)
        self.aux_p.to(self.dev)
        # adv_lr: the network's own learning rate in phase 2 (default: phase 1's lr), so that a profile
        # can train phase 1 gently and phase 2 fast.
        self.adv_lr = float(s.get("adv_lr", self.lr))
        self.opt_net = torch.optim.AdamW(self.net.parameters(), lr=self.adv_lr, weight_decay=self.wd)
        self.aux_lr = float(s.get("aux_lr", self.lr))
        self.opt_a = torch.optim.AdamW(self.aux_a.parameters(), lr=self.aux_lr, weight_decay=self.wd)
        self.opt_p = torch.optim.AdamW(self.aux_p.parameters(), lr=self.aux_lr, weight_decay=self.wd)
        # Through DDP, which averages the auxiliaries' gradients over the ranks.
        self.ddp_a, self.ddp_p = distributed.wrap(self.aux_a), distributed.wrap(self.aux_p)

    def aux_warmup(self, epochs: int) -> None:
        """Auxiliary warm start (a choice; cpu profile only): the auxiliary recognizers first learn on the
        warm-started network's output, the network fixed, as SPAct's initialization pre-trains its action and
        privacy models. Without it phase 2 opens against an action recognizer at chance, whose loss tells the
        anonymizer nothing, while the privacy term already scrambles it."""
        aux_a, aux_p, opt_a, opt_p = self.aux_a, self.aux_p, self.opt_a, self.opt_p

        def started() -> None:
            aux_a.train()
            aux_p.train()
            for m in self.norms:  # the network is fixed here, its batch statistics included
                m.eval()

        def train(x, noise, mine, weight) -> tuple[float, float]:
            with torch.no_grad(), distributed.autocast():
                video = self.net(x, black_value=BLACK, gumbel_noise=noise, actions=False).video.clamp(*_PIXEL_RANGE)
            with distributed.autocast():
                l_a = F.cross_entropy(self.ddp_a(video), self.actions[mine])
            self.step_opt(opt_a, aux_a.parameters(), weight * l_a, self.warmup, self.aux_lr)
            with distributed.autocast():
                l_p = F.binary_cross_entropy_with_logits(self.ddp_p(video), self.privacy[mine])
            self.step_opt(opt_p, aux_p.parameters(), weight * l_p, self.warmup, self.aux_lr)
            return tuple(distributed.mean_across(weight * v.item()) for v in (l_a, l_p))

        # The network is saved too, though fixed here: a resumed fit skips the earlier stages.
        objects = {
            "net": self.net,
            "aux_action": aux_a,
            "aux_privacy": aux_p,
            "opt_action": opt_a,
            "opt_privacy": opt_p,
        }
        self.run_stage(
            "aux_warmup",
            objects,
            epochs,
            "stprivacy auxiliary warm start",
            train,
            lambda m: ({"l_act": f"{m[0]:.2f}", "l_priv": f"{m[1]:.2f}"}, {"l_action": m[0], "l_privacy": m[1]}),
            started,
        )
        for m in self.norms:
            m.train()

    def phase2(self) -> None:
        """Phase 2, adversarial learning (eq. 13), with the auxiliary recognizers updated alternately."""
        net, alpha, clip = self.net, self.config.alpha, self.clip
        la, lp = float(self.s["lambda_action"]), float(self.s["lambda_privacy"])
        opt_net, opt_a, opt_p, aux_a, aux_p = self.opt_net, self.opt_a, self.opt_p, self.aux_a, self.aux_p

        def train(x, noise, mine, weight) -> tuple[float, float, float]:
            with distributed.autocast():
                out = self.ddp(x, black_value=BLACK, gumbel_noise=noise, actions=False)
                video = _straight_through_clamp(out.video)
                spars = sparsity_loss(out.decisions, alpha)
                # One backward pass serves the three alternate updates: each auxiliary gets the
                # gradient of its own loss on this output, and the network, through scale_grad,
                # lambda_action times the action one and -lambda_privacy times the privacy one
                # (eq. 13). The updates of three separate passes (dropout masks aside), without
                # running the auxiliaries twice.
                l_action = F.cross_entropy(self.ddp_a(scale_grad(video, la)), self.actions[mine])
                l_privacy = F.binary_cross_entropy_with_logits(self.ddp_p(scale_grad(video, -lp)), self.privacy[mine])
            net_lr = cosine_lr(self.step, self.total, self.warmup, self.adv_lr)
            aux_lr = cosine_lr(self.step, self.total, self.warmup, self.aux_lr)
            optimizer_steps(
                [
                    (opt_net, net.parameters(), net_lr),
                    (opt_a, aux_a.parameters(), aux_lr),
                    (opt_p, aux_p.parameters(), aux_lr),
                ],
                weight * (spars + l_action + l_privacy),
                clip,
            )
            return tuple(distributed.mean_across(weight * v.item()) for v in (spars, l_action, l_privacy))

        objects = {
            "net": net,
            "opt": opt_net,
            "aux_action": aux_a,
            "aux_privacy": aux_p,
            "opt_action": opt_a,
            "opt_privacy": opt_p,
        }
        self.run_stage(
            "phase2",
            objects,
            int(self.s["adv_epochs"]),
            "stprivacy phase 2 (adversarial)",
            train,
            lambda m: (
                {"l_act": f"{m[1]:.2f}", "l_priv": f"{m[2]:.2f}"},
                {"l_spars": m[0], "l_action": m[1], "l_privacy": m[2]},
            ),
            lambda: (aux_a.train(), aux_p.train()),
        )


class STPrivacy(PrivacyMethod):
    name = "stprivacy"
    version = "1"
    learned = True
    deploy_options = ("keep_ratio",)
    description = "STPrivacy (ICCV 2023): tubelet sparsification + anonymization with a ViT, adversarial training"

    def __init__(
        self,
        keep_ratio: float | None = None,
        alpha: float | None = None,
        use_pab: bool = True,
        delta_t: int | None = None,
        init_weights: str | None = None,
    ) -> None:
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
                "this STPrivacy profile starts from an ImageNet ViT-S, as the paper does: pass --option "
                "init_weights=PATH "
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
            frames=context.clip_len,
            height=context.frame_size[0],
            width=context.frame_size[1],
            tubelet=tuple(tubelet),
            dim=int(settings["dim"]),
            heads=int(settings["heads"]),
            layers_per_psb=tuple(settings["layers_per_psb"]),
            pab_layers=int(settings["pab_layers"]),
            alpha=self.alpha if self.alpha is not None else float(settings["alpha"]),
            stem=settings.get("stem", "linear"),
            stem_channels=tuple(settings.get("stem_channels", (32, 64))),
            num_actions=num_actions,
            use_pab=self.use_pab,
            gumbel_tau=float(settings.get("gumbel_tau", 1.0)),
        )

    def fit(self, data: FitData, settings: dict, context: FitContext) -> None:
        fit = _Fit(self, data, dict(settings), context)
        fit.phase1()
        # Listed after phase 1's DDP wrap, which swaps in SyncBatchNorm on GPUs.
        fit.norms = [m for m in fit.net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        e_warm = int(fit.s.get("pab_warmup_epochs", 0)) if fit.config.use_pab else 0
        if e_warm:
            fit.pab_warmup(e_warm)
        fit.auxiliaries()
        e_aux = int(fit.s.get("aux_warmup_epochs", 0))
        if e_aux:
            fit.aux_warmup(e_aux)
        fit.phase2()
        fit.net.eval()

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
            raise VPBenchError(
                f"stprivacy was trained on {cfg.height}x{cfg.width} frames, got {h}x{w} (vpbench "
                f"anonymize resizes for you)"
            )
        x = videos
        if t < cfg.frames:  # short window: repeat the last frame, cut the output back
            x = torch.cat([videos, videos[:, -1:].expand(b, cfg.frames - t, h, w, 3)], 1)
        elif t > cfg.frames:
            raise VPBenchError(f"stprivacy transforms {cfg.frames}-frame windows, got {t} frames")
        net.eval()
        dev = distributed.device()
        net.to(dev)  # a loaded checkpoint sits on the CPU; a fitted net already on the device
        with distributed.autocast():
            out = net(
                normalize(x.to(dev).permute(0, 4, 1, 2, 3)), keep_ratio=self.effective_keep_ratio(), black_value=BLACK
            )
        # rounded from float32 whatever the pass's precision
        return to_uint8(denormalized(out.video.float()))[:, :t].cpu()

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
            raise VPBenchError(
                f"the checkpoint was trained with alpha={config.alpha}; change the deployment "
                f"trade-off with keep_ratio instead"
            )
        net.eval()
        self.net = net
        self.frame_interval = int(state.get("frame_interval", 1))
        self.log = state.get("log", {})
