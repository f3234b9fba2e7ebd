"""Clip cache shard files (devcurriculum.datasets.clip_store): round trips, rollback, disk space, stale temps."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from devcurriculum.datasets.clip_store import (
    DiskSpaceError,
    JpegShard,
    open_shard,
    open_writer,
    remove_stale_temp_files,
)

SHAPE = (3, 16, 24, 3)


def smooth_clips(n: int, seed: int) -> np.ndarray:
    """Clips of smooth gradients plus mild noise (JPEG keeps them within a few grey levels)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : SHAPE[1], 0 : SHAPE[2]]
    out = np.empty((n, *SHAPE), dtype=np.uint8)
    for i in range(n):
        for t in range(SHAPE[0]):
            base = 40 + 4 * xx + 3 * yy + 5 * t + 3 * i  # at most 199: no wrap-around edges
            out[i, t] = np.stack([base, 250 - base, np.full_like(base, 90 + 3 * i)], -1)
    return np.clip(out.astype(np.int16) + rng.integers(-2, 3, out.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["raw", "jpeg"])
def test_round_trip_with_a_rolled_back_clip(tmp_path: Path, fmt: str) -> None:
    clips = smooth_clips(5, seed=0)
    path = tmp_path / f"s.{fmt}"
    writer = open_writer(fmt, path, SHAPE, capacity=6, quality=95)
    for clip in clips[:3]:
        writer.append(list(clip))
    writer.append(list(clips[4]))  # a video that then fails: rolled back, overwritten by the next
    writer.rollback(3)
    writer.append(list(clips[3]))
    writer.append(list(clips[4]))
    writer.close()
    reader = open_shard(path, fmt)
    assert reader.shape == (5, *SHAPE)
    got = reader.clips(np.arange(5))
    if fmt == "raw":
        assert np.array_equal(got, clips) and np.load(path).shape == (5, *SHAPE)  # header rewritten for 5 rows
        assert path.stat().st_size == 128 + clips.nbytes  # cut after the rows kept
    else:
        assert np.abs(got.astype(int) - clips).mean() < 2.0 and path.stat().st_size < clips.nbytes
    assert np.array_equal(reader.clips(np.array([4, 1]), np.array([2, 0])), got[[4, 1]][:, [2, 0]])
    assert np.array_equal(reader.frames_at(np.array([4, 1, 1]), np.array([2, 0, 1])), got[[4, 1, 1], [2, 0, 1]])


def test_truncated_jpeg_shard_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.jpgs"
    writer = open_writer("jpeg", path, SHAPE, capacity=2, quality=90)
    writer.append(list(smooth_clips(1, seed=1)[0]))
    writer.close()
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    with pytest.raises(ValueError, match=r"s\.jpgs: not a complete JPEG clip shard"):
        JpegShard(path)


def test_readers_pickle_without_their_maps(tmp_path: Path) -> None:
    import pickle

    clips = smooth_clips(2, seed=2)
    for fmt in ("raw", "jpeg"):
        path = tmp_path / f"p.{fmt}"
        writer = open_writer(fmt, path, SHAPE, capacity=2, quality=90)
        for clip in clips:
            writer.append(list(clip))
        writer.close()
        reader = open_shard(path, fmt)
        first = reader.clips(np.array([1]))
        clone = pickle.loads(pickle.dumps(reader))
        assert len(pickle.dumps(reader)) < 2000 and np.array_equal(clone.clips(np.array([1])), first)


def test_failed_preallocation_names_the_file_and_the_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with pytest.raises(DiskSpaceError, match=r"big\.npy: needs 3456128 bytes \(3\.3 MiB\) for the clip cache"):
        open_writer("raw", tmp_path / "big.npy", SHAPE, capacity=1000, quality=90)


def test_stale_temp_files_of_a_killed_job_are_removed(tmp_path: Path) -> None:
    final = tmp_path / "shard-0-of-2.npy"
    stale = [tmp_path / ".shard-0-of-2.npy.k1ll3d.npy", tmp_path / ".shard-0-of-2.npy.abc.npy"]
    for p in stale:
        p.write_bytes(b"x" * 10)
    keep = [tmp_path / ".shard-1-of-2.npy.other.npy", tmp_path / "shard-0-of-2.parquet"]
    for p in keep:
        p.write_bytes(b"y")
    assert sorted(remove_stale_temp_files(final)) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in keep)
