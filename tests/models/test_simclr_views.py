"""SimCLR views: torchvision functionals with parameters from our generator, the seed study's options."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from model_configs import blocks
from synthetic_clips import moving_squares

from devcurriculum.config import ConfigError, SimCLRAugmentConfig, model_config
from devcurriculum.models.registry import build_objective
from devcurriculum.models.simclr_views import augment_frames, draw_views

SEED_STUDY = SimCLRAugmentConfig(crop_scale=(0.7, 1.0), jitter=0.4, hue=0.1, jitter_prob=0.8, jitter_order="random",
                                 grayscale_prob=0.2, flip=True, rotation=90.0)
DEMO = SimCLRAugmentConfig(grayscale_prob=1.0, jitter=0.6, jitter_prob=1.0)


@settings(max_examples=25, deadline=None)
@given(
    crop_lo=st.floats(0.1, 1.0), jitter=st.floats(0.0, 0.9), hue=st.sampled_from([0.0, 0.1, 0.5]),
    jitter_prob=st.floats(0.0, 1.0), order=st.sampled_from(["fixed", "random"]), grey=st.floats(0.0, 1.0),
    flip=st.booleans(), rotation=st.sampled_from([0.0, 15.0, 90.0]), size=st.integers(8, 24),
    seed=st.integers(0, 2**31 - 1),
)
def test_views_keep_shape_dtype_range_and_are_deterministic_from_the_seed(
    crop_lo, jitter, hue, jitter_prob, order, grey, flip, rotation, size, seed
) -> None:
    cfg = SimCLRAugmentConfig(crop_scale=(crop_lo, 1.0), jitter=jitter, hue=hue, jitter_prob=jitter_prob,
                              jitter_order=order, grayscale_prob=grey, flip=flip, rotation=rotation)
    frames = moving_squares(5, 1, size, seed=seed % 1000)[:, 0]
    a = augment_frames(frames, cfg, torch.Generator().manual_seed(seed))
    b = augment_frames(frames, cfg, torch.Generator().manual_seed(seed))
    assert a.shape == frames.shape and a.dtype == frames.dtype
    assert torch.equal(a, b)
    # pixels stay in [0, 1] before normalisation (crop is a convex resampling, jitter clamps)
    assert a.min() >= -2.0 - 1e-5 and a.max() <= 2.0 + 1e-5


def test_different_generator_states_give_different_views() -> None:
    frames = moving_squares(4, 1, 16, seed=1)[:, 0]
    a = augment_frames(frames, SEED_STUDY, torch.Generator().manual_seed(0))
    b = augment_frames(frames, SEED_STUDY, torch.Generator().manual_seed(1))
    assert not torch.allclose(a, b)


def test_the_default_keys_keep_the_random_stream_and_the_meaning_of_jitter() -> None:
    # The draws, in order: crop area, aspect, x, y (n each), flip (n), jitter on/off (n), factors (3n),
    # grayscale (n): as before the torchvision rewrite. A flat grey frame with no crop shows the factor:
    # brightness scales it, and contrast and saturation leave a flat grey frame unchanged.
    n, cfg = 3, SimCLRAugmentConfig(crop_scale=(1.0, 1.0), flip=True, jitter=0.5, jitter_prob=1.0, grayscale_prob=0.5)
    frames = torch.full((n, 3, 8, 8), (0.4 - 0.5) / 0.25)
    gen, replay = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    out = augment_frames(frames, cfg, gen)
    for _ in range(5):
        torch.rand(n, generator=replay)
    torch.rand(n, generator=replay)  # jitter on/off
    brightness = (0.5 + torch.rand(3 * n, generator=replay)).view(n, 3)[:, 0]
    torch.rand(n, generator=replay)  # grayscale
    assert torch.equal(gen.get_state(), replay.get_state())
    # (torchvision's grayscale weights sum to 0.9999, hence the tolerance)
    torch.testing.assert_close(out * 0.25 + 0.5, (0.4 * brightness)[:, None, None, None].expand_as(out), atol=1e-4,
                               rtol=0)


def test_off_options_draw_nothing() -> None:
    frames = moving_squares(4, 1, 16, seed=2)[:, 0]
    a, b = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    augment_frames(frames, DEMO, a)
    augment_frames(frames, SimCLRAugmentConfig(**{**DEMO.to_dict(), "hue": 0.0, "rotation": 0.0, "jitter_order": "fixed"}), b)
    assert torch.equal(a.get_state(), b.get_state())


def test_seed_study_parameters_follow_their_distributions() -> None:
    n, size = 4000, 32
    views = draw_views(n, size, size, SEED_STUDY, torch.Generator().manual_seed(0))
    areas = [v.box[2] * v.box[3] / size**2 for v in views]
    # whole-pixel boxes: the area is within one row and column of U(0.7, 1)
    assert min(areas) >= 0.7 - 2 / size and max(areas) <= 1.0
    assert abs(sum(v.jitter for v in views) / n - 0.8) < 0.03
    assert abs(sum(v.grayscale for v in views) / n - 0.2) < 0.03
    assert abs(sum(v.flip for v in views) / n - 0.5) < 0.03
    angles = [v.angle for v in views]
    assert -90 <= min(angles) < -85 and 85 < max(angles) <= 90
    hues = [v.factors["hue"] for v in views]
    assert min(hues) >= -0.1 and max(hues) <= 0.1
    assert all(0.6 <= v.factors[k] <= 1.4 for v in views for k in ("brightness", "contrast", "saturation"))
    orders = {v.order for v in views}
    assert len(orders) == 24 and all(sorted(o) == sorted(("brightness", "contrast", "saturation", "hue")) for o in orders)


def test_rotation_fills_corners_black_and_hue_turns_colours() -> None:
    red = torch.zeros(1, 3, 16, 16)
    red[:, 0] = 1.0
    frames = (red - 0.5) / 0.25
    rotate = SimCLRAugmentConfig(crop_scale=(1.0, 1.0), flip=False, jitter=0.0, rotation=90.0)
    assert draw_views(1, 16, 16, rotate, torch.Generator().manual_seed(0))[0].angle == pytest.approx(-34.66, abs=0.01)
    rotated = augment_frames(frames, rotate, torch.Generator().manual_seed(0))
    assert rotated[0, :, 0, 0].tolist() == [-2.0, -2.0, -2.0]  # a corner rotated in from outside: black
    assert rotated[0, 0, 8, 8] == 2.0  # the centre stays red
    hue_only = SimCLRAugmentConfig(crop_scale=(1.0, 1.0), flip=False, jitter=0.0, hue=0.5, jitter_prob=1.0)
    shifted = augment_frames(frames, hue_only, torch.Generator().manual_seed(0)) * 0.25 + 0.5
    assert not torch.allclose(shifted, red)  # a hue shift moves red towards other primaries
    assert torch.allclose(shifted.max(dim=1).values, torch.ones(1, 16, 16))  # ... keeping its value


def test_identity_config_returns_the_frames() -> None:
    frames = moving_squares(3, 1, 16, seed=5)[:, 0]
    identity = SimCLRAugmentConfig(crop_scale=(1.0, 1.0), flip=False, jitter=0.0, jitter_prob=0.0)
    torch.testing.assert_close(augment_frames(frames, identity, torch.Generator()), frames, rtol=1e-5, atol=1e-5)


def test_seed_study_projection_head_is_512_512() -> None:
    torch.manual_seed(0)
    obj = build_objective(*blocks({"objective": "simclr", "proj_hidden": 512, "proj_dim": 512}, {"frames": 2, "size": 16}))
    assert [m.out_features for m in obj.projection if hasattr(m, "out_features")] == [512, 512]


def test_new_keys_are_checked_naming_them() -> None:
    base = {"objective": "simclr"}
    with pytest.raises(ConfigError, match=r"^models\.m\.augment\.hue"):
        model_config({**base, "augment": {"hue": 0.7}}, where="models.m")
    with pytest.raises(ConfigError, match=r"^models\.m\.augment\.rotation"):
        model_config({**base, "augment": {"rotation": -5}}, where="models.m")
    with pytest.raises(ConfigError, match=r"^models\.m\.augment\.jitter_order: 'shuffled' is not one of"):
        model_config({**base, "augment": {"jitter_order": "shuffled"}}, where="models.m")
    assert math.isclose(model_config(base, where="models.m").augment.hue, 0.0)
