"""render_demo: the files it writes, their content, and errors that name the config key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from demo_cases import GROUPS, TINY_DEMO, decode

from devcurriculum.demo import World, plan_subjects, render_demo, render_video_frames, write_mp4

LUMA = np.array([0.299, 0.587, 0.114])  # BT.601, the Y of the yuv420p files


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


def test_bad_age_group_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"data\.age_groups\.g1: min_days must be < max_days"):
        render_demo(demo=TINY_DEMO, age_groups={"g0": (0.0, 120.0), "g1": (240.0, 120.0)}, out_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_write_mp4_rejects_odd_sizes_and_bad_dtype(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even frame sizes, got 33x32"):
        write_mp4(np.zeros((2, 32, 33, 3), np.uint8), tmp_path / "odd.mp4", 8)
    with pytest.raises(ValueError, match="expected uint8"):
        write_mp4(np.zeros((2, 32, 32, 3), np.float32), tmp_path / "float.mp4", 8)
    assert not list(tmp_path.iterdir())


def test_write_mp4_gives_the_same_file_for_the_same_frames(tmp_path: Path, world: World) -> None:
    """With x264's mbtree on, 8 encodes of this clip gave 3 different files; the demo's must not differ."""
    frames = render_video_frames(world, 300.0, seed=0, subject_index=1, video_index=0, n_frames=30, size=96, fps=15)
    files = set()
    for i in range(10):
        write_mp4(frames, tmp_path / f"{i}.mp4", 15)
        files.add((tmp_path / f"{i}.mp4").read_bytes())
    assert len(files) == 1
