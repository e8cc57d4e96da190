"""Collective (Zhang et al., ICDM 2019): a transformation trained against a frozen utility model, no privacy labels.

Following the code released with that line of work (dalinzhang/SensePrivacy, ``loss.py`` and
``TransNet_motionsense.py``), read for videos:

1. a utility (action) model is trained on raw training videos with cross-entropy, then frozen;
2. a frame-wise transformation network is trained, the utility model fixed, on
   ``w_c * content + w_s * sum_l style_l + w_a * CE_action`` (source weights 0.35, 0.55, 0.1), where
   - content: the squared distance between the utility model's deepest features of the transformed and
     of the raw clip, divided by the feature map's size (the source's ``FeatureReconstructionRegularizer``);
   - style_l: the summed squared difference between the Gram matrix of the transformed clip's features at
     layer ``l`` and that of one fixed noise clip's (``StyleReconstructionRegularizer``): the output takes
     the statistics of noise while keeping the content the utility model needs;
   - CE_action: the frozen utility model's cross-entropy on the transformed clip.

No adversary is trained and ``FitData.privacy`` is never read: being label-free is that work's point, and a
test holds the method to it. ``models/methods/collective.yaml`` lists every choice the video setting forced.
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
from ..networks.recognizers import VideoCNN, ViTClassifier, create_recognizer
from .anonymizer_method import (
    FrameAnonymizerMethod,
    StagedFit,
    data_digest,
    local_part,
    logged,
    mean,
    optional_weight,
    recognizer_epoch,
    seeded_draw,
)
from .base import FitContext, FitData

UTILITY_ARCHS = ("video-cnn", "video-vit")


def feature_stages(model: nn.Module) -> list[nn.Module]:
    """The layers of a utility model whose outputs the content and style losses read: a 3D CNN's
    convolution layers (conv + norm + ReLU, as the source's ReLU convolutions), a video ViT's blocks."""
    if isinstance(model, VideoCNN):
        return [m for m in model.features if isinstance(m, nn.Sequential)]
    if isinstance(model, ViTClassifier) and model.video:
        return list(model.blocks)
    raise VPBenchError(
        f"collective's utility model must be one of {', '.join(UTILITY_ARCHS)}, got {type(model).__name__}"
    )


def loss_layers(num_stages: int) -> tuple[list[int], list[int]]:
    """``(content, style)`` stage indices, the source's choice carried over: its utility model has four ReLU
    convolutions in two blocks; content reads the last, style the end of the first block and the last. Here:
    content the last stage, style the end of the first half and the last."""
    last = num_stages - 1
    return [last], sorted({max(num_stages // 2 - 1, 0), last})


def utility_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The model's logits on normalized clips ``x`` and every stage's output as ``B x C x P`` (``P`` positions:
    ``T * H * W`` of a feature map, or a ViT's tokens), from one forward pass."""
    seen: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.append(out)) for m in feature_stages(model)]
    try:
        logits = model(x)
    finally:
        for h in hooks:
            h.remove()
    if isinstance(model, ViTClassifier):
        return logits, [f.transpose(1, 2) for f in seen]  # tokens B x N x D -> B x D x N
    return logits, [f.flatten(2) for f in seen]


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices ``B x C x C`` of features ``B x C x P``, divided by ``C * P`` (the source's ``gram_matrix``),
    in float32 whatever the pass's precision."""
    f = features.float()
    c, p = f.shape[1:]
    return f @ f.transpose(1, 2) / (c * p)


def style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Per sample, the summed squared difference between the features' Gram matrix and the target's
    (``C x C``, or ``B x C x C``); averaged over the batch."""
    return (gram(features) - target_gram).pow(2).sum((1, 2)).mean()


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per sample, the summed squared difference of two feature maps ``B x C x P`` divided by ``C * P``;
    averaged over the batch (that is, their mean squared difference)."""
    return F.mse_loss(features.float(), target.float())


def noise_clip(clip_len: int, height: int, width: int, seed: int) -> torch.Tensor:
    """The style target's input: one clip ``1 x 3 x T x H x W`` of i.i.d. uniform pixels in [0, 1], the same for
    a given seed on every machine (drawn on the CPU)."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.rand(1, 3, int(clip_len), int(height), int(width), generator=g)


@torch.no_grad()
def noise_grams(utility: nn.Module, noise: torch.Tensor, layers: list[int]) -> list[torch.Tensor]:
    """The Gram matrices ``1 x C x C`` of the frozen utility model's features of the noise clip at ``layers``."""
    with distributed.autocast():
        _, feats = utility_features(utility, normalized(noise))
    return [gram(feats[i]) for i in layers]


def transformation_loss(
    net: nn.Module,
    utility: nn.Module,
    clips: torch.Tensor,
    actions: torch.Tensor,
    targets: list[torch.Tensor],
    layers: tuple[list[int], list[int]],
    weights: tuple[float, float, float],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The transformation's objective on raw clips in [0, 1], the utility model frozen:
    ``(w_c * content + w_s * style + w_a * CE, content, style, CE)``; ``style`` sums over the style layers,
    ``targets`` are the noise's Gram matrices at them (:func:`noise_grams`), ``layers`` is
    ``(content, style)`` (:func:`loss_layers`), ``weights`` ``(w_c, w_s, w_a)``."""
    content_at, style_at = layers
    logits, feats = utility_features(utility, normalized(net(clips)))
    with torch.no_grad():
        _, raw = utility_features(utility, normalized(clips))
    l_c = sum(content_loss(feats[i], raw[i]) for i in content_at)
    l_s = sum(style_loss(feats[i], t) for i, t in zip(style_at, targets))
    l_a = F.cross_entropy(logits.float(), actions)
    w_c, w_s, w_a = weights
    return w_c * l_c + w_s * l_s + w_a * l_a, l_c, l_s, l_a


class Collective(FrameAnonymizerMethod):
    name = "collective"
    version = "2"
    description = (
        "Collective (ICDM 2019): a transformation trained with content, noise-style (Gram) and utility losses "
        "against a frozen action model; no privacy labels"
    )

    def __init__(
        self, content_weight: float | None = None, style_weight: float | None = None, action_weight: float | None = None
    ) -> None:
        super().__init__()
        self.content_weight = optional_weight("content_weight", content_weight)
        self.style_weight = optional_weight("style_weight", style_weight)
        self.action_weight = optional_weight("action_weight", action_weight)

    def load(self, path) -> None:
        """As every method loads, but a checkpoint of version 1 (a different design: one discriminator per
        privacy attribute) is refused rather than run under this version's name."""
        from ..core.checkpoint import load_torch

        blob = load_torch(path, "vpbench checkpoint")
        if isinstance(blob, dict) and blob.get("method") == self.name and str(blob.get("version")) == "1":
            raise VPBenchError(
                f"{path}: a collective checkpoint of version 1 (discriminators trained on privacy labels), not the "
                f"method of version {self.version}; train it again"
            )
        super().load(path)

    def check_settings(self, settings: dict) -> None:
        arch = (settings.get("action_model") or {}).get("arch")
        if arch not in UTILITY_ARCHS:
            raise VPBenchError(f"collective's action_model must be one of {', '.join(UTILITY_ARCHS)}, got {arch!r}")

    def fit(self, data: FitData, settings: dict, context: FitContext) -> None:
        from ..core.progress import Progress

        s = dict(settings)
        self.check_settings(s)
        seed, progress, checkpoint_dir = context.seed, context.progress, context.checkpoint_dir
        given = (self.content_weight, self.style_weight, self.action_weight)
        keys = ("content_weight", "style_weight", "action_weight")
        weights = tuple(float(s[k]) if w is None else w for k, w in zip(keys, given))
        rng, draw, clip_len = seeded_draw(data, s, context)
        dev = draw.device
        actions = torch.tensor(np.asarray(data.actions), dtype=torch.long).to(dev)
        indices = np.arange(len(draw))
        batch, action_batch, clip = int(s["batch_size"]), int(s["action_batch"]), s.get("grad_clip")
        lr_t, lr_a = float(s["lr_transform"]), float(s["lr_action_pretrain"])

        net = self._new_net(s, context)
        hw = (net.config.height, net.config.width)
        utility = create_recognizer(s["action_model"], data.num_actions, clip_len, hw)
        utility.to(dev)  # initialized on the CPU above, so the weights do not depend on the device
        layers = loss_layers(len(feature_stages(utility)))
        noise = noise_clip(clip_len, *hw, s["noise_seed"]).to(dev)
        log = {
            **dict(zip(keys, weights)),
            "content_layers": layers[0],
            "style_layers": layers[1],
            "action_pretrain_ce": [],
            "epochs": [],
        }
        # The checkpoint is tied to what Collective reads: actions and clips, never the privacy labels.
        settings = {
            "method": self.name,
            "version": self.version,
            "settings": s,
            "seed": int(seed),
            "options": dict(zip(keys, weights)),
            "data": data_digest(data.actions, videos=data.videos),
        }
        opt_a = torch.optim.Adam(utility.parameters(), lr=lr_a)
        opt_t = torch.optim.Adam(net.parameters(), lr=lr_t)
        # Under torchrun the networks being trained go through DDP (alone: the networks themselves); each rank
        # takes its share of every global batch (anonymizer_method's rule). The frozen utility model needs none.
        ddp_net, ddp_utility = distributed.wrap(net), distributed.wrap(utility)
        targets: list[torch.Tensor] = []

        def freeze() -> None:
            # The utility model is fixed from here on: eval mode (running statistics, no dropout), no gradients.
            utility.eval()
            utility.requires_grad_(False)
            targets[:] = noise_grams(utility, noise, layers[1])

        def transformation_epoch(epoch: int) -> None:
            sums = np.zeros(4)
            steps = 0
            for sel in draw.batches(indices, batch):
                mine, weight = local_part(sel)
                net.train()
                clips = draw.clips(sel)
                with distributed.autocast():
                    loss, l_c, l_s, l_a = transformation_loss(
                        ddp_net, utility, clips, actions[torch.as_tensor(mine)], targets, layers, weights
                    )
                optimizer_step(opt_t, net.parameters(), weight * loss, lr_t, clip)
                sums += [logged(weight, v.item()) for v in (loss, l_c, l_s, l_a)]
                steps += 1
                bar.update()
                bar.set_postfix(content=f"{l_c.item():.3f}", style=f"{l_s.item():.3f}", ce=f"{l_a.item():.2f}")
            total, l_c, l_s, l_a = (round(float(v), 4) for v in sums / max(steps, 1))
            log["epochs"].append({"epoch": epoch, "loss": total, "content": l_c, "style": l_s, "action_ce": l_a})

        action_epoch, transform_epoch = math.ceil(len(indices) / action_batch), math.ceil(len(indices) / batch)
        n_action, n_transform = int(s["action_pretrain_epochs"]), int(s["transform_epochs"])
        total = n_action * action_epoch + n_transform * transform_epoch
        with Progress(total=total, desc="collective", unit="step", disable=not progress) as bar:
            fit = StagedFit(checkpoint_dir, rng, settings, log, bar, report=context.report)
            bar.set_description("collective: utility model on raw clips")
            fit.run(
                "utility",
                {"utility": utility, "opt": opt_a},
                n_action,
                lambda k: log["action_pretrain_ce"].append(
                    mean(recognizer_epoch(ddp_utility, opt_a, draw, indices, actions, action_batch, lr_a, clip, bar))
                ),
                action_epoch,
            )
            bar.set_description("collective: transformation")
            fit.run(
                "transformation",
                {"net": net, "utility": utility, "opt": opt_t},
                n_transform,
                transformation_epoch,
                transform_epoch,
                started=freeze,
            )
        net.eval()
        self.log = log
