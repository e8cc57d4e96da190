"""VP-Synth renderer: determinism, geometry, time-reversed pairs and privacy cues found by colour."""

from __future__ import annotations

import numpy as np
import pytest

from vpbench.core.attributes import ATTRIBUTES
from vpbench.data.synth import render as R

T = 16  # short clips keep the whole file fast; every property holds at any length
ALL = dict.fromkeys(ATTRIBUTES, 1)
NONE = dict.fromkeys(ATTRIBUTES, 0)

FIGURE_COLOURS = (
    R.SKIN_TONES
    + R.FACE_COLOURS
    + R.HAIR_COLOURS
    + R.NUDITY_MARK_COLOURS
    + R.SECOND_PERSON_COLOURS
    + R.SHIRT_COLOURS
    + R.TROUSER_COLOURS
    + R.HOOD_COLOURS
    + (R.EYE_COLOUR, R.MOUTH_COLOUR, *R.PROP_STRIPE_COLOURS, R.PROP_PLAIN_COLOUR)
)
MAIN_COLOURS = tuple(c for c in FIGURE_COLOURS if c not in R.SECOND_PERSON_COLOURS)


def colour_mask(frames: np.ndarray, colours, tol: int = 10) -> np.ndarray:
    """Pixels within L-inf distance tol of any of the colours."""
    if tol == 0:  # exact match: pack RGB into one integer so a single isin does it
        packed = frames.astype(np.int32) @ np.array([65536, 256, 1], dtype=np.int32)
        wanted = np.array([r * 65536 + g * 256 + b for r, g, b in colours], dtype=np.int32)
        return np.isin(packed, wanted)
    f = frames.astype(np.int16)
    mask = np.zeros(frames.shape[:-1], dtype=bool)
    for c in colours:
        mask |= np.abs(f - np.asarray(c, dtype=np.int16)).max(-1) <= tol
    return mask


def render(action: str, seed: int, attributes=None, num_frames: int = T, **kw) -> R.RenderedVideo:
    return R.render_video(R.VideoSpec(action, dict(attributes or ALL), num_frames, seed=seed, **kw))


# ----------------------------------------------------------------------------- vocabulary


def test_vocabularies_are_disjoint_and_pairs_are_well_formed():
    assert len(R.ACTIONS_HMDB) == len(set(R.ACTIONS_HMDB)) == 10
    assert len(R.ACTIONS_UCF) == len(set(R.ACTIONS_UCF)) == 10
    assert not set(R.ACTIONS_HMDB) & set(R.ACTIONS_UCF)
    assert not {a.lower() for a in R.ACTIONS_HMDB} & {a.lower().replace("_", "") for a in R.ACTIONS_UCF}
    for key, base in R.REVERSED_PAIRS.items():
        vocab = R.ACTIONS_HMDB if key in R.ACTIONS_HMDB else R.ACTIONS_UCF
        assert key in vocab and base in vocab
    for tiny, vocab in ((R.TINY_ACTIONS_HMDB, R.ACTIONS_HMDB), (R.TINY_ACTIONS_UCF, R.ACTIONS_UCF)):
        assert len(tiny) == 4 and set(tiny) <= set(vocab)
        assert sum(k in tiny and v in tiny for k, v in R.REVERSED_PAIRS.items()) == 1
    assert R.ATTRIBUTES == ATTRIBUTES


@pytest.mark.parametrize("action", R.ACTIONS_HMDB + R.ACTIONS_UCF)
def test_every_action_renders_and_moves(action):
    v = render(action, seed=5, num_frames=8)
    assert v.frames.shape == (8, 64, 80, 3)
    # Actions are motion: consecutive frames differ.
    assert all((v.frames[t] != v.frames[t + 1]).any() for t in range(7))


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="unknown VP-Synth action"):
        render("moonwalk", 0)
    with pytest.raises(ValueError, match="skin_color"):
        render("wave", 0, {**NONE, "face": 1})


# ----------------------------------------------------------------------------- determinism


def test_same_spec_gives_identical_arrays_and_other_seed_differs():
    a, b, c = render("jump", 7), render("jump", 7), render("jump", 8)
    assert np.array_equal(a.frames, b.frames)
    assert a.boxes == b.boxes
    assert all(np.array_equal(a.visibility[k], b.visibility[k]) for k in ATTRIBUTES)
    assert not np.array_equal(a.frames, c.frames)


def test_style_seed_shares_the_scene_across_videos():
    a = render("wave", 1, NONE, style_seed=99)
    b = render("kick", 2, NONE, style_seed=99)
    c = render("kick", 2, NONE)
    outside = np.ones(a.frames.shape[1:3], dtype=bool)
    for v in (a, b, c):
        for x0, y0, x1, y1 in v.boxes[0]:
            outside[y0:y1, x0:x1] = False
    assert np.array_equal(a.frames[0][outside], b.frames[0][outside])
    assert not np.array_equal(b.frames[0][outside], c.frames[0][outside])


# ----------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("action", ["walk_left", "YoYo", "ClimbUp", "JumpingJack", "kick_ball"])
def test_shapes_and_boxes_contain_every_figure_pixel(action):
    for seed in range(3):
        v = render(action, seed, ALL, num_frames=12, height=96, width=128)
        assert v.frames.dtype == np.uint8 and v.frames.shape == (12, 96, 128, 3)
        assert len(v.boxes) == 12
        assert set(v.visibility) == set(ATTRIBUTES)
        assert all(x.dtype == bool and x.shape == (12,) for x in v.visibility.values())
        figure = colour_mask(v.frames, FIGURE_COLOURS, tol=0)
        main = colour_mask(v.frames, MAIN_COLOURS, tol=0)
        for t, boxes in enumerate(v.boxes):
            assert len(boxes) == 1 + int(v.visibility["relationship"][t])
            covered = np.zeros((96, 128), dtype=bool)
            for x0, y0, x1, y1 in boxes:
                assert all(isinstance(z, int) for z in (x0, y0, x1, y1))
                assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 96
                covered[y0:y1, x0:x1] = True
            assert not (figure[t] & ~covered).any()
            x0, y0, x1, y1 = boxes[0]
            main_in_box = main[t, y0:y1, x0:x1]
            # The main box is tight: every edge row/column touches the figure.
            assert main_in_box[0].any() and main_in_box[-1].any()
            assert main_in_box[:, 0].any() and main_in_box[:, -1].any()


def test_figure_is_a_large_share_of_the_frame_with_thick_limbs():
    heights = []
    for seed in range(10):
        v = render("wave", seed, NONE, num_frames=4)
        x0, y0, x1, y1 = v.boxes[0][0]
        heights.append((y1 - y0) / v.frames.shape[1])
        # Each leg is at least 4 px wide (1-px limbs were not learnable at 64x64).
        row = colour_mask(v.frames[:1], R.TROUSER_COLOURS, tol=0)[0][y1 - 6]
        runs = np.diff(np.flatnonzero(np.diff(np.r_[0, row.astype(int), 0])))[::2]
        assert runs.size and runs.min() >= 4
    assert 0.5 <= min(heights) and max(heights) <= 0.8


# ----------------------------------------------------------------------------- reversed pairs


def _order_statistic(frames: np.ndarray, pair_key: str) -> float:
    """Slope over frame index of the main figure's horizontal centre (walks) or top edge (others)."""
    mask = colour_mask(frames, MAIN_COLOURS, tol=0)
    values = []
    for m in mask:
        ys, xs = np.nonzero(m)
        values.append(xs.mean() if pair_key.startswith("walk") else ys.min())
    return float(np.polyfit(np.arange(len(values)), values, 1)[0])


def test_reversed_pairs_are_exact_time_reverses():
    for key, base in R.REVERSED_PAIRS.items():
        k, b = render(key, 3), render(base, 3)
        assert np.array_equal(k.frames, b.frames[::-1])
        assert k.boxes == b.boxes[::-1]
        assert all(np.array_equal(k.visibility[a], b.visibility[a][::-1]) for a in ATTRIBUTES)


def test_reversed_pairs_separate_only_by_frame_order():
    """In order, a sign threshold on a motion slope separates each pair perfectly;
    shuffled, both classes hold the same multiset of frames and the slope falls to chance."""
    rng = np.random.default_rng(0)
    seeds = range(12)
    correct_shuffled = total_shuffled = 0
    for key, base in R.REVERSED_PAIRS.items():
        ordered = {key: [], base: []}
        shuffled = {key: [], base: []}
        for seed in seeds:
            attrs = R.sample_attributes(np.random.default_rng(1000 + seed))
            videos = {action: render(action, seed, attrs) for action in (key, base)}
            for action, v in videos.items():
                ordered[action].append(_order_statistic(v.frames, key))
                perm = rng.permutation(len(v.frames))
                shuffled[action].append(_order_statistic(v.frames[perm], key))
            # Order-invariant content is identical: the same multiset of frames.
            k, b = videos[key].frames, videos[base].frames
            assert sorted(f.tobytes() for f in k) == sorted(f.tobytes() for f in b)
        direction = np.sign(np.median(ordered[base]))
        assert direction != 0
        # Ordered: perfect separation by the sign of the slope.
        assert all(np.sign(s) == direction for s in ordered[base])
        assert all(np.sign(s) == -direction for s in ordered[key])
        # Shuffled: the same rule is a coin flip.
        correct_shuffled += sum(np.sign(s) == direction for s in shuffled[base])
        correct_shuffled += sum(np.sign(s) == -direction for s in shuffled[key])
        total_shuffled += 2 * len(seeds)
        assert min(shuffled[base]) < max(shuffled[key]) and min(shuffled[key]) < max(shuffled[base])
    accuracy = correct_shuffled / total_shuffled
    assert 0.3 <= accuracy <= 0.7, accuracy


# ----------------------------------------------------------------------------- attributes


def test_sample_attributes_implications_and_priors():
    rng = np.random.default_rng(0)
    rows = [R.sample_attributes(rng) for _ in range(4000)]
    assert all(set(r) == set(ATTRIBUTES) and set(r.values()) <= {0, 1} for r in rows)
    assert all(r["skin_color"] for r in rows if r["face"] or r["nudity"])
    means = {a: np.mean([r[a] for r in rows]) for a in ATTRIBUTES}
    expected = {"face": 0.5, "skin_color": 0.6, "gender": 0.55, "nudity": 0.3, "relationship": 0.35}
    for a in ATTRIBUTES:
        assert abs(means[a] - expected[a]) < 0.04, (a, means[a])


def test_palettes_keep_cue_colours_apart_from_everything_else():
    def dist(c1, c2):
        return int(np.abs(np.subtract(c1, c2)).max())

    for attr, cue in R.CUE_COLOURS.items():
        others = [c for c in FIGURE_COLOURS if c not in cue] + list(R.BACKGROUND_COLOURS + R.FLOOR_COLOURS)
        assert min(dist(a, b) for a in cue for b in others) >= 40, attr
    # The background (a textured mix of its palette) never comes near a figure colour.
    for seed in range(5):
        v = render("wave", seed, NONE, num_frames=1)
        bg = ~colour_mask(v.frames, MAIN_COLOURS, tol=0)
        assert not colour_mask(v.frames, FIGURE_COLOURS, tol=30)[bg].any()


@pytest.mark.parametrize("actions", [R.ACTIONS_HMDB, R.ACTIONS_UCF], ids=["hmdb", "ucf"])
def test_each_cue_colour_appears_exactly_in_its_visible_frames(actions):
    partial = {a: [0, 0] for a in ATTRIBUTES}
    for i, action in enumerate(actions):
        for j in range(3):
            seed = 31 * i + j
            attrs = ALL if j == 0 else R.sample_attributes(np.random.default_rng(seed))
            v = render(action, seed, attrs)
            for a in ATTRIBUTES:
                vis = v.visibility[a]
                present = colour_mask(v.frames, R.CUE_COLOURS[a]).any(axis=(1, 2))
                assert np.array_equal(present, vis), (action, seed, a, present, vis)
                if not attrs[a]:
                    assert not vis.any()
                    continue
                idx = np.flatnonzero(vis)
                assert idx.size >= 2 and idx[-1] - idx[0] + 1 == idx.size  # one contiguous window
                assert 0.3 * T - 1 <= idx.size <= 0.8 * T
                partial[a][0] += int(idx.size < T)
                partial[a][1] += 1
            # A visible face or bare torso shows skin in that same frame.
            for a in ("face", "nudity"):
                assert not (v.visibility[a] & ~v.visibility["skin_color"]).any()
    for a, (n_partial, n) in partial.items():
        assert n and n_partial >= 0.8 * n, a


def test_cues_are_big_enough_to_survive_downscaling():
    for action in ("shoot_gun", "YoYo", "Throw", "LiftUp"):
        v = render(action, 4, ALL)
        for a in ATTRIBUTES:
            counts = colour_mask(v.frames, R.CUE_COLOURS[a]).sum(axis=(1, 2))[v.visibility[a]]
            # Marks and the face are small by design: detail that 4x down-sampling removes
            # (the bare torso around the marks is the coarse nudity cue).
            floor = 10 if a in ("nudity", "face") else 30  # pixels at 64 x 80
            assert counts.min() >= floor, (action, a, counts.min())
        face = colour_mask(v.frames, (R.EYE_COLOUR,), tol=0).sum(axis=(1, 2))[v.visibility["face"]]
        assert face.min() >= 2 * 4  # two eyes of at least 2x2


@pytest.mark.parametrize("prop_action", sorted(R.PROP_ACTIONS))
def test_a_prop_pair_differs_only_in_the_pattern_of_an_object_of_the_same_mean_colour(prop_action):
    base = R.PROP_ACTIONS[prop_action][0]
    a, b = render(prop_action, 5, ALL), render(base, 5, ALL)
    differ = (a.frames != b.frames).any(-1)
    assert differ.any(axis=(1, 2)).all()  # the object is in every frame
    whole = 0
    for t in range(T):
        ys, xs = np.nonzero(differ[t])
        side, width = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert max(side, width) <= R.PROP_SIDE  # one small object
        # The striped object's plain rows (0, 2, 4, 6) equal the plain object: the pair differs on the other rows.
        if width != R.PROP_SIDE or side != R.PROP_SIDE - 1 or len(ys) != R.PROP_SIDE**2 // 2:
            continue  # partly hidden (behind the head) or cut by the frame edge
        whole += 1
        top = ys.min() - 1
        assert top % R.PROP_GRID == 0 and xs.min() % R.PROP_GRID == 0  # on the grid
        region = (slice(top, top + R.PROP_SIDE), slice(xs.min(), xs.max() + 1))
        patch_a, patch_b = a.frames[t][region].astype(float), b.frames[t][region].astype(float)
        assert colour_mask(patch_a[None].astype(np.uint8), R.PROP_STRIPE_COLOURS, tol=0).all()
        assert colour_mask(patch_b[None].astype(np.uint8), (R.PROP_PLAIN_COLOUR,), tol=0).all()
        # One-pixel stripes: every row differs from the next.
        assert (np.abs(np.diff(patch_a, axis=0)).max(-1) > 100).all()
        # The same mean colour: averaged over the object (what coarse resolution keeps), the pair looks alike.
        np.testing.assert_allclose(patch_a.reshape(-1, 3).mean(0), patch_b.reshape(-1, 3).mean(0), atol=1)
    assert whole >= T // 2


@pytest.mark.parametrize("factor", ["2x", "4x"])
def test_down_sampling_leaves_a_prop_pair_alike(factor):
    """What the benchmark's down-sampling baselines see: the striped and the plain object become the same."""
    import torch

    from vpbench.methods import create_method

    method = create_method(f"downsample-{factor}")
    checked = 0
    for prop_action, (base, _) in sorted(R.PROP_ACTIONS.items()):
        for seed in range(3):
            a, b = render(prop_action, seed, ALL), render(base, seed, ALL)
            da, db = (method.transform(torch.from_numpy(v.frames)[None])[0].numpy().astype(int) for v in (a, b))
            for t in range(T):
                differ = (a.frames[t] != b.frames[t]).any(-1)
                if differ.sum() != R.PROP_SIDE**2 // 2:  # the light and dark rows
                    continue  # a face feature in front of the object (or the frame edge cuts it)
                checked += 1
                assert np.abs(da[t] - db[t]).max() <= 1, (prop_action, seed, t)  # rounding of the half-level mean
    assert checked >= 0.8 * len(R.PROP_ACTIONS) * 3 * T
