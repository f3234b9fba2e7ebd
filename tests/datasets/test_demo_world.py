"""Tests of the demo world renderer: config handling, determinism, files, benchmark labels, age trends."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from devcurriculum.datasets.demo_render import (
    DIRECTIONS,
    edge_density,
    episodes,
    motion_energy,
    stochastic_round,
)
from devcurriculum.datasets.demo_world import (
    WORLD_DEFAULTS,
    World,
    demo_settings,
    plan_subjects,
    render_benchmark_clip,
    render_demo,
    render_video,
    render_video_frames,
    resolve_world,
    write_mp4,
)

LUMA = np.array([0.299, 0.587, 0.114])  # BT.601, the Y of the yuv420p files
GROUPS = {"g0": [0, 120], "g1": [120, 240], "g2": [240, 400]}

TINY_DEMO = {
    "seed": 3,
    "subjects_per_group": 2,
    "videos_per_subject": 1,
    "seconds": 1,
    "fps": 8,
    "size": 32,
    "benchmark": {"clips_per_class": 2, "frames": 6},
}


def decode(path: Path) -> np.ndarray:
    """All frames of a video as uint8 (T, H, W, 3), decoded with PyAV."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.fixture(scope="module")
def world() -> World:
    return resolve_world(None, GROUPS)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    manifest = render_demo(TINY_DEMO, GROUPS, out)
    assert manifest == out / "manifest.csv"
    return out


# ------------------------------------------------------------------------------------------- world


def test_world_endpoints_and_linear_age_dependence(world: World) -> None:
    assert world.age_span == (0.0, 400.0)
    young, old, mid = world.at_age(0), world.at_age(400), world.at_age(200)
    for key, (y, o) in WORLD_DEFAULTS.items():
        assert getattr(young, key) == pytest.approx(y)
        assert getattr(old, key) == pytest.approx(o)
        assert getattr(mid, key) == pytest.approx((y + o) / 2)
    assert world.at_age(-50) == young and world.at_age(10_000) == old  # clamped outside the span
    assert young.face_fraction == pytest.approx(15 / 60) and old.face_fraction == pytest.approx(5 / 60, abs=1e-3)


def test_world_overrides() -> None:
    world = resolve_world({"face_fraction": 0.1, "n_objects": [1, 3], "age_span_days": [100, 200]}, GROUPS)
    assert world.endpoints["face_fraction"] == (0.1, 0.1)
    assert world.at_age(150).n_objects == pytest.approx(2.0)
    assert world.age_fraction(100) == 0.0 and world.age_fraction(250) == 1.0


@pytest.mark.parametrize(
    ("world", "match"),
    [
        ({"faces": [1, 2]}, r"unknown key\(s\) in demo.world: faces"),
        ({"face_scale": [0.5]}, r"demo.world.face_scale must be \[youngest, oldest\]"),
        ({"face_fraction": [0.2, 1.5]}, r"demo.world.face_fraction values must lie in \[0, 1\]"),
        ({"object_scale": [0.2, 0]}, r"demo.world.object_scale values must be > 0"),
        ({"texture_families": [1, 9]}, r"demo.world.texture_families values must lie in \[1, 7\]"),
        ({"age_span_days": [300, 100]}, r"demo.world.age_span_days needs youngest < oldest"),
    ],
)
def test_world_errors_name_the_key(world: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        resolve_world(world, GROUPS)


def test_bad_age_group_is_named() -> None:
    with pytest.raises(ValueError, match=r"data.age_groups.g1 needs 0 <= min_days < max_days"):
        resolve_world(None, {"g0": [0, 120], "g1": [240, 120]})


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        ({"size": 33}, r"demo.size must be an even integer"),
        ({"fps": 0}, r"demo.fps must be >= 1"),
        ({"sizes": 32}, r"unknown key\(s\) in demo: sizes"),
        ({"benchmark": {"shapes": ["circle", "hexagon"]}}, r"demo.benchmark.shapes must be distinct values"),
        ({"benchmark": {"directions": ["left", "left"]}}, r"demo.benchmark.directions must be distinct values"),
        ({"benchmark": {"travel": 0.9}}, r"demo.benchmark.travel must lie in"),
    ],
)
def test_demo_settings_errors_name_the_key(cfg: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        demo_settings(cfg)


def test_demo_settings_defaults() -> None:
    settings = demo_settings({})
    assert (settings.n_frames, settings.size, settings.benchmark["clips_per_class"]) == (120, 96, 24)


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


def test_plan_subjects_spreads_ages_inside_each_group() -> None:
    subjects = plan_subjects(GROUPS, 4, seed=0)
    assert len({s.name for s in subjects}) == 12
    assert [s.index for s in subjects] == list(range(12))
    for name, (lo, hi) in GROUPS.items():
        ages = [s.age_days for s in subjects if s.group == name]
        width = (hi - lo) / 4
        for j, age in enumerate(ages):  # subject j falls in the j-th quarter of its group's range
            assert lo + j * width - 0.01 <= age < lo + (j + 1) * width
    assert plan_subjects(GROUPS, 4, seed=0) == subjects
    assert plan_subjects(GROUPS, 4, seed=1) != subjects


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
    kwargs = {"seed": 0, "item_index": 7, "n_frames": 6, "size": 32, "fps": 8}
    a = render_benchmark_clip(world, "triangle", "up", **kwargs).frames
    np.testing.assert_array_equal(a, render_benchmark_clip(world, "triangle", "up", **kwargs).frames)


# ------------------------------------------------------------------------------------------- files


def test_manifest_columns_and_ages(demo_dir: Path) -> None:
    manifest = pd.read_csv(demo_dir / "manifest.csv")
    assert list(manifest.columns[:4]) == ["path", "subject", "age_days", "demo_group"]
    assert {"face_pixels", "hand_frames", "motion_energy", "edge_density", "camera_speed_px"} <= set(manifest.columns)
    assert len(manifest) == 3 * 2 * 1 and manifest["path"].is_unique
    for row in manifest.itertuples():
        lo, hi = GROUPS[row.demo_group]
        assert lo <= row.age_days < hi
        assert row.path == f"videos/{row.subject}_v0.mp4"
        assert (demo_dir / row.path).is_file()


def test_videos_decode_to_the_rendered_frames(demo_dir: Path, world: World) -> None:
    manifest = pd.read_csv(demo_dir / "manifest.csv")
    subjects = plan_subjects(GROUPS, 2, seed=3)
    for row, subject in zip(manifest.itertuples(), subjects, strict=True):
        decoded = decode(demo_dir / row.path)
        assert decoded.shape == (8, 32, 32, 3)
        rendered = render_video_frames(
            world, subject.age_days, seed=3, subject_index=subject.index, video_index=0, n_frames=8, size=32, fps=8
        )
        # H.264 4:2:0 halves chroma resolution, so sharp colour edges of a 32 px frame blur; luma is
        # kept at full resolution (measured mean error 1.6-3.0 at crf 18 on these videos), and each
        # decoded frame must match its own rendered frame best (no dropped, duplicated or reordered frames).
        luma_dec, luma_ren = decoded.astype(float) @ LUMA, rendered.astype(float) @ LUMA
        assert np.abs(luma_dec - luma_ren).mean() < 4.5
        distance = np.abs(luma_dec[:, None] - luma_ren[None, :]).mean(axis=(2, 3))  # (decoded, rendered)
        assert list(distance.argmin(axis=1)) == list(range(8))


def test_benchmark_labels_balanced_and_files_decode(demo_dir: Path) -> None:
    labels = pd.read_csv(demo_dir / "benchmark" / "labels.csv")
    assert list(labels.columns) == ["item_id", "path", "shape", "direction"]
    counts = labels.groupby(["shape", "direction"]).size()
    assert len(counts) == 16 and (counts == 2).all()
    assert labels["item_id"].is_unique
    for path in labels["path"].iloc[::5]:
        decoded = decode(demo_dir / "benchmark" / path)
        assert decoded.shape == (6, 32, 32, 3)
    manifest = pd.read_csv(demo_dir / "manifest.csv")
    assert not set(manifest["path"]) & {f"benchmark/{p}" for p in labels["path"]}


def test_no_temporary_files_left(demo_dir: Path) -> None:
    assert not [p for p in demo_dir.rglob(".*")]
    assert {p.name for p in demo_dir.iterdir()} == {"manifest.csv", "videos", "benchmark"}


def test_write_mp4_rejects_odd_sizes_and_bad_dtype(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even frame sizes, got 33x32"):
        write_mp4(np.zeros((2, 32, 33, 3), np.uint8), tmp_path / "odd.mp4", 8)
    with pytest.raises(ValueError, match="expected uint8"):
        write_mp4(np.zeros((2, 32, 32, 3), np.float32), tmp_path / "float.mp4", 8)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------- benchmark


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
def test_benchmark_target_is_the_only_mover(world: World, direction: str) -> None:
    """With the camera still, every pixel that changes lies on the target, which moves as labelled."""
    clip = render_benchmark_clip(
        world, "square", direction, seed=1, item_index=3, n_frames=8, size=48, fps=8, camera_scale=0.0
    )
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
