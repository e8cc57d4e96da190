"""STPrivacy (Li et al., ICCV 2023): tubelet sparsification + anonymization, Section 3 of the paper.

Tensor convention: input float ``B x 3 x T x H x W``, already normalized; the
output is in the same normalized space (the caller un-normalizes and clamps).

Training keeps every token in the tensors and applies the decision matrix Î as
an attention / averaging mask (eqs. 8-10), so a batch can hold videos with
different kept counts. Inference keeps a fixed count per temporal slice and
physically gathers the kept tokens, so later layers run on fewer tokens and the
cost falls with the keep ratio (the deployment-time trade-off knob).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import VPBenchError

_MASK_EPS = 1e-6  # DynamicViT's normalisation eps


@dataclass(frozen=True)
class STPrivacyConfig:
    frames: int = 16
    height: int = 112
    width: int = 112
    tubelet: tuple[int, int, int] = (2, 16, 16)  # dT, dH, dW
    dim: int = 384
    heads: int = 6
    # Transformer layers before each PSB's pruning step (ViT-S: prune after layers 3, 6, 9).
    layers_per_psb: tuple[int, ...] = (3, 3, 3)
    pab_layers: int = 3
    alpha: float = 0.7
    # "linear": one Conv3d with kernel = stride = tubelet (the paper); "conv": small 3D-conv
    # stack ending at tubelet stride, which trains from scratch far better on CPU-sized data.
    stem: str = "linear"
    stem_channels: tuple[int, ...] = (32, 64)
    num_actions: int = 0
    use_pab: bool = True
    gumbel_tau: float = 1.0

    @property
    def grid(self) -> tuple[int, int, int]:
        """Token grid ``(L, Hp, Wp)``; ``N = Hp * Wp`` tokens per temporal slice."""
        dt, dh, dw = self.tubelet
        return self.frames // dt, self.height // dh, self.width // dw

    def validate(self) -> None:
        dt, dh, dw = self.tubelet
        if self.frames % dt or self.height % dh or self.width % dw:
            raise VPBenchError(
                f"STPrivacy input {self.frames}x{self.height}x{self.width} is not divisible by tubelets {self.tubelet}"
            )
        if self.dim % self.heads:
            raise VPBenchError(f"STPrivacy dim {self.dim} is not divisible by heads {self.heads}")
        if self.dim < 3:
            raise VPBenchError("STPrivacy dim must be at least 3 (three aggregation levels)")
        if not self.layers_per_psb:
            raise VPBenchError("STPrivacy needs at least one PSB")
        if not 0.0 < self.alpha <= 1.0:
            raise VPBenchError(f"STPrivacy alpha must be in (0, 1], got {self.alpha}")
        if self.stem not in ("linear", "conv"):
            from ..core.errors import unknown_name_error

            raise unknown_name_error("STPrivacy stem", self.stem, ["linear", "conv"])


@dataclass
class STPrivacyOutput:
    video: torch.Tensor | None  # B x 3 x T x H x W, normalized space (None when not asked for in training)
    decisions: list[torch.Tensor]  # Î_(m) after each PSB, B x L x N
    keep_probs: torch.Tensor  # last PSB's keep probability, B x L x N
    action_logits: torch.Tensor | None


# ----------------------------------------------------------------------------- building blocks


def masked_softmax(scores: torch.Tensor, policy: torch.Tensor, eps: float = _MASK_EPS) -> torch.Tensor:
    """Eq. 10: softmax over keys where ``M_ij = 1 if i == j else policy_j``.

    ``scores``: ``B x heads x n x n``; ``policy``: ``B x n``. Multiplying the mask
    into exp() (rather than adding -inf) keeps the gradient path to a
    straight-through policy, as in DynamicViT.
    """
    n = policy.shape[1]
    keep = policy.reshape(-1, 1, 1, n)
    eye = torch.eye(n, dtype=keep.dtype, device=keep.device).view(1, 1, n, n)
    mask = keep + (1.0 - keep) * eye
    scores = scores - scores.amax(dim=-1, keepdim=True)
    weights = scores.float().exp() * mask.float()
    weights = (weights + eps / n) / (weights.sum(dim=-1, keepdim=True) + eps)
    return weights.to(scores.dtype)


class Attention(nn.Module):
    """timm-layout self-attention (separate ``qkv`` and ``proj`` so ViT weights map by name)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, policy: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if policy is None:
            # Inference: the kept tokens were gathered, so plain attention is exact (and fused).
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            # The paper writes sqrt(D); per-head scaling is what ViT / DynamicViT use and
            # what pretrained ViT weights expect.
            attn = masked_softmax((q @ k.transpose(-2, -1)) * self.scale, policy)
            out = attn @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm Transformer layer, timm names (``norm1/attn/norm2/mlp``), eps 1e-6 as timm's ViT."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, policy: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), policy)
        return x + self.mlp(self.norm2(x))


def _masked_mean(h: torch.Tensor, policy: torch.Tensor | None, dims: tuple[int, ...]) -> torch.Tensor:
    """Mean of ``h`` (``... x C``) over ``dims`` counting only tokens with policy 1."""
    if policy is None:
        return h.mean(dim=dims, keepdim=True)
    p = policy.unsqueeze(-1)
    # Policies are hard 0/1, so clamping the count at 1 is exact whenever a token is kept
    # and turns an all-pruned slice into a zero feature instead of NaN.
    return (h * p).sum(dim=dims, keepdim=True) / p.sum(dim=dims, keepdim=True).clamp_min(1.0)


class TokenPredictor(nn.Module):
    """Multi-level feature aggregation (eqs. 1-4) and the keep-probability MLP (eq. 5)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        part = dim // 3
        # DynamicViT normalises the predictor input; the residual stream is not normalised otherwise.
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.local = nn.Sequential(nn.Linear(dim, part), nn.GELU())
        self.spatial = nn.Sequential(nn.Linear(dim, part), nn.GELU())
        self.spatiotemporal = nn.Sequential(nn.Linear(dim, part), nn.GELU())
        agg = 3 * part
        # Three-layer MLP with DynamicViT's halving widths.
        self.score = nn.Sequential(
            nn.Linear(agg, agg // 2), nn.GELU(), nn.Linear(agg // 2, agg // 4), nn.GELU(), nn.Linear(agg // 4, 2)
        )

    def aggregate(self, x: torch.Tensor, policy: torch.Tensor | None) -> torch.Tensor:
        """``x``: ``B x L x n x D``, ``policy``: ``B x L x n`` (or None = all kept) -> ``B x L x n x D'``."""
        x = self.norm(x)
        local = self.local(x)
        spatial = _masked_mean(self.spatial(x), policy, (2,)).expand_as(local)
        spatiotemporal = _masked_mean(self.spatiotemporal(x), policy, (1, 2)).expand_as(local)
        return torch.cat([local, spatial, spatiotemporal], dim=-1)

    def forward(self, x: torch.Tensor, policy: torch.Tensor | None) -> torch.Tensor:
        """Log keep/drop probabilities ``B x L x n x 2`` (index 0 = keep), log-softmax for stability."""
        return F.log_softmax(self.score(self.aggregate(x, policy)), dim=-1)


class PSB(nn.Module):
    """Privacy sparsification block: Transformer layers with masked attention, then the predictor."""

    def __init__(self, dim: int, heads: int, depth: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.predictor = TokenPredictor(dim)


def _stem_plan(config: STPrivacyConfig) -> list[tuple[int, int, tuple, tuple, tuple]]:
    """Convolutions of the stem as ``(cin, cout, kernel, stride, padding)``; the last one is the linear projection."""
    tubelet = tuple(config.tubelet)
    if config.stem == "linear":
        return [(3, config.dim, tubelet, tubelet, (0, 0, 0))]
    plan, cin = [], 3
    remaining = list(tubelet)
    for i, cout in enumerate(config.stem_channels):
        kernel = (1, 3, 3) if i == 0 else (3, 3, 3)
        # Halve space while the tubelet allows it; time is left to the final projection so
        # the first convs see every frame.
        stride = (1,) + tuple(2 if r % 2 == 0 and r > 1 else 1 for r in remaining[1:])
        remaining = [r // s for r, s in zip(remaining, stride)]
        plan.append((cin, cout, kernel, stride, tuple(k // 2 for k in kernel)))
        cin = cout
    plan.append((cin, config.dim, tuple(remaining), tuple(remaining), (0, 0, 0)))
    return plan


def _build_stem(config: STPrivacyConfig) -> nn.Module:
    plan = _stem_plan(config)
    layers: list[nn.Module] = []
    for cin, cout, kernel, stride, padding in plan[:-1]:
        layers += [nn.Conv3d(cin, cout, kernel, stride, padding, bias=False), nn.BatchNorm3d(cout), nn.GELU()]
    cin, cout, kernel, stride, padding = plan[-1]
    proj = nn.Conv3d(cin, cout, kernel, stride, padding)
    return proj if not layers else nn.Sequential(*layers, proj)


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5 + 1e-9))


def keep_counts(tokens_per_slice: int, keep_ratio: float, num_psbs: int = 3) -> list[int]:
    """Inference tokens kept per temporal slice after each PSB.

    The last count is ``round(keep_ratio * N)`` (at least 1); each PSB keeps
    ``keep_ratio ** (1 / M)`` of what it receives, i.e. alpha, alpha^2, alpha^3
    of ``N`` when ``keep_ratio = alpha^3``.
    """
    if not 0.0 < keep_ratio <= 1.0:
        raise VPBenchError(f"keep_ratio must be in (0, 1], got {keep_ratio}")
    n = tokens_per_slice
    final = min(n, max(1, _round_half_up(keep_ratio * n)))
    step = keep_ratio ** (1.0 / num_psbs)
    counts = [min(n, max(final, _round_half_up(n * step ** (m + 1)))) for m in range(num_psbs - 1)]
    counts.append(final)
    for m in range(1, num_psbs):  # rounding must never make a later PSB keep more
        counts[m] = min(counts[m], counts[m - 1])
    return counts


def _gather_tokens(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x``: ``B x L x n x C``, ``index``: ``B x L x k`` -> ``B x L x k x C``."""
    return torch.gather(x, 2, index.unsqueeze(-1).expand(*index.shape, x.shape[-1]))


# ----------------------------------------------------------------------------- the network


class STPrivacyNet(nn.Module):
    """Tokenize -> M PSBs (masked attention, aggregation, Gumbel pruning) -> PAB -> tubelet pixels."""

    def __init__(self, config: STPrivacyConfig | None = None) -> None:
        super().__init__()
        config = config or STPrivacyConfig()
        config.validate()
        self.config = config
        self.grid = config.grid
        L, hp, wp = self.grid
        d = config.dim
        self.stem = _build_stem(config)
        self.pos_embed = nn.Parameter(torch.zeros(1, L, hp * wp, d))
        self.psbs = nn.ModuleList([PSB(d, config.heads, depth) for depth in config.layers_per_psb])
        if config.use_pab:
            self.pab = nn.ModuleList([Block(d, config.heads) for _ in range(config.pab_layers)])
            self.pab_norm = nn.LayerNorm(d, eps=1e-6)
            self.to_pixels = nn.Linear(d, 3 * math.prod(config.tubelet))
        else:
            self.pab = nn.ModuleList()
            self.pab_norm = None
            self.to_pixels = None
        if config.num_actions > 0:
            self.action_norm = nn.LayerNorm(d, eps=1e-6)
            self.action_head = nn.Linear(d, config.num_actions)
        else:
            self.action_norm = self.action_head = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def transformer_layers(self) -> list[Block]:
        """All Transformer layers in order: the PSB layers, then the PAB layers."""
        return [layer for psb in self.psbs for layer in psb.layers] + list(self.pab)

    # --------------------------------------------------------------------- helpers

    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        """``B x 3 x T x H x W`` -> tokens ``B x L x N x D`` (with positional embedding)."""
        c = self.config
        if tuple(x.shape[1:]) != (3, c.frames, c.height, c.width):
            raise VPBenchError(
                f"STPrivacy expects B x 3 x {c.frames} x {c.height} x {c.width} input, got {tuple(x.shape)}"
            )
        t = self.stem(x)  # B x D x L x Hp x Wp
        return t.flatten(3).permute(0, 2, 3, 1) + self.pos_embed

    def _black(self, black_value, like: torch.Tensor) -> torch.Tensor:
        """Per-channel black as a ``1 x 3 x 1 x 1 x 1`` tensor."""
        black = torch.as_tensor(black_value, dtype=like.dtype, device=like.device).flatten()
        if black.numel() == 1:
            black = black.expand(3)
        if black.numel() != 3:
            raise VPBenchError(f"black_value must be a float or 3 per-channel values, got {black.numel()}")
        return black.view(1, 3, 1, 1, 1)

    def _tokens_to_video(self, pixels: torch.Tensor) -> torch.Tensor:
        """``B x L x N x (3 dT dH dW)`` -> ``B x 3 x T x H x W`` (pixel order as a Conv3d kernel: c, t, h, w)."""
        b = pixels.shape[0]
        L, hp, wp = self.grid
        dt, dh, dw = self.config.tubelet
        v = pixels.reshape(b, L, hp, wp, 3, dt, dh, dw).permute(0, 4, 1, 5, 2, 6, 3, 7)
        return v.reshape(b, 3, L * dt, hp * dh, wp * dw)

    def _mask_to_video(self, mask: torch.Tensor) -> torch.Tensor:
        """Token mask ``B x L x N`` -> pixel mask ``B x 1 x T x H x W``."""
        pix = mask.unsqueeze(-1).expand(*mask.shape, 3 * math.prod(self.config.tubelet))
        return self._tokens_to_video(pix)[:, :1]

    def _pool_actions(self, tokens: torch.Tensor, policy: torch.Tensor | None) -> torch.Tensor | None:
        if self.action_head is None:
            return None
        pooled = _masked_mean(tokens, policy, (1, 2)).flatten(1)
        return self.action_head(self.action_norm(pooled))

    # --------------------------------------------------------------------- forward

    def forward(
        self,
        x: torch.Tensor,
        keep_ratio: float | None = None,
        black_value=0.0,
        gumbel_noise: Sequence[torch.Tensor] | None = None,
        video: bool = True,
        actions: bool = True,
    ) -> STPrivacyOutput:
        """Transform a normalized clip; dropped tubelets are filled with ``black_value`` (per channel).

        Training only: ``gumbel_noise`` gives the Gumbel samples of each PSB's decisions (``B x L x N x 2``
        each, from :meth:`draw_gumbel_noise`) instead of fresh ones; distributed training draws them
        for the whole global batch on every rank so that a rank's share sees one process's noise.
        ``video=False`` / ``actions=False`` skip the PAB / the action head (``None`` in the output),
        for the phases whose loss does not use them (DDP needs every computed output in the loss).
        """
        if self.training and keep_ratio is None:
            return self._forward_train(x, black_value, gumbel_noise, video, actions)
        if keep_ratio is None:
            keep_ratio = self.config.alpha ** len(self.psbs)
        return self._forward_infer(x, float(keep_ratio), black_value)

    def draw_gumbel_noise(self, rng, batch: int) -> list[torch.Tensor]:
        """Standard Gumbel samples (numpy ``rng``) for the decisions of ``batch`` clips, one ``B x L x N x 2`` per
        PSB."""
        L, hp, wp = self.config.grid
        return [torch.from_numpy(rng.gumbel(size=(batch, L, hp * wp, 2)).astype(np.float32)) for _ in self.psbs]

    def _forward_train(
        self, x: torch.Tensor, black_value, gumbel_noise=None, with_video: bool = True, with_actions: bool = True
    ) -> STPrivacyOutput:
        tokens = self.tokenize(x)
        b, L, n, d = tokens.shape
        policy = tokens.new_ones(b, L, n)
        decisions = []
        for m, psb in enumerate(self.psbs):
            flat = tokens.reshape(b, L * n, d)
            flat_policy = policy.reshape(b, L * n)
            for layer in psb.layers:
                flat = layer(flat, flat_policy)
            tokens = flat.reshape(b, L, n, d)
            log_z = psb.predictor(tokens, policy)
            # Hard in the forward pass (exact 0/1), straight-through softmax gradient backward.
            keep = _hard_gumbel_softmax(
                log_z, self.config.gumbel_tau, None if gumbel_noise is None else gumbel_noise[m]
            )[..., 0]
            policy = policy * keep
            decisions.append(policy)
        keep_probs = log_z[..., 0].exp()
        action_logits = self._pool_actions(tokens, policy) if with_actions else None
        if not with_video:
            return STPrivacyOutput(None, decisions, keep_probs, action_logits)
        black = self._black(black_value, x)
        # Multiplying (not indexing) keeps a gradient from the output to the decisions.
        if self.config.use_pab:
            flat = tokens.reshape(b, L * n, d)
            flat_policy = policy.reshape(b, L * n)
            for layer in self.pab:
                flat = layer(flat, flat_policy)
            pixels = self.to_pixels(self.pab_norm(flat)).reshape(b, L, n, -1)
            # Blended per tubelet, before the one reshuffle into a video (fewer full-size passes).
            black_tubelet = black.view(3, 1).expand(3, pixels.shape[-1] // 3).reshape(-1)
            keep = policy.unsqueeze(-1)
            video = self._tokens_to_video(pixels * keep + black_tubelet * (1.0 - keep))
        else:
            mask = self._mask_to_video(policy)
            video = x * mask + black * (1.0 - mask)
        return STPrivacyOutput(video, decisions, keep_probs, action_logits)

    def _forward_infer(self, x: torch.Tensor, keep_ratio: float, black_value) -> STPrivacyOutput:
        tokens = self.tokenize(x)
        b, L, n, d = tokens.shape
        counts = keep_counts(n, keep_ratio, len(self.psbs))
        # Original within-slice index of each surviving token, to scatter the output back.
        index = torch.arange(n, device=x.device).view(1, 1, n).expand(b, L, n)
        decisions = []
        for psb, k in zip(self.psbs, counts):
            cur = tokens.shape[2]
            flat = tokens.reshape(b, L * cur, d)
            for layer in psb.layers:
                flat = layer(flat)
            tokens = flat.reshape(b, L, cur, d)
            log_z = psb.predictor(tokens, None)
            keep_prob = log_z[..., 0].exp()
            # The public code keeps a fixed share per temporal slice, so every slice keeps motion evidence.
            top = keep_prob.topk(k, dim=2, sorted=False).indices
            tokens = _gather_tokens(tokens, top)
            last_prob, last_index = keep_prob, index
            index = torch.gather(index, 2, top)
            decisions.append(tokens.new_zeros(b, L, n).scatter_(2, index, 1.0))
        # Under bf16 autocast the tokens and the probabilities may differ in dtype: the probabilities' is kept.
        keep_probs = last_prob.new_zeros(b, L, n).scatter_(2, last_index, last_prob)
        action_logits = self._pool_actions(tokens, None)
        black = self._black(black_value, x)
        kept = decisions[-1]
        if self.config.use_pab:
            k = tokens.shape[2]
            flat = tokens.reshape(b, L * k, d)
            for layer in self.pab:
                flat = layer(flat)
            pixels = self.to_pixels(self.pab_norm(flat)).reshape(b, L, k, -1)
            canvas = black.view(1, 1, 1, 3, 1).expand(b, L, n, 3, pixels.shape[-1] // 3).reshape(b, L, n, -1)
            # bf16 autocast: to the input's dtype
            canvas = canvas.scatter(2, index.unsqueeze(-1).expand_as(pixels), pixels.to(canvas.dtype))
            video = self._tokens_to_video(canvas)
        else:
            video = torch.where(self._mask_to_video(kept) > 0, x, black)
        return STPrivacyOutput(video, decisions, keep_probs, action_logits)


def _hard_gumbel_softmax(logits: torch.Tensor, tau: float, noise: torch.Tensor | None) -> torch.Tensor:
    """``F.gumbel_softmax(logits, tau, hard=True)``, with given Gumbel samples when there are some."""
    if noise is None:
        return F.gumbel_softmax(logits, tau=tau, hard=True)
    soft = ((logits + noise.to(logits.dtype)) / tau).softmax(-1)
    hard = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
    return hard - soft.detach() + soft


# ----------------------------------------------------------------------------- losses and costs


def sparsity_loss(decisions: Sequence[torch.Tensor], alpha: float) -> torch.Tensor:
    """Eq. 7: ``1/(M L) sum_m sum_l (mean_n Î_(m)(l, n) - alpha^m)^2``, averaged over the batch."""
    total = 0.0
    for m, decision in enumerate(decisions, start=1):
        total = total + ((decision.mean(dim=2) - alpha**m) ** 2).sum(dim=1)
    M, L = len(decisions), decisions[0].shape[1]
    return (total / (M * L)).mean()


def count_flops(config: STPrivacyConfig, keep_ratio: float | None = None) -> int:
    """Multiply-accumulates of one inference forward pass of one clip (norms, GELUs, softmax ignored)."""
    config.validate()
    if keep_ratio is None:
        keep_ratio = config.alpha ** len(config.layers_per_psb)
    d = config.dim
    L, hp, wp = config.grid
    n_slice = hp * wp
    macs = 0
    size = (config.frames, config.height, config.width)
    for cin, cout, kernel, stride, padding in _stem_plan(config):
        size = tuple((s + 2 * p - k) // st + 1 for s, p, k, st in zip(size, padding, kernel, stride))
        macs += math.prod(size) * cout * cin * math.prod(kernel)

    def layer(n: int) -> int:
        # qkv + projection + MLP (4x) = 12 n D^2; scores and attention x V = 2 n^2 D.
        return 12 * n * d * d + 2 * n * n * d

    part = d // 3
    agg = 3 * part
    predictor_per_token = 3 * d * part + agg * (agg // 2) + (agg // 2) * (agg // 4) + (agg // 4) * 2
    n = L * n_slice
    for depth, k in zip(config.layers_per_psb, keep_counts(n_slice, keep_ratio, len(config.layers_per_psb))):
        macs += depth * layer(n) + n * predictor_per_token
        n = L * k
    if config.num_actions > 0:
        macs += d * config.num_actions
    if config.use_pab:
        macs += config.pab_layers * layer(n) + n * d * 3 * math.prod(config.tubelet)
    return int(macs)


# ----------------------------------------------------------------------------- pretrained weights


def load_vit_weights(net: STPrivacyNet, path: str | Path) -> dict[str, list[str]]:
    """Initialize from a local timm-format ViT state dict (``.safetensors``, ``.pth``/``.pt``/``.bin``);
    returns ``{"used": [...], "skipped": [...]}``. Nothing is downloaded.

    ``blocks.{i}.*`` map onto the PSB layers then the PAB layers, in order. The
    2D patch kernel is inflated over dT (averaged, so a static clip embeds as
    the image would) when the stem is linear and the spatial shapes agree. The
    image's positional embedding (its class-token entry dropped) is resized
    bicubically from its square grid to the tubelet grid, as timm does for
    another image size, and given to every temporal slice alike.
    """
    state = _read_state_dict(Path(path))
    layers = net.transformer_layers
    targets: dict[str, torch.Tensor] = {}
    for i, layer in enumerate(layers):
        for name, param in layer.state_dict(keep_vars=True).items():
            targets[f"blocks.{i}.{name}"] = param
    used, skipped = [], []
    with torch.no_grad():
        for key, value in state.items():
            if key in targets and targets[key].shape == value.shape:
                targets[key].copy_(value)
                used.append(key)
            elif key in ("patch_embed.proj.weight", "patch_embed.proj.bias") and _inflate_patch(net, key, value):
                used.append(key)
            elif key == "pos_embed" and _resize_pos_embed(net, value):
                used.append(key)
            else:
                skipped.append(key)
    if not used:
        raise VPBenchError(
            f"{path}: no tensor fits this network (dim {net.config.dim}, {len(layers)} layers); is it "
            f"a ViT-S state dict?"
        )
    return {"used": used, "skipped": skipped}


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    from ..core.checkpoint import load_torch

    if path.suffix == ".safetensors":
        if not path.is_file():
            raise VPBenchError(f"{path}: ViT weights file not found")
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise VPBenchError(
                f"{path}: not a safetensors file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
            ) from None
    else:
        state = load_torch(path, "ViT weights file")
        for key in ("model", "state_dict"):
            if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise VPBenchError(f"{path}: not a ViT state dict (expected a mapping of parameter names to tensors)")
    return state


def _resize_pos_embed(net: STPrivacyNet, value: torch.Tensor) -> bool:
    """``1 x (prefix + G*G) x D`` image positions -> ``1 x L x (Hp*Wp) x D`` tubelet positions."""
    L, hp, wp = net.grid
    if value.dim() != 3 or value.shape[-1] != net.config.dim:
        return False
    n = value.shape[1]
    side = math.isqrt(n)
    prefix = n - side * side  # the class (and distillation) token entries come first in timm's layout
    if prefix not in (0, 1, 2) or side == 0:
        return False
    grid = value[:, prefix:].reshape(1, side, side, -1).permute(0, 3, 1, 2).float()
    if (side, side) != (hp, wp):
        grid = F.interpolate(
            grid, size=(hp, wp), mode="bicubic", align_corners=False, antialias=(hp < side or wp < side)
        )
    spatial = grid.permute(0, 2, 3, 1).reshape(1, 1, hp * wp, -1)
    net.pos_embed.copy_(spatial.expand(1, L, hp * wp, -1).to(net.pos_embed.dtype))
    return True


def _inflate_patch(net: STPrivacyNet, key: str, value: torch.Tensor) -> bool:
    if net.config.stem != "linear":
        return False
    proj: nn.Conv3d = net.stem
    if key.endswith("bias"):
        if proj.bias is None or proj.bias.shape != value.shape:
            return False
        proj.bias.copy_(value)
        return True
    dt = proj.weight.shape[2]
    if value.dim() != 4 or proj.weight.shape[:2] + proj.weight.shape[3:] != value.shape:
        return False
    proj.weight.copy_(value.unsqueeze(2).expand_as(proj.weight) / dt)
    return True
