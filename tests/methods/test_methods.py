"""Every registered method, parametrized over the registry, plus the non-learned methods' rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vpbench.core.errors import VPBenchError
from vpbench.methods import METHODS, create_method


def _clip(seed=0, b=2, t=4, h=32, w=40):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, t, h, w, 3), dtype=torch.uint8, generator=g)


def _mask(b=2, t=4, h=32, w=40):
    m = torch.zeros(b, t, h, w, dtype=torch.bool)
    m[:, :, 8:24, 10:30] = True
    return m


def _ready(name, models_dir):
    """The method, trained for a step on random tiny videos when it is a learned one."""
    method = create_method(name)
    if method.learned:
        from tests.helpers.tiny import TINY_PROFILE, fit_with_card
        from vpbench.methods import FitData

        rng = np.random.default_rng(0)
        data = FitData(
            videos=[rng.integers(0, 256, (4, 32, 40, 3), dtype=np.uint8) for _ in range(6)],
            actions=rng.integers(0, 3, 6),
            privacy=rng.integers(0, 2, (6, 5)).astype(np.float32),
            num_actions=3,
        )
        fit_with_card(method, data, {**TINY_PROFILE, "clip_len": 4}, models_dir)
    return method


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_keeps_shape_dtype_and_is_deterministic(name, tiny_models):
    method = _ready(name, tiny_models)
    videos = _clip()
    masks = _mask() if method.needs_person_masks else None
    out = method.transform(videos, masks)
    assert out.shape == videos.shape and out.dtype == torch.uint8
    assert torch.equal(out, method.transform(videos, masks))
    assert torch.equal(videos, _clip())  # input untouched


@pytest.mark.parametrize("name", [n for n in METHODS.names() if METHODS.get(n).learned])
def test_learned_method_save_load_gives_identical_output(name, tiny_models, tmp_path):
    method = _ready(name, tiny_models)
    method.save(tmp_path / "m.pt")
    again = create_method(name)
    again.load(tmp_path / "m.pt")
    v = _clip()
    assert torch.equal(method.transform(v), again.transform(v))


def test_checkpoint_of_another_method_or_garbage_is_refused(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(VPBenchError, match="not a vpbench checkpoint"):
        create_method("stprivacy").load(tmp_path / "junk.pt")
    torch.save({"method": "vita", "version": "1", "state": {}}, tmp_path / "other.pt")
    with pytest.raises(VPBenchError, match="for method 'vita', not 'stprivacy'"):
        create_method("stprivacy").load(tmp_path / "other.pt")


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_has_metadata(name):
    cls = METHODS.get(name)
    assert cls.name == name and cls.version and cls.description


def test_raw_is_identity():
    v = _clip()
    assert torch.equal(create_method("raw").transform(v), v)


def test_blackening_zeros_exactly_the_person_region():
    v, m = _clip(), _mask()
    out = create_method("blackening").transform(v, m)
    assert (out[m] == 0).all()
    assert torch.equal(out[~m], v[~m])


@pytest.mark.parametrize("name", ["strongblur", "weakblur"])
def test_blur_changes_only_the_person_region_and_smooths_it(name):
    v, m = _clip(), _mask()
    out = create_method(name).transform(v, m)
    assert torch.equal(out[~m], v[~m])
    assert out[m].float().std() < 0.5 * v[m].float().std()


def test_strong_blur_smooths_more_than_weak():
    v = _clip(h=64, w=64, t=2)
    m = torch.ones(v.shape[:4], dtype=torch.bool)
    strong = create_method("strongblur").transform(v, m).float()
    weak = create_method("weakblur").transform(v, m).float()
    assert strong.std() < weak.std()


def test_downsampling_removes_detail_in_order():
    v = _clip(h=64, w=64)
    err2 = (create_method("downsample-2x").transform(v).float() - v.float()).abs().mean()
    err4 = (create_method("downsample-4x").transform(v).float() - v.float()).abs().mean()
    assert 0 < err2 < err4
    flat = torch.full((1, 2, 16, 16, 3), 77, dtype=torch.uint8)
    assert torch.equal(create_method("downsample-4x").transform(flat), flat)


@pytest.mark.parametrize("name", ["blackening", "strongblur", "weakblur"])
def test_box_methods_without_regions_are_an_error(name):
    with pytest.raises(VPBenchError, match="needs person regions"):
        create_method(name).transform(_clip())


def test_wrong_input_type_is_an_error():
    with pytest.raises(VPBenchError, match="uint8 tensors"):
        create_method("raw").transform(torch.zeros(1, 2, 8, 8, 3))


def test_unknown_method_suggests_the_closest_name():
    with pytest.raises(VPBenchError, match=r"unknown method 'blackenning' \(did you mean 'blackening'\?\)"):
        create_method("blackenning")


@pytest.mark.parametrize("name", [e.name for e in METHODS.entries() if e.origin == "builtin"])
def test_every_builtin_method_has_a_complete_card(name):
    from vpbench.core.config import method_card

    card = method_card(name)
    assert card is not None, f"models/methods/{name}.yaml is missing"
    assert card["name"] == name and card["learned"] == METHODS.get(name).learned
    for key in ("version", "display_name", "what", "source", "paper_reported"):
        assert key in card
    for protocol, datasets in card["paper_reported"].items():
        if protocol == "source":
            continue
        for values in datasets.values():
            assert set(values) == {"top1", "f1", "cmap"}
