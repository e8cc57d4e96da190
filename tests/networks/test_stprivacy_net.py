"""STPrivacy network: one test per equation of Section 3, on tiny configs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vpbench.core.errors import VPBenchError
from vpbench.networks.stprivacy import (
    Attention,
    STPrivacyConfig,
    STPrivacyNet,
    TokenPredictor,
    count_flops,
    keep_counts,
    load_vit_weights,
    masked_softmax,
    sparsity_loss,
)

# L = 2 temporal slices, N = 16 tokens per slice.
TINY = STPrivacyConfig(
    frames=4, height=32, width=32, tubelet=(2, 8, 8), dim=24, heads=2, layers_per_psb=(1, 1, 1), pab_layers=1
)
BLACK = (-2.0, -1.5, -1.0)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _clip(batch: int = 2, config: STPrivacyConfig = TINY) -> torch.Tensor:
    return torch.randn(batch, 3, config.frames, config.height, config.width)


def _pixel_mask(decision: torch.Tensor, config: STPrivacyConfig) -> torch.Tensor:
    """Token mask ``B x L x N`` -> boolean ``B x 3 x T x H x W``, computed without the network's helpers."""
    L, hp, wp = config.grid
    dt, dh, dw = config.tubelet
    m = decision.reshape(-1, L, hp, wp)
    m = m.repeat_interleave(dt, 1).repeat_interleave(dh, 2).repeat_interleave(dw, 3)
    return (m > 0.5).unsqueeze(1).expand(-1, 3, -1, -1, -1)


def _black_video(like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(BLACK).view(1, 3, 1, 1, 1).expand_as(like)


# ----------------------------------------------------------------------------- eqs. 8-10


def test_masked_attention_equals_attention_over_kept_tokens_and_pruned_keys_are_ignored():
    attn = Attention(24, 2)
    x = torch.randn(2, 10, 24)
    policy = torch.tensor([[1, 0, 1, 1, 0, 1, 1, 0, 1, 1], [0, 1, 1, 0, 0, 1, 0, 1, 1, 0]], dtype=torch.float)
    with torch.no_grad():
        out = attn(x, policy)
        for b in range(2):
            kept = policy[b].nonzero().flatten()
            ref = attn(x[b : b + 1, kept])[0]
            torch.testing.assert_close(out[b, kept], ref, atol=1e-5, rtol=1e-4)
            # Eq. 9 masks keys only (M_ij = Î_j for i != j, M_ii = 1): a pruned query sees the
            # kept tokens and itself, never another pruned token.
            for i in (policy[b] == 0).nonzero().flatten():
                scope = torch.cat([kept, i.view(1)])
                ref = attn(x[b : b + 1, scope])[0, -1]
                torch.testing.assert_close(out[b, i], ref, atol=1e-5, rtol=1e-4)

    weights = masked_softmax(torch.randn(2, 2, 10, 10), policy)
    pruned = (policy[0] == 0).nonzero().flatten()
    off_diagonal = weights[0][..., pruned].clone()
    off_diagonal[:, pruned, torch.arange(len(pruned))] = 0.0
    assert torch.all(off_diagonal < 1e-5)  # eps / n leak of the renormalisation
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, 10), atol=1e-5, rtol=0)
    # A query whose self-score dominates and whose keys are all pruned attends only to itself.
    alone = masked_softmax(torch.eye(4).view(1, 1, 4, 4) * 10, torch.zeros(1, 4))
    torch.testing.assert_close(alone[0, 0], torch.eye(4), atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- eqs. 1-4


def test_aggregation_averages_only_kept_tokens():
    pred = TokenPredictor(24)
    x = torch.randn(2, 3, 5, 24)
    policy = (torch.rand(2, 3, 5) > 0.4).float()
    policy[:, :, 0] = 1.0  # every slice keeps a token
    part = 24 // 3
    with torch.no_grad():
        out = pred.aggregate(x, policy)
        h = pred.norm(x)
        local, spatial, spatem = pred.local(h), pred.spatial(h), pred.spatiotemporal(h)
        assert out.shape == (2, 3, 5, 3 * part)
        torch.testing.assert_close(out[..., :part], local)
        for b in range(2):
            st = spatem[b][policy[b] > 0].mean(0)
            for t in range(3):
                s = spatial[b, t][policy[b, t] > 0].mean(0)
                for n in range(5):
                    torch.testing.assert_close(out[b, t, n, part : 2 * part], s, atol=1e-6, rtol=1e-5)
                    torch.testing.assert_close(out[b, t, n, 2 * part :], st, atol=1e-6, rtol=1e-5)
        # Pruned tokens cannot move the averages.
        x2 = x.clone()
        x2[policy == 0] = 100.0
        out2 = pred.aggregate(x2, policy)
        torch.testing.assert_close(out2[..., part:][policy > 0], out[..., part:][policy > 0])


# ----------------------------------------------------------------------------- eq. 7


def test_keep_ratio_loss_matches_hand_computed_value():
    d1 = torch.tensor([[[1, 1, 1, 0], [1, 1, 1, 1]], [[1, 1, 1, 1], [1, 1, 1, 1]]], dtype=torch.float)
    d2 = torch.tensor([[[1, 1, 0, 0], [1, 0, 0, 0]], [[1, 1, 1, 1], [1, 1, 1, 1]]], dtype=torch.float)
    d3 = torch.tensor([[[1, 0, 0, 0], [0, 0, 0, 0]], [[1, 1, 1, 1], [1, 1, 1, 1]]], dtype=torch.float)
    # alpha = 0.5 -> targets 0.5, 0.25, 0.125.
    # clip 0: (0.25^2 + 0.5^2) + (0.25^2 + 0) + (0.125^2 + 0.125^2) = 0.40625, / (3 * 2)
    # clip 1: 2 * (0.5^2 + 0.75^2 + 0.875^2) = 3.15625, / (3 * 2)
    expected = (0.40625 + 3.15625) / 6 / 2
    assert sparsity_loss([d1, d2, d3], 0.5).item() == pytest.approx(expected)
    assert expected == pytest.approx(0.296875)


# ----------------------------------------------------------------------------- eqs. 5-6 and the Hadamard update


def test_gumbel_decisions_are_exactly_binary_and_carry_gradient_to_score_mlp():
    net = STPrivacyNet(TINY).train()
    out = net(_clip())
    for d in out.decisions:
        assert d.shape == (2, 2, 16)
        assert torch.all((d == 0) | (d == 1))
    sparsity_loss(out.decisions, TINY.alpha).backward()
    for psb in net.psbs:
        grad = psb.predictor.score[-1].weight.grad
        assert grad is not None and grad.abs().sum() > 0


@pytest.mark.parametrize("training", [True, False])
def test_decision_matrix_only_loses_ones_across_psbs(training):
    net = STPrivacyNet(TINY).train(training)
    with torch.no_grad():
        decisions = net(_clip(4)).decisions
    previous = torch.ones_like(decisions[0])
    for d in decisions:
        assert torch.all(d <= previous)
        assert torch.equal(d, d * previous)
        previous = d
    if training:
        assert decisions[-1].sum() < decisions[0].numel()  # something was actually pruned


# ----------------------------------------------------------------------------- inference


@pytest.mark.parametrize("ratio, kept", [(1.0, 16), (0.7, 11), (0.49, 8), (0.343, 5)])
def test_inference_keeps_rounded_share_per_slice_and_black_elsewhere(ratio, kept):
    net = STPrivacyNet(TINY).eval()
    x = _clip()
    with torch.no_grad():
        out = net(x, keep_ratio=ratio, black_value=BLACK)
    assert out.video.shape == x.shape
    counts = keep_counts(16, ratio)
    assert counts[-1] == kept and counts == sorted(counts, reverse=True)
    for d, k in zip(out.decisions, counts):
        assert torch.all(d.sum(-1) == k)
    assert out.keep_probs.shape == (2, 2, 16)
    dropped = ~_pixel_mask(out.decisions[-1], TINY)
    assert torch.equal(out.video[dropped], _black_video(x)[dropped])
    assert torch.isfinite(out.video).all()


def test_per_psb_counts_follow_the_cube_root_schedule():
    assert keep_counts(100, 0.343) == [70, 49, 34]
    assert keep_counts(100, 1.0) == [100, 100, 100]
    assert keep_counts(4, 0.01) == [1, 1, 1]


def test_default_inference_ratio_is_alpha_cubed():
    net = STPrivacyNet(TINY).eval()
    with torch.no_grad():
        out = net(_clip())
    assert torch.all(out.decisions[-1].sum(-1) == round(0.7**3 * 16))


def test_keep_ratio_one_keeps_everything_and_equals_an_unpruned_pass():
    net = STPrivacyNet(TINY).eval()
    x = _clip()
    with torch.no_grad():
        out = net(x, keep_ratio=1.0, black_value=BLACK)
        assert all(torch.all(d == 1) for d in out.decisions)
        flat = net.tokenize(x).flatten(1, 2)
        for layer in net.transformer_layers:
            flat = layer(flat)
        ref = net._tokens_to_video(net.to_pixels(net.pab_norm(flat)).reshape(2, 2, 16, -1))
    torch.testing.assert_close(out.video, ref, atol=1e-5, rtol=1e-4)


def test_inference_physically_drops_tokens():
    net = STPrivacyNet(TINY).eval()
    seen = {}

    def record(name):
        return lambda module, args: seen.__setitem__(name, args[0].shape[1])

    net.psbs[1].layers[0].register_forward_pre_hook(record("psb2"))
    net.psbs[2].layers[0].register_forward_pre_hook(record("psb3"))
    net.pab[0].register_forward_pre_hook(record("pab"))
    with torch.no_grad():
        net(_clip(), keep_ratio=0.343)
    k1, k2, k3 = keep_counts(16, 0.343)
    assert seen == {"psb2": 2 * k1, "psb3": 2 * k2, "pab": 2 * k3}


def test_training_output_shape_and_dropped_tubelets_black():
    net = STPrivacyNet(TINY).train()
    x = _clip()
    out = net(x, black_value=BLACK)
    assert out.video.shape == x.shape
    dropped = ~_pixel_mask(out.decisions[-1], TINY)
    assert dropped.any()
    assert torch.equal(out.video[dropped], _black_video(x)[dropped])


@pytest.mark.parametrize("training", [True, False])
def test_sparsification_only_returns_input_where_kept_and_black_where_dropped(training):
    config = STPrivacyConfig(**{**TINY.__dict__, "use_pab": False})
    net = STPrivacyNet(config).train(training)
    assert len(net.pab) == 0 and net.to_pixels is None
    x = _clip()
    with torch.no_grad():
        out = net(x, black_value=BLACK)
    kept = _pixel_mask(out.decisions[-1], config)
    assert torch.equal(out.video[kept], x[kept])
    assert torch.equal(out.video[~kept], _black_video(x)[~kept])


# ----------------------------------------------------------------------------- FLOPs


def _measured_macs(net: STPrivacyNet, ratio: float) -> int:
    """MACs of the modules that actually run, counted by hooks (attention products added per call)."""
    total = [0]

    def linear(m, args, out):
        total[0] += out.numel() * m.in_features

    def conv(m, args, out):
        total[0] += out.numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)

    def attention(m, args, out):
        _, n, d = args[0].shape
        total[0] += 2 * n * n * d

    for m in net.modules():
        if isinstance(m, nn.Linear):
            m.register_forward_hook(linear)
        elif isinstance(m, nn.Conv3d):
            m.register_forward_hook(conv)
        elif isinstance(m, Attention):
            m.register_forward_hook(attention)
    with torch.no_grad():
        net.eval()(_clip(1, net.config), keep_ratio=ratio)
    return total[0]


@pytest.mark.parametrize("stem", ["linear", "conv"])
def test_count_flops_matches_independent_count_and_decreases_with_keep_ratio(stem):
    config = STPrivacyConfig(**{**TINY.__dict__, "stem": stem, "num_actions": 3})
    ratios = [1.0, 0.7, 0.49, 0.343]
    flops = [count_flops(config, r) for r in ratios]
    assert flops == sorted(flops, reverse=True) and len(set(flops)) == len(flops)
    for r, f in zip(ratios, flops):
        assert f == pytest.approx(_measured_macs(STPrivacyNet(config), r), rel=0.03)


def test_count_flops_at_full_ratio_matches_vit_formula():
    # ViT-S-like paper config: 8 x 49 tokens. Simple ViT formula + patch embedding + output MLP;
    # the predictors are the only extra cost, a few % of the total.
    c = STPrivacyConfig()
    n, d = 8 * 49, 384
    vit = 12 * (12 * n * d * d + 2 * n * n * d) + n * d * 3 * 2 * 16 * 16 * 2
    assert count_flops(c, 1.0) == pytest.approx(vit, rel=0.05)


# ----------------------------------------------------------------------------- weights and gradients


def test_load_vit_weights_maps_timm_state_dict(tmp_path):
    net = STPrivacyNet(TINY)  # 3 PSB layers + 1 PAB layer
    d = 24
    state = {
        "cls_token": torch.randn(1, 1, d),
        "pos_embed": torch.randn(1, 17, d),
        "patch_embed.proj.weight": torch.randn(d, 3, 8, 8),
        "patch_embed.proj.bias": torch.randn(d),
        "norm.weight": torch.randn(d),
        "head.weight": torch.randn(10, d),
    }
    for i in range(5):  # one more block than the network has
        for name, shape in {
            "norm1.weight": (d,), "norm1.bias": (d,),
            "attn.qkv.weight": (3 * d, d), "attn.qkv.bias": (3 * d,),
            "attn.proj.weight": (d, d), "attn.proj.bias": (d,),
            "norm2.weight": (d,), "norm2.bias": (d,),
            "mlp.fc1.weight": (4 * d, d), "mlp.fc1.bias": (4 * d,),
            "mlp.fc2.weight": (d, 4 * d), "mlp.fc2.bias": (d,),
        }.items():  # fmt: skip
            state[f"blocks.{i}.{name}"] = torch.randn(shape)
    path = tmp_path / "vit_s.pth"
    torch.save({"model": state}, path)
    report = load_vit_weights(net, path)
    assert len(report["used"]) == 4 * 12 + 3
    assert set(report["skipped"]) == {"cls_token", "norm.weight", "head.weight"} | {
        k for k in state if k.startswith("blocks.4.")
    }
    layers = [net.psbs[0].layers[0], net.psbs[1].layers[0], net.psbs[2].layers[0], net.pab[0]]
    for i, layer in enumerate(layers):
        assert torch.equal(layer.attn.qkv.weight, state[f"blocks.{i}.attn.qkv.weight"])
        assert torch.equal(layer.attn.proj.bias, state[f"blocks.{i}.attn.proj.bias"])
        assert torch.equal(layer.norm2.weight, state[f"blocks.{i}.norm2.weight"])
        assert torch.equal(layer.mlp.fc2.weight, state[f"blocks.{i}.mlp.fc2.weight"])
    inflated = state["patch_embed.proj.weight"].unsqueeze(2).expand(-1, -1, 2, -1, -1) / 2
    assert torch.equal(net.stem.weight, inflated)
    assert torch.equal(net.stem.bias, state["patch_embed.proj.bias"])
    # Same 4x4 grid: the image positions (class token dropped) are every temporal slice's positions.
    for t in range(net.grid[0]):
        assert torch.equal(net.pos_embed[0, t], state["pos_embed"][0, 1:])
    # A static clip embeds as the image would.
    frame = torch.randn(1, 3, 8, 8)
    clip = frame.unsqueeze(2).expand(-1, -1, 2, -1, -1)
    with torch.no_grad():
        image = F.conv2d(frame, state["patch_embed.proj.weight"], state["patch_embed.proj.bias"])
        torch.testing.assert_close(net.stem(clip).flatten(), image.flatten())


def test_gradients_reach_every_parameter_in_a_training_step():
    config = STPrivacyConfig(**{**TINY.__dict__, "stem": "conv", "num_actions": 5})
    net = STPrivacyNet(config).train()
    x = _clip(4)
    out = net(x, black_value=BLACK)
    loss = (
        sparsity_loss(out.decisions, config.alpha)
        + F.cross_entropy(out.action_logits, torch.tensor([0, 1, 2, 3]))
        + F.mse_loss(out.video, x)
    )
    loss.backward()
    missing = [
        n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all() or not p.grad.any()
    ]
    assert missing == []
    assert out.action_logits.shape == (4, 5)


def test_vit_positions_are_resized_to_the_tubelet_grid_from_a_safetensors_file(tmp_path):
    """ViT-S/16 at 224 has 14x14 positions; a 128x160 input with 16x16 tubelets has an 8x10 grid."""
    from safetensors.torch import save_file

    config = STPrivacyConfig(
        frames=4, height=128, width=160, tubelet=(2, 16, 16), dim=24, heads=2, layers_per_psb=(1, 1, 1), pab_layers=1
    )
    net = STPrivacyNet(config)
    # A smooth ramp over the 14x14 grid: bicubic resizing keeps it a ramp, increasing along both axes.
    ramp = torch.arange(14.0)[:, None] + 10 * torch.arange(14.0)[None, :]
    positions = torch.cat([torch.full((1, 1, 24), 7.0), ramp.reshape(1, 196, 1).expand(1, 196, 24)], 1).contiguous()
    save_file({"pos_embed": positions, "blocks.0.norm1.weight": torch.ones(24)}, str(tmp_path / "vit.safetensors"))
    report = load_vit_weights(net, tmp_path / "vit.safetensors")
    assert set(report["used"]) == {"pos_embed", "blocks.0.norm1.weight"}
    grid = net.pos_embed.detach()[0].reshape(2, 8, 10, 24)
    assert torch.equal(grid[0], grid[1])  # every temporal slice alike
    assert (grid[0, 1:, :, 0] > grid[0, :-1, :, 0]).all() and (grid[0, :, 1:, 0] > grid[0, :, :-1, 0]).all()
    assert grid.min() >= 0 and grid.max() <= 13 + 130  # within the source range: the class token's 7 is not mixed in
    # Corners stay near the source corners: an 8x10 cell's centre lies about a quarter cell inside
    # (align_corners=False).
    assert abs(float(grid[0, 0, 0, 0]) - 0.0) < 4 and abs(float(grid[0, -1, -1, 0]) - 143.0) < 4


def test_a_weights_file_that_fits_nothing_is_one_line(tmp_path):
    torch.save({"model": {"blocks.0.attn.qkv.weight": torch.zeros(9, 9)}}, tmp_path / "other.pth")
    with pytest.raises(
        VPBenchError,
        match=r"other.pth: no tensor fits this network \(dim 24, 4 layers\); is it a "
        r"ViT-S state dict\?",
    ):
        load_vit_weights(STPrivacyNet(TINY), tmp_path / "other.pth")
    (tmp_path / "bad.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(VPBenchError, match="bad.safetensors: not a safetensors file"):
        load_vit_weights(STPrivacyNet(TINY), tmp_path / "bad.safetensors")


def test_the_paper_profile_needs_vit_weights_or_an_explicit_none(tmp_path):
    from vpbench.core.config import method_card
    from vpbench.methods import create_method

    paper = method_card("stprivacy")["profiles"]["paper"]
    with pytest.raises(VPBenchError, match="pass --option init_weights=PATH .*or --option init_weights=none"):
        create_method("stprivacy").initial_weights(paper)
    assert create_method("stprivacy", init_weights="none").initial_weights(paper) is None
    with pytest.raises(VPBenchError, match="nope.pth: ViT weights file not found"):
        create_method("stprivacy", init_weights=str(tmp_path / "nope.pth")).initial_weights(paper)
    (tmp_path / "vit.pth").write_bytes(b"x")
    assert create_method("stprivacy", init_weights=str(tmp_path / "vit.pth")).initial_weights(paper) == str(
        tmp_path / "vit.pth"
    )
    assert create_method("stprivacy").initial_weights(method_card("stprivacy")["profiles"]["cpu"]) is None
