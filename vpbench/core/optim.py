"""The optimization steps every training loop shares: cosine learning rate, clipped updates, gradient scaling."""

from __future__ import annotations

import math

import torch
from torch import nn


def cosine_lr(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return base * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def optimizer_step(opt: torch.optim.Optimizer, params, loss: torch.Tensor, lr: float, grad_clip: float | None) -> None:
    """One update at learning rate ``lr``, with gradient-norm clipping (every training loop uses this)."""
    optimizer_steps([(opt, params, lr)], loss, grad_clip)


def optimizer_steps(updates, loss: torch.Tensor, grad_clip: float | None) -> None:
    """Several models updated from one backward pass of ``loss``: ``updates`` lists ``(optimizer,
    params, lr)``; each model's gradient norm is clipped on its own, as separate steps would."""
    for opt, _, lr in updates:
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
    loss.backward()
    for opt, params, _ in updates:
        if grad_clip:
            nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()


class _ScaleGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.factor, None


def scale_grad(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``x`` forward; its gradient multiplied by ``factor`` backward (``-1``: gradient reversal).

    An adversarial step uses it so that one backward pass gives the recognizer the gradient of its
    own loss and the transformer upstream ``factor`` times it."""
    return _ScaleGrad.apply(x, float(factor))
