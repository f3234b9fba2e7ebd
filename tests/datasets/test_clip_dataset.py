"""Memory-mapped multi-group clip cache and model batches (devcurriculum.datasets.clip_dataset)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from devcurriculum.datasets.clip_dataset import ClipCache, to_model_batch
from devcurriculum.datasets.clips import CLIP_SCHEMA
from devcurriculum.utils.io import table_from_columns, write_table
from devcurriculum.utils.serialize import save_npy

T, S = 3, 4


def write_group(clip_dir: Path, group: str, n: int, seed: int, shuffle_rows: bool = False) -> np.ndarray:
    """A synthetic group cache whose clip i is filled with a recognisable pattern."""
    rng = np.random.default_rng(seed)
    cache = rng.integers(0, 256, (n, T, S, S, 3), dtype=np.uint8)
    rows = np.arange(n)
    if shuffle_rows:
        rows = rng.permutation(n)  # table rows need not be in cache order
    columns = {
        "clip_id": [f"{group}-v:{r}" for r in rows],
        "video_id": [f"{group}-v"] * n,
        "subject": ["s"] * n,
        "age_days": [1.0] * n,
        "age_group": [group] * n,
        "start_frame": rows.tolist(),
        "frame_step": [1] * n,
        "n_frames": [T] * n,
        "cache_row": rows.tolist(),
    }
    write_table(table_from_columns(columns, CLIP_SCHEMA), clip_dir / f"{group}.parquet")
    save_npy(clip_dir / f"{group}.npy", cache)
    return cache


@pytest.fixture()
def clip_dir(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    caches = {
        "g0": write_group(tmp_path, "g0", 5, seed=0),
        "g1": write_group(tmp_path, "g1", 0, seed=1),  # an empty group is allowed
        "g2": write_group(tmp_path, "g2", 7, seed=2, shuffle_rows=True),
    }
    return tmp_path, caches


def test_global_index_spans_groups_in_order(clip_dir: tuple[Path, dict[str, np.ndarray]]) -> None:
    d, _caches = clip_dir
    cc = ClipCache(d, ["g2", "g0", "g1"])
    assert len(cc) == 12 and cc.clip_shape == (T, S, S, 3)
    assert cc.table["global_index"].tolist() == list(range(12))
    assert cc.table["age_group"].tolist() == ["g2"] * 7 + ["g0"] * 5
    assert cc.table["cache_row"].tolist() == list(range(7)) + list(range(5))  # sorted by cache row
    assert cc.indices_of("g2").tolist() == list(range(7))
    assert cc.indices_of("g0").tolist() == list(range(7, 12))
    assert cc.indices_of("g1").tolist() == []
    with pytest.raises(KeyError, match="'g9' is not in this clip cache"):
        cc.indices_of("g9")


def test_get_returns_requested_order_with_repeats(clip_dir: tuple[Path, dict[str, np.ndarray]]) -> None:
    d, caches = clip_dir
    cc = ClipCache(d, ["g0", "g1", "g2"])
    want = np.array([11, 0, 5, 4, 11, 6])
    got = cc.get(want)
    assert got.dtype == np.uint8 and got.shape == (6, T, S, S, 3)
    reference = np.concatenate([caches["g0"], caches["g1"], caches["g2"]])
    assert np.array_equal(got, reference[want])
    assert np.array_equal(cc[7], caches["g2"][2])
    assert cc.get([]).shape == (0, T, S, S, 3)
    with pytest.raises(IndexError, match=r"clip indices \[12\] out of range for a cache of 12 clips"):
        cc.get([3, 12])


def test_pickles_without_the_data(clip_dir: tuple[Path, dict[str, np.ndarray]]) -> None:
    d, _caches = clip_dir
    cc = ClipCache(d, ["g0", "g2"])
    cc.get([0])  # opens the maps
    blob = pickle.dumps(cc)
    assert len(blob) < 20_000  # the table, not the clips
    clone = pickle.loads(blob)
    assert np.array_equal(clone.get([1, 9]), cc.get([1, 9]))


def test_inconsistent_caches_are_rejected(tmp_path: Path) -> None:
    write_group(tmp_path, "a", 2, seed=0)
    save_npy(tmp_path / "b.npy", np.zeros((2, T + 1, S, S, 3), np.uint8))
    write_group(tmp_path / "x", "b", 2, seed=0)
    (tmp_path / "x" / "b.parquet").rename(tmp_path / "b.parquet")
    with pytest.raises(ValueError, match=r"b\.npy: clips have shape \(4, 4, 4, 3\) but group 'a' has \(3, 4, 4, 3\)"):
        ClipCache(tmp_path, ["a", "b"])
    save_npy(tmp_path / "b.npy", np.zeros((3, T, S, S, 3), np.uint8))
    with pytest.raises(ValueError, match=r"b\.parquet: cache_row must be a permutation of 0\.\.2"):
        ClipCache(tmp_path, ["a", "b"])
    with pytest.raises(FileNotFoundError, match=r"group 'zz'.*run chunk_clips"):
        ClipCache(tmp_path, ["zz"])
    with pytest.raises(ValueError, match="non-empty list"):
        ClipCache(tmp_path, "a")


def test_to_model_batch_layout_and_normalisation() -> None:
    clips = np.zeros((2, 3, 4, 5, 3), np.uint8)
    clips[0, 1, 2, 3] = [0, 255, 51]
    batch = to_model_batch(clips)
    assert batch.dtype == torch.float32 and batch.shape == (2, 3, 3, 4, 5)  # (B, T, C, H, W)
    assert batch[0, 1, :, 2, 3].tolist() == pytest.approx([-2.0, 2.0, (0.2 - 0.5) / 0.25])
    assert batch[1, 0, 0, 0, 0].item() == pytest.approx(-2.0)
    assert torch.equal(to_model_batch(torch.from_numpy(clips)), batch)
    noise = np.random.default_rng(0).integers(0, 256, (2, 3, 4, 5, 3), dtype=np.uint8)
    formula = (torch.from_numpy(noise).permute(0, 1, 4, 2, 3).float() / 255.0 - 0.5) / 0.25
    assert torch.equal(to_model_batch(noise), formula)  # bit for bit: the in-place version changes no input
    with pytest.raises(ValueError, match=r"expected uint8 clips \(B, T, H, W, 3\)"):
        to_model_batch(clips.astype(np.float32))
