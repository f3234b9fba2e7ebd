"""Rendering videos of the demo world: random parts, determinism, the benchmark target, age trends."""

from __future__ import annotations

import numpy as np
import pytest
from demo_cases import GROUPS

from devcurriculum.config import DemoBenchmarkConfig
from devcurriculum.demo import World, plan_subjects, render_benchmark_clip, render_video, render_video_frames
from devcurriculum.demo.draw import DIRECTIONS, stochastic_round
from devcurriculum.demo.figures import episodes
from devcurriculum.demo.measure import edge_density, motion_energy

# ------------------------------------------------------------------------------------ random parts


def test_stochastic_round_keeps_the_expectation() -> None:
    rng = np.random.default_rng(0)
    draws = [stochastic_round(2.3, rng) for _ in range(4000)]
    assert set(draws) == {2, 3}
    assert np.mean(draws) == pytest.approx(2.3, abs=0.03)


def test_episodes_hit_their_stationary_fraction_and_length() -> None:
    on = episodes(40_000, 0.25, 20.0, np.random.default_rng(1))
    assert on.mean() == pytest.approx(0.25, abs=0.03)
    onsets = np.count_nonzero(on[1:] & ~on[:-1])
    assert on.sum() / onsets == pytest.approx(20.0, rel=0.15)  # mean episode length in frames
    assert not episodes(50, 0.0, 5, np.random.default_rng(0)).any()
    assert episodes(50, 1.0, 5, np.random.default_rng(0)).all()


# ------------------------------------------------------------------------------------- determinism


def test_frames_are_deterministic_from_the_seed(world: World) -> None:
    kwargs = {"seed": 5, "subject_index": 2, "video_index": 1, "n_frames": 12, "size": 32, "fps": 10}
    first = render_video_frames(world, 300.0, **kwargs)
    second = render_video_frames(world, 300.0, **kwargs)
    assert first.dtype == np.uint8 and first.shape == (12, 32, 32, 3)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, render_video_frames(world, 300.0, **{**kwargs, "seed": 6}))
    assert not np.array_equal(first, render_video_frames(world, 300.0, **{**kwargs, "video_index": 2}))


def test_benchmark_clips_are_deterministic(world: World) -> None:
    kwargs = {"bench": DemoBenchmarkConfig(frames=6), "seed": 0, "item_index": 7, "size": 32, "fps": 8}
    a = render_benchmark_clip(world, "triangle", "up", **kwargs).frames
    assert a.shape == (6, 32, 32, 3)
    np.testing.assert_array_equal(a, render_benchmark_clip(world, "triangle", "up", **kwargs).frames)


# ---------------------------------------------------------------------------------------- benchmark


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
def test_benchmark_target_is_the_only_mover(world: World, direction: str) -> None:
    """With the camera still, every pixel that changes lies on the target, which moves as labelled."""
    bench = DemoBenchmarkConfig(frames=8, camera_scale=0.0)
    clip = render_benchmark_clip(world, "square", direction, bench=bench, seed=1, item_index=3, size=48, fps=8)
    track = clip.target_track
    assert track is not None
    dx, dy = DIRECTIONS[direction]
    move = track[-1] - track[0]
    assert move @ np.array([dx, dy]) == pytest.approx(0.45 * 48)
    assert abs(move @ np.array([dy, dx])) < 1e-9
    changed = np.argwhere(np.any(clip.frames[1:] != clip.frames[:-1], axis=-1))  # (k, 3): t, y, x
    assert len(changed) > 0
    radius = 0.16 * 48 * 1.3  # largest target radius times the square's corner reach
    for t, y, x in changed[:: max(1, len(changed) // 200)]:
        near = [np.hypot(x - track[s, 0], y - track[s, 1]) <= radius for s in (t, t + 1)]
        assert any(near), f"pixel ({x}, {y}) changed at frame {t} away from the target"


# ---------------------------------------------------------------------------------------- age trends


def _group_means(world: World, seed: int) -> dict[str, np.ndarray]:
    """Per group: mean (motion energy, edge density, camera speed) over 3 subjects x 2 videos."""
    out: dict[str, list] = {}
    for subject in plan_subjects(GROUPS, 3, seed=seed):
        for k in range(2):
            video = render_video(
                world, subject.age_days, seed=seed, subject_index=subject.index, video_index=k,
                n_frames=60, size=32, fps=15,
            )
            frames = video.frames
            out.setdefault(subject.group, []).append(
                (motion_energy(frames), edge_density(frames), video.stats["camera_speed_px"])
            )
    return {group: np.mean(values, axis=0) for group, values in out.items()}


def test_motion_and_clutter_rise_with_age(world: World) -> None:
    means = _group_means(world, seed=0)
    g0, g1, g2 = means["g0"], means["g1"], means["g2"]
    # Over 30 seeds the g2/g0 ratios were at least 3.0 (motion) and 1.7 (edges); margins leave room.
    assert g2[0] > 2.0 * g0[0] and g1[0] > g0[0], f"motion energy g0 {g0[0]:.2f}, g1 {g1[0]:.2f}, g2 {g2[0]:.2f}"
    assert g2[1] > 1.4 * g0[1] and g1[1] > g0[1], f"edge density g0 {g0[1]:.3f}, g1 {g1[1]:.3f}, g2 {g2[1]:.3f}"
    assert g2[2] > 2.0 * g0[2], f"camera speed g0 {g0[2]:.2f} px/frame, g2 {g2[2]:.2f}"


def test_faces_fall_and_hands_rise_with_age(world: World) -> None:
    stats = {
        age: [
            render_video(world, age, seed=0, subject_index=i, video_index=0, n_frames=90, size=16, fps=15).stats
            for i in range(10)
        ]
        for age in (30.0, 370.0)
    }
    young, old = ({k: np.mean([s[k] for s in stats[a]]) for k in stats[a][0]} for a in (30.0, 370.0))
    # Expected face pixels: 0.25 x 0.26 (young) vs 0.083 x 0.06 (old); over 40 seeds old/young <= 0.41.
    assert old["face_pixels"] < 0.6 * young["face_pixels"], (young["face_pixels"], old["face_pixels"])
    # Over 25 seeds: hand-frame ratio old/young >= 1.92, contact-frame difference >= 0.11. (Face-frame
    # counts alone are too noisy at this size; face pixels also shrink with age, which steadies them.)
    assert old["hand_frames"] > 1.5 * young["hand_frames"], (young["hand_frames"], old["hand_frames"])
    assert old["contact_frames"] > young["contact_frames"] + 0.05
