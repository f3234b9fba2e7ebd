"""Blur curriculum: the §C reference kernel, torchvision equivalence, and the four schedules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from devcurriculum.config import BlurConfig, ConfigError
from devcurriculum.curriculum.blur import (
    BlurSchedule,
    apply_blur,
    blur_schedule,
    gaussian_kernel1d,
    kernel_size_for,
)


def schedule(cfg: dict, total_steps: int) -> BlurSchedule:
    """The schedule of a ``blur`` block mapping (validated, defaults from the schema)."""
    return BlurSchedule.from_config(BlurConfig.from_mapping(cfg), total_steps)


def test_reference_kernel_size5_sigma1() -> None:
    k = gaussian_kernel1d(5, 1.0)
    np.testing.assert_allclose(k.numpy(), [0.05449, 0.24420, 0.40262, 0.24420, 0.05449], atol=1e-4)
    assert float(k.sum()) == pytest.approx(1.0, abs=1e-6)


def test_centred_impulse_gives_reference_centre_row() -> None:
    clips = torch.zeros(1, 1, 1, 9, 9)
    clips[0, 0, 0, 4, 4] = 1.0
    out = apply_blur(clips, torch.tensor([1.0]), kernel_size=5)
    np.testing.assert_allclose(
        out[0, 0, 0, 4, 2:7].numpy(), [0.02194, 0.09832, 0.16210, 0.09832, 0.02194], atol=1e-4
    )
    assert float(out.sum()) == pytest.approx(1.0, abs=1e-5)  # blur conserves mass away from borders


def test_auto_kernel_size_is_odd_and_at_least_3() -> None:
    assert kernel_size_for(1.0) == 7
    assert kernel_size_for(0.1) == 3
    assert kernel_size_for(2.0) == 13
    assert all(kernel_size_for(s) % 2 == 1 for s in np.linspace(0.05, 3, 40))


@pytest.mark.parametrize("kernel_size", [None, 5])
def test_equals_torchvision_per_frame_with_per_clip_sigma(kernel_size: int | None) -> None:
    g = torch.Generator().manual_seed(0)
    clips = torch.rand(4, 3, 3, 16, 16, generator=g)
    sigmas = torch.tensor([0.0, 0.7, 2.0, 1.3])
    out = apply_blur(clips, sigmas, kernel_size=kernel_size)
    for b, s in enumerate(sigmas.tolist()):
        if s == 0:
            assert torch.equal(out[b], clips[b])
            continue
        k = kernel_size if kernel_size is not None else kernel_size_for(s)
        expected = TF.gaussian_blur(clips[b], [k, k], [s, s])  # (T, C, H, W): every frame
        torch.testing.assert_close(out[b], expected, atol=2e-6, rtol=0)


def test_all_frames_of_a_clip_share_sigma() -> None:
    frame = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(1))
    clips = frame.expand(2, 5, 3, 12, 12).clone()  # identical frames in each clip
    out = apply_blur(clips, torch.tensor([1.5, 0.5]))
    for b in range(2):
        for t in range(1, 5):
            assert torch.equal(out[b, t], out[b, 0])
    assert not torch.allclose(out[0, 0], out[1, 0])  # different clips, different σ


def test_apply_blur_does_not_modify_input_and_checks_shapes() -> None:
    clips = torch.rand(2, 2, 3, 8, 8)
    before = clips.clone()
    apply_blur(clips, 1.0)
    assert torch.equal(clips, before)
    with pytest.raises(ValueError, match="one sigma per clip"):
        apply_blur(clips, torch.tensor([1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="reflect pad"):
        apply_blur(clips, torch.tensor([3.0, 0.0]))  # kernel 19 on 8x8 frames
    with pytest.raises(TypeError, match="float"):
        apply_blur(torch.zeros(1, 1, 3, 8, 8, dtype=torch.uint8), 1.0)


def test_fixed_blurs_until_fraction_then_stops() -> None:
    s = schedule({"variant": "fixed", "sigma": 1.0, "kernel_size": 5, "until_fraction": 0.3}, 100)
    assert s.blur_steps == 30
    assert s.at(0).sigma == 1.0 and s.at(29).prob == 1.0 and s.at(29).kernel_size == 5
    assert (s.at(30).sigma, s.at(30).prob, s.at(30).kernel_size) == (0.0, 0.0, 0)
    assert torch.equal(s.sample(30, 4), torch.zeros(4, dtype=torch.float64))


def test_linear_proportion_probability_and_sampling() -> None:
    s = schedule({"variant": "linear_proportion", "sigma": 1.0, "until_fraction": 0.5}, 40)
    np.testing.assert_allclose([s.at(t).prob for t in (0, 5, 10, 19, 20, 39)], [1.0, 0.75, 0.5, 0.05, 0.0, 0.0], atol=1e-12)
    g = torch.Generator().manual_seed(0)
    draws = s.sample(10, 20000, g)
    assert set(torch.unique(draws).tolist()) == {0.0, 1.0}
    assert float((draws > 0).double().mean()) == pytest.approx(0.5, abs=0.02)


def test_linear_sigma_levels_match_reference() -> None:
    s = schedule(
        {"variant": "linear_sigma", "sigma_max": 2.0, "sigma_min": 0.1, "levels": 5, "until_fraction": 0.5}, 100
    )
    per_level = [s.at(t).sigma for t in (0, 10, 20, 30, 40, 50, 99)]
    np.testing.assert_allclose(per_level, [2.0, 1.6, 1.2, 0.8, 0.4, 0.0, 0.0], atol=1e-12)
    assert s.at(9).sigma == 2.0 and s.at(49).sigma == pytest.approx(0.4)
    assert torch.allclose(s.sample(25, 3), torch.full((3,), 1.2, dtype=torch.float64))


def test_linear_sigma_stops_when_sigma_reaches_threshold() -> None:
    s = schedule({"variant": "linear_sigma", "sigma_max": 2.0, "sigma_min": 0.5, "levels": 5}, 100)
    assert s.at(40).sigma == 0.0 and s.at(40).prob == 0.0  # σ = 0.4 is not above 0.5


def test_random_sigma_draws_in_range_and_reports_mean() -> None:
    s = schedule({"variant": "random_sigma", "sigma_min": 0.1, "sigma_max": 2.0, "until_fraction": 0.2}, 50)
    assert s.blur_steps == 10
    assert s.at(3).sigma == pytest.approx(1.05) and s.at(3).prob == 1.0
    draws = s.sample(3, 5000, torch.Generator().manual_seed(3))
    assert float(draws.min()) >= 0.1 and float(draws.max()) <= 2.0
    assert float(draws.mean()) == pytest.approx(1.05, abs=0.03)
    assert s.at(10).sigma == 0.0


def test_sampling_is_reproducible_from_the_generator() -> None:
    s = schedule({"variant": "random_sigma"}, 20)
    a = s.sample(0, 8, torch.Generator().manual_seed(7))
    b = s.sample(0, 8, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


@pytest.mark.parametrize("variant", ["fixed", "linear_proportion", "linear_sigma", "random_sigma"])
def test_blur_schedule_table_ends_unblurred(variant: str) -> None:
    table = blur_schedule(variant, 60, until_fraction=0.5)
    assert table.shape == (60, 2)
    assert np.all(table[30:] == 0.0)
    assert table[0, 0] > 0 and table[0, 1] == 1.0


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="blur.variant"):
        schedule({"variant": "gaussian"}, 10)
    with pytest.raises(ConfigError, match=r"blur.sigmax: unknown key \(did you mean 'sigma'\?\)"):
        schedule({"variant": "fixed", "sigmax": 1}, 10)
    with pytest.raises(ConfigError, match="blur.kernel_size"):
        schedule({"variant": "fixed", "kernel_size": 4}, 10)
    # the public function validates its keyword arguments the same way
    with pytest.raises(ConfigError, match=r"blur.sigmax: unknown key"):
        blur_schedule("fixed", 10, sigmax=1)
    with pytest.raises(ConfigError, match=r"blur.until_fraction"):
        blur_schedule("fixed", 10, until_fraction=0)


def test_schedule_defaults_are_the_schema_defaults() -> None:
    s = BlurSchedule.from_config(BlurConfig(), 100)
    assert (s.variant, s.config.sigma_max, s.config.levels, s.blur_steps, s.kernel_size) == ("linear_sigma", 2.0, 5, 50, None)
    np.testing.assert_array_equal(blur_schedule("linear_sigma", 100), s.table())
