"""Memory-mapped clip caches of several age groups behind one global row index (for training).

Training and feature extraction read clips from here, never from the video files (DESIGN §8).
Global index ``i`` runs over the groups in the order given, and within a group over cache rows:
``global_index = offset(group) + cache_row``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch

from devcurriculum.utils.safe_load import load_npy

PathLike = str | os.PathLike[str]

log = logging.getLogger("devcurriculum.datasets.clip_dataset")

PIXEL_MEAN = 0.5
PIXEL_STD = 0.25


class ClipCache:
    """The clip caches ``{clip_dir}/{group}.npy`` + ``{group}.parquet`` of ``groups``, concatenated.

    ``table`` is a DataFrame of all clips with ``global_index`` (0..N-1, in row order) and
    ``age_group``; ``get(indices)`` returns uint8 ``(B, T, H, W, 3)`` clips. Arrays are opened with
    ``mmap_mode="r"`` lazily and dropped when pickled, so the object is cheap to send to DataLoader
    workers (each reopens its own maps instead of receiving a copy of the data).
    """

    def __init__(self, clip_dir: PathLike, groups: Sequence[str]) -> None:
        if isinstance(groups, str) or not groups:
            raise ValueError(f"groups must be a non-empty list of age group names, got {groups!r}")
        if len(set(groups)) != len(groups):
            raise ValueError(f"groups listed more than once: {list(groups)}")
        self.clip_dir = Path(clip_dir)
        self.groups: list[str] = list(groups)
        self._caches: list[np.ndarray] | None = None
        tables: list[pd.DataFrame] = []
        sizes: list[int] = []
        clip_shape: tuple[int, ...] | None = None
        for group in self.groups:
            table_path, cache_path = self._paths(group)
            for p in (table_path, cache_path):
                if not p.is_file():
                    raise FileNotFoundError(f"clip cache of group {group!r}: {p} not found (run chunk_clips)")
            cache = load_npy(cache_path)
            if cache.dtype != np.uint8 or cache.ndim != 5 or cache.shape[-1] != 3:
                raise ValueError(
                    f"{cache_path}: expected a uint8 (N, T, H, W, 3) clip cache, got {cache.dtype} {cache.shape}"
                )
            if clip_shape is None:
                clip_shape = tuple(cache.shape[1:])
            elif tuple(cache.shape[1:]) != clip_shape:
                raise ValueError(
                    f"{cache_path}: clips have shape {cache.shape[1:]} but group {self.groups[0]!r} has {clip_shape}"
                )
            df = pq.read_table(table_path).to_pandas()
            rows = df["cache_row"].to_numpy() if "cache_row" in df.columns else None
            if rows is None or len(df) != len(cache) or not np.array_equal(np.sort(rows), np.arange(len(cache))):
                raise ValueError(
                    f"{table_path}: cache_row must be a permutation of 0..{len(cache) - 1} "
                    f"({len(df)} table rows for {len(cache)} cached clips in {cache_path})"
                )
            df = df.sort_values("cache_row", kind="stable").reset_index(drop=True)
            df["age_group"] = group
            tables.append(df)
            sizes.append(len(cache))
        assert clip_shape is not None
        self.clip_shape: tuple[int, ...] = clip_shape
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        table = pd.concat(tables, ignore_index=True)
        table.insert(0, "global_index", np.arange(len(table), dtype=np.int64))
        if table["clip_id"].duplicated().any():
            dup = table.loc[table["clip_id"].duplicated(), "clip_id"].head(5).tolist()
            raise ValueError(f"clip ids repeat across groups {self.groups}: {dup}")
        self.table: pd.DataFrame = table
        log.info("clip cache: %d clips of shape %s from groups %s", len(table), clip_shape, self.groups)

    def _paths(self, group: str) -> tuple[Path, Path]:
        return self.clip_dir / f"{group}.parquet", self.clip_dir / f"{group}.npy"

    @property
    def caches(self) -> list[np.ndarray]:
        if self._caches is None:
            self._caches = [load_npy(self._paths(g)[1]) for g in self.groups]
        return self._caches

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_caches"] = None
        return state

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getitem__(self, index: int) -> np.ndarray:
        """One clip, uint8 ``(T, H, W, 3)`` (so the cache works as a map-style dataset)."""
        return self.get(np.asarray([index]))[0]

    def indices_of(self, group: str) -> np.ndarray:
        """Global indices of ``group``'s clips (a contiguous range)."""
        try:
            k = self.groups.index(group)
        except ValueError:
            raise KeyError(f"age group {group!r} is not in this clip cache (groups: {self.groups})") from None
        return np.arange(self._offsets[k], self._offsets[k + 1], dtype=np.int64)

    def get(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Clips at global ``indices`` as uint8 ``(B, T, H, W, 3)``, in the order requested.

        Rows are read in sorted order (sequential disk access on the memory maps), then put back
        into the requested order; repeated indices are allowed.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        out = np.empty((len(idx), *self.clip_shape), dtype=np.uint8)
        if len(idx) == 0:
            return out
        if idx.min() < 0 or idx.max() >= len(self):
            bad = idx[(idx < 0) | (idx >= len(self))][:5].tolist()
            raise IndexError(f"clip indices {bad} out of range for a cache of {len(self)} clips")
        order = np.argsort(idx, kind="stable")
        sorted_idx = idx[order]
        group_of = np.searchsorted(self._offsets, sorted_idx, side="right") - 1
        caches = self.caches
        for k in np.unique(group_of):
            sel = group_of == k
            rows = sorted_idx[sel] - self._offsets[k]
            out[order[sel]] = caches[k][rows]
        return out


def to_model_batch(clips: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, T, H, W, 3)`` clips -> float32 ``(B, T, C, H, W)``, ``(x / 255 - 0.5) / 0.25``.

    The layout of transformers' VideoMAE ``pixel_values``; normalisation as in the reference
    (ALGORITHMS.md A).
    """
    x = torch.from_numpy(np.ascontiguousarray(clips)) if isinstance(clips, np.ndarray) else clips
    if x.dtype != torch.uint8 or x.ndim != 5 or x.shape[-1] != 3:
        raise ValueError(f"expected uint8 clips (B, T, H, W, 3), got {x.dtype} {tuple(x.shape)}")
    x = x.permute(0, 1, 4, 2, 3).to(torch.float32)
    return ((x / 255.0 - PIXEL_MEAN) / PIXEL_STD).contiguous()
