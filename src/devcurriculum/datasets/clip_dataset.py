"""Clip caches of several age groups behind one global row index (for training and feature extraction).

Training and feature extraction read clips from here, never from the video files (docs/performance.md "Rules the code keeps").
Each group has a clip index ``{clip_dir}/{group}.parquet`` (written by ``chunk_clips``) whose
metadata names the shard files holding its clips and their format (``raw`` or ``jpeg``,
``datasets.clip_store``); a row's ``shard`` and ``shard_row`` say where its clip is. An index
without that metadata is the single-file layout ``{group}.parquet`` + ``{group}.npy``.
Global index ``i`` runs over the groups in the order given, and within a group over cache rows:
``global_index = offset(group) + cache_row``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from devcurriculum.datasets.clip_store import RAW, ShardReader, open_shard
from devcurriculum.utils.io import read_table
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.datasets.clip_dataset")

PIXEL_MEAN = 0.5
PIXEL_STD = 0.25


def _frame_selection(frames: Sequence[int] | np.ndarray | None, n_frames: int) -> np.ndarray | None:
    if frames is None:
        return None
    sel = np.asarray(frames, dtype=np.int64).reshape(-1)
    if sel.size and (sel.min() < 0 or sel.max() >= n_frames):
        raise IndexError(f"frame indices {sel.tolist()} out of range for clips of {n_frames} frames")
    return sel


class GroupCache:
    """One age group's clip index and the shard files behind it, rows in ``cache_row`` order.

    Behaves like a read-only uint8 array ``(N, T, H, W, 3)`` for what feature extraction needs:
    ``shape``, ``ndim``, ``dtype``, ``len()``, ``cache[rows]`` and pairwise ``cache[rows, frames]``.
    Shard files are opened lazily and dropped when pickled (DataLoader workers reopen their own).
    """

    def __init__(self, index_path: PathLike) -> None:
        self.index_path = Path(index_path)
        if not self.index_path.is_file():
            raise FileNotFoundError(f"clip index {self.index_path} not found (run chunk_clips)")
        table = read_table(self.index_path)
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        df = table.to_pandas()
        if "devcurriculum.cache" in meta:
            facts = json.loads(meta["devcurriculum.cache"])
            self.format: str = facts["format"]
            self.shard_paths = [self.index_path.parent / p for p in facts["shards"]]
        else:  # the single-file layout
            self.format = RAW
            self.shard_paths = [self.index_path.with_suffix(".npy")]
            df["shard"] = 0
            df["shard_row"] = df["cache_row"] if "cache_row" in df.columns else None
        for p in self.shard_paths:
            if not p.is_file():
                raise FileNotFoundError(f"clip cache {p} of the index {self.index_path} not found (run chunk_clips)")
        self._readers: list[ShardReader] = [open_shard(p, self.format) for p in self.shard_paths]
        shapes = {tuple(r.shape[1:]) for r in self._readers}
        if len(shapes) != 1:
            raise ValueError(f"{self.index_path}: its shards hold clips of different shapes {sorted(shapes)}")
        self.clip_shape: tuple[int, ...] = shapes.pop()
        self.table = self._checked(df)
        self._shard = self.table["shard"].to_numpy(dtype=np.int64)
        self._shard_row = self.table["shard_row"].to_numpy(dtype=np.int64)

    def _checked(self, df: pd.DataFrame) -> pd.DataFrame:
        """The index sorted by cache_row, after checking it addresses every stored clip exactly once."""
        stored = sum(r.shape[0] for r in self._readers)
        rows = df["cache_row"].to_numpy() if "cache_row" in df.columns else None
        if rows is None or len(df) != stored or not np.array_equal(np.sort(rows), np.arange(stored)):
            raise ValueError(
                f"{self.index_path}: cache_row must be a permutation of 0..{stored - 1} "
                f"({len(df)} table rows for {stored} cached clips in {', '.join(map(str, self.shard_paths))})"
            )
        df = df.sort_values("cache_row", kind="stable").reset_index(drop=True)
        sizes = np.array([r.shape[0] for r in self._readers])
        shard = df["shard"].to_numpy(dtype=np.int64)
        in_range = (shard >= 0) & (shard < len(sizes))
        if not in_range.all() or (df["shard_row"].to_numpy() >= sizes[np.where(in_range, shard, 0)]).any():
            raise ValueError(f"{self.index_path}: shard / shard_row point outside the shard files {self.shard_paths}")
        return df

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.table), *self.clip_shape)

    ndim = 5
    dtype = np.dtype(np.uint8)

    def __len__(self) -> int:
        return len(self.table)

    def read(self, rows: Sequence[int] | np.ndarray, frames: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Clips at ``rows`` (in that order; frames ``frames`` of each, all when None): ``(B, F, H, W, 3)``."""
        idx = np.asarray(rows, dtype=np.int64).reshape(-1)
        sel = _frame_selection(frames, self.clip_shape[0])
        n_sel = self.clip_shape[0] if sel is None else len(sel)
        out = np.empty((len(idx), n_sel, *self.clip_shape[1:]), dtype=np.uint8)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"{self.index_path}: rows out of range for {len(self)} clips")
        shard = self._shard[idx]
        for k in np.unique(shard):
            at = np.flatnonzero(shard == k)
            out[at] = self._readers[k].clips(self._shard_row[idx[at]], sel)
        return out

    def frames_at(self, rows: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """Frame ``frames[k]`` of clip ``rows[k]`` for every k: ``(B, H, W, 3)``."""
        idx = np.asarray(rows, dtype=np.int64).reshape(-1)
        sel = np.asarray(frames, dtype=np.int64).reshape(-1)
        out = np.empty((len(idx), *self.clip_shape[1:]), dtype=np.uint8)
        shard = self._shard[idx]
        for k in np.unique(shard):
            at = np.flatnonzero(shard == k)
            out[at] = self._readers[k].frames_at(self._shard_row[idx[at]], sel[at])
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple) and len(key) == 2:
            rows, frames = (np.asarray(k, dtype=np.int64) for k in key)
            return self.frames_at(*np.broadcast_arrays(rows, frames))
        if np.ndim(key) == 0:
            return self.read([int(key)])[0]
        return self.read(np.asarray(key))


def check_declared_caches(indexes: Sequence[GroupCache], caches: Sequence[PathLike]) -> None:
    """Fail unless ``caches`` (a rule's declared inputs) are exactly the shard files the indexes name."""
    named = {os.path.normpath(p) for g in indexes for p in g.shard_paths}
    given = {os.path.normpath(p) for p in caches}
    if named != given:
        raise ValueError(
            f"the clip cache files given differ from those the clip indexes name: given but not named "
            f"{sorted(given - named)[:3]}, named but not given {sorted(named - given)[:3]}"
        )


class ClipCache:
    """The clip caches of ``groups`` (indexes ``{clip_dir}/{group}.parquet``), concatenated.

    ``table`` is a DataFrame of all clips with ``global_index`` (0..N-1, in row order) and
    ``age_group``; ``get(indices)`` returns uint8 ``(B, T, H, W, 3)`` clips. Shard files are opened
    lazily and dropped when pickled, so the object is cheap to send to DataLoader workers (each
    reopens its own maps instead of receiving a copy of the data).
    """

    def __init__(self, clip_dir: PathLike, groups: Sequence[str]) -> None:
        if isinstance(groups, str) or not groups:
            raise ValueError(f"groups must be a non-empty list of age group names, got {groups!r}")
        if len(set(groups)) != len(groups):
            raise ValueError(f"groups listed more than once: {list(groups)}")
        self.clip_dir = Path(clip_dir)
        self.groups: list[str] = list(groups)
        self._groups: list[GroupCache] = []
        for group in self.groups:
            index = self.clip_dir / f"{group}.parquet"
            if not index.is_file():
                raise FileNotFoundError(f"clip cache of group {group!r}: {index} not found (run chunk_clips)")
            cache = GroupCache(index)
            first = self._groups[0].clip_shape if self._groups else cache.clip_shape
            if cache.clip_shape != first:
                raise ValueError(
                    f"{cache.shard_paths[0]}: clips have shape {cache.clip_shape} but group {self.groups[0]!r} has {first}"
                )
            self._groups.append(cache)
        self.clip_shape: tuple[int, ...] = self._groups[0].clip_shape
        self._offsets = np.concatenate([[0], np.cumsum([len(g) for g in self._groups])]).astype(np.int64)
        tables = []
        for group, cache in zip(self.groups, self._groups, strict=True):
            tables.append(cache.table.assign(age_group=group))
        table = pd.concat(tables, ignore_index=True)
        table.insert(0, "global_index", np.arange(len(table), dtype=np.int64))
        if table["clip_id"].duplicated().any():
            dup = table.loc[table["clip_id"].duplicated(), "clip_id"].head(5).tolist()
            raise ValueError(f"clip ids repeat across groups {self.groups}: {dup}")
        self.table: pd.DataFrame = table
        log.info("clip cache: %d clips of shape %s from groups %s", len(table), self.clip_shape, self.groups)

    @classmethod
    def from_files(cls, tables: Sequence[PathLike], caches: Sequence[PathLike], groups: Sequence[str]) -> ClipCache:
        """The cache of ``groups`` from the files a rule declares: one index per group and every shard file.

        Checks that the indexes sit in one folder as ``{group}.parquet`` (in ``groups`` order) and
        that ``caches`` are exactly the shard files they name, so the declared inputs are what is read.
        """
        if len(tables) != len(groups):
            raise ValueError(f"need one clip index per age group {list(groups)}: got {len(tables)}: {list(tables)}")
        folder = Path(tables[0]).parent
        for group, table in zip(groups, tables, strict=True):
            if Path(table) != folder / f"{group}.parquet":
                raise ValueError(f"clip index {table} for group {group!r} should be {folder / f'{group}.parquet'}")
        cache = cls(folder, groups)
        check_declared_caches(cache._groups, caches)
        return cache

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

    def get(self, indices: Sequence[int] | np.ndarray, frames: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Clips at global ``indices`` as uint8 ``(B, T, H, W, 3)``, in the order requested.

        ``frames`` selects frames of each clip (``(B, F, H, W, 3)``). Rows are read in sorted order
        (sequential disk access), then put back into the requested order; repeats are allowed.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        sel = _frame_selection(frames, self.clip_shape[0])
        n_sel = self.clip_shape[0] if sel is None else len(sel)
        out = np.empty((len(idx), n_sel, *self.clip_shape[1:]), dtype=np.uint8)
        if len(idx) == 0:
            return out
        if idx.min() < 0 or idx.max() >= len(self):
            bad = idx[(idx < 0) | (idx >= len(self))][:5].tolist()
            raise IndexError(f"clip indices {bad} out of range for a cache of {len(self)} clips")
        order = np.argsort(idx, kind="stable")
        sorted_idx = idx[order]
        group_of = np.searchsorted(self._offsets, sorted_idx, side="right") - 1
        for k in np.unique(group_of):
            sel_k = group_of == k
            out[order[sel_k]] = self._groups[k].read(sorted_idx[sel_k] - self._offsets[k], sel)
        return out


def to_model_batch(clips: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, T, H, W, 3)`` clips -> float32 ``(B, T, C, H, W)``, ``(x / 255 - 0.5) / 0.25``.

    The layout of transformers' VideoMAE ``pixel_values``; normalisation as in the reference
    (docs/algorithms.md §A, "Pixel normalisation").
    """
    x = torch.from_numpy(np.ascontiguousarray(clips)) if isinstance(clips, np.ndarray) else clips
    if x.dtype != torch.uint8 or x.ndim != 5 or x.shape[-1] != 3:
        raise ValueError(f"expected uint8 clips (B, T, H, W, 3), got {x.dtype} {tuple(x.shape)}")
    b, t, h, w, c = x.shape
    # One float buffer, filled by the layout-changing copy and normalised in place: the same
    # arithmetic as ((x / 255 - mean) / std) without four temporaries of the batch's size.
    out = torch.empty((b, t, c, h, w), dtype=torch.float32, device=x.device)
    out.copy_(x.permute(0, 1, 4, 2, 3))
    return out.div_(255.0).sub_(PIXEL_MEAN).div_(PIXEL_STD)
