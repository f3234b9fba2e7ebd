"""Complexity controls (``curricula.<name>.control``): the seed study's complexity-matched and static-frame runs.

The seed study asked whether the youngest group's data helps because it is *simple and slow*: it trained
on the older groups' data restricted to clips as simple as the youngest group's (``MatchedSpatial``), on
single frames (``MatchedTemporal``: no time at all) and on spatially matched single frames
(``MatchedSpatioTemporal``) (``slurmscripts/complexity_control/``, ``pretraining/generative/controls.py``).
Its spatial measure and matching were computed offline and are not in its repository; here:

- the measures are :mod:`devcurriculum.curriculum.complexity`'s edge density (spatial) and motion energy
  (temporal), per clip of data.clip's cache, written once by rule ``measure_complexity``
  (:func:`measure_complexity`, ``results/complexity.parquet``), like the difficulty;
- ``match`` restricts every group's pool except the target's to a subset whose measure has the target
  group's distribution (:func:`match_pool`): the target's values are cut into ``bins`` equal-mass bins
  (quantiles; ``bins x bins`` cells of both measures for ``spatiotemporal``), and the matched pool takes
  from every cell the same multiple ``r`` of the target's count there, drawn at random (``seed``). With
  ``tolerance: 0``, ``r`` is what the scarcest cell allows: the matched pool has the target's mass in
  every cell, its CDF equals the target's at every bin edge and the Kolmogorov-Smirnov distance stays
  below one bin (``1 / bins``) plus the difference of shapes inside a bin. Older groups are rarely as
  simple as the youngest's simplest clips, so that cell can leave a tiny pool: ``tolerance`` (default
  0.05) lets the pool lack up to that share of the target's mass in its scarcest cells for a larger
  ``r`` (a bigger pool; KS then stays below about ``1 / bins + shortfall``). Values outside the
  target's range are never drawn. A cell the group has no clip in cannot be filled at any ``r``: its
  mass is lacking anyway (the tolerance comes on top), is logged as a warning, and the preview's
  ``control_ks`` shows what is left of the match;
- ``frames: static`` feeds every training clip as its first frame repeated (:class:`StaticClips`), so
  nothing moves: the seed study's single-frame runs, in the model's own clip shape.

The target group is ``control.target``, or the first group of ``data.age_groups`` (which the config
check requires to be the youngest). The matched pools are the same for every run seed (the reference's
precomputed lists were too).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from devcurriculum.config import ControlConfig, CurriculumConfig
from devcurriculum.curriculum.complexity import EDGE_THRESHOLD, clip_complexity
from devcurriculum.utils.io import provenance, read_table, table_from_columns, write_table
from devcurriculum.utils.paths import PathLike

__all__ = [
    "COMPLEXITY_SCHEMA",
    "MEASURES",
    "MatchedPool",
    "StaticClips",
    "control_pools",
    "ks_statistic",
    "match_pool",
    "measure_complexity",
    "preview_controls",
    "read_complexity",
    "run_control",
]

log = logging.getLogger("devcurriculum.curriculum.controls")

#: the columns of the complexity table each ``match`` compares
MEASURES: dict[str, tuple[str, ...]] = {
    "spatial": ("spatial",),
    "temporal": ("temporal",),
    "spatiotemporal": ("spatial", "temporal"),
}
#: clips measured per read of the cache (bounded memory: BATCH x T x H x W float32 grey frames)
BATCH = 256

#: ``results/complexity.parquet``: one row per clip of data.clip's cache, in clip-table order
COMPLEXITY_SCHEMA = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("age_group", pa.string(), nullable=False),
        pa.field("spatial", pa.float64(), nullable=False),
        pa.field("temporal", pa.float64(), nullable=False),
    ]
)


def measure_complexity(
    *, clip_tables: Sequence[PathLike], clip_caches: Sequence[PathLike], groups: Sequence[str], out_path: PathLike,
) -> pd.DataFrame:
    """Write ``results/complexity.parquet``: the spatial and temporal complexity of every clip of the cache."""
    from devcurriculum.datasets.clip_dataset import ClipCache

    cache = ClipCache.from_files(clip_tables, clip_caches, groups)
    spatial, temporal = np.empty(len(cache)), np.empty(len(cache))
    for start in range(0, len(cache), BATCH):
        rows = np.arange(start, min(start + BATCH, len(cache)))
        spatial[rows], temporal[rows] = clip_complexity(cache.get(rows))
    out = pd.DataFrame({"clip_id": cache.table["clip_id"].astype(str), "age_group": cache.table["age_group"].astype(str),
                        "spatial": spatial, "temporal": temporal})
    write_table(table_from_columns({c: out[c].tolist() for c in COMPLEXITY_SCHEMA.names}, COMPLEXITY_SCHEMA), out_path,
                metadata=provenance("measure_complexity", {"edge_threshold": EDGE_THRESHOLD},
                                    clip_shape=list(cache.clip_shape)))
    for group, part in out.groupby("age_group", sort=False):
        log.info("complexity of %s (%d clips): spatial median %.4f, temporal median %.3f", group, len(part),
                 float(part["spatial"].median()), float(part["temporal"].median()))
    return out


def read_complexity(path: PathLike, clip_ids: pd.Series) -> pd.DataFrame:
    """The complexity rows of ``clip_ids`` (in that order), joined on clip_id; a clip without one is an error."""
    table = read_table(path, columns=list(COMPLEXITY_SCHEMA.names)).to_pandas().set_index("clip_id")
    missing = ~clip_ids.isin(table.index)
    if missing.any():
        raise ValueError(f"{int(missing.sum())} clip(s) have no complexity in {path}, e.g. "
                         f"{clip_ids[missing].head(3).tolist()} (is it measure_complexity's table of these clips?)")
    return table.loc[clip_ids.to_numpy()].reset_index()


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov distance: the largest gap between the empirical CDFs of ``a`` and ``b``."""
    a, b = np.sort(np.asarray(a, dtype=np.float64)), np.sort(np.asarray(b, dtype=np.float64))
    if a.size == 0 or b.size == 0:
        return float("nan")
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.abs(cdf_a - cdf_b).max())


@dataclass(frozen=True)
class MatchedPool:
    """A matched subset: ``indices`` into the candidates, the multiple ``ratio`` of the target's cell counts it
    aims at, and ``shortfall``, the share of that target mass it lacks (cells with too few or no candidates)."""

    indices: np.ndarray
    ratio: float
    shortfall: float


def _cells(values: np.ndarray, edges: Sequence[np.ndarray], bins: int) -> np.ndarray:
    """The flat cell id of every row (bin of each measure by the target's interior quantile edges)."""
    cell = np.zeros(len(values), dtype=np.int64)
    for j, inner in enumerate(edges):
        cell = cell * bins + np.searchsorted(inner, values[:, j], side="right")
    return cell


def _shortfall(ratio: float, n_target: np.ndarray, n_cand: np.ndarray) -> float:
    """The share of the aimed-at mass ``ratio * n_target`` the candidates cannot supply."""
    wanted = ratio * n_target
    return float(np.maximum(wanted - n_cand, 0.0).sum() / wanted.sum())


def match_pool(
    target: np.ndarray, candidates: np.ndarray, bins: int, rng: np.random.Generator,
    tolerance: float = ControlConfig.tolerance,
) -> MatchedPool:
    """The candidates whose values have the distribution of ``target`` (``(n, d)`` and ``(m, d)`` arrays, d measures).

    Stratified matching (module docstring): cells from ``bins`` equal-mass quantile bins of each target
    measure; the matched pool aims at ``r`` times the target's count of every cell, ``r`` the largest
    ratio at which the candidates lack at most ``tolerance`` of that mass beyond what the cells without
    any candidate lack anyway (``tolerance`` 0: exactly the scarcest covered cell's ratio), and draws
    ``min(floor(r * n_c), m_c)`` candidates of each cell without replacement. Candidates outside the
    target's range are never drawn.
    """
    target = np.asarray(target, dtype=np.float64).reshape(len(target), -1)
    candidates = np.asarray(candidates, dtype=np.float64).reshape(len(candidates), -1)
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance}")
    if len(target) == 0:
        raise ValueError("the target group has no clips to match")
    levels = np.arange(1, bins) / bins
    edges = [np.quantile(target[:, j], levels) for j in range(target.shape[1])]
    inside = np.all((candidates >= target.min(axis=0)) & (candidates <= target.max(axis=0)), axis=1)
    n_cells = bins ** target.shape[1]
    n_target = np.bincount(_cells(target, edges, bins), minlength=n_cells).astype(np.float64)
    cand_cell = _cells(candidates, edges, bins)
    cand_cell[~inside] = -1
    n_cand = np.bincount(cand_cell[inside], minlength=n_cells).astype(np.float64)
    occupied = n_target > 0
    if not (occupied & (n_cand > 0)).any():
        return MatchedPool(np.empty(0, dtype=np.int64), 0.0, 1.0)
    # the shortfall grows with r: bisect for the largest r that lacks at most `tolerance` more than the
    # cells without candidates do (they fall short at any r, by their share of the target)
    n_t, n_c = n_target[occupied], n_cand[occupied]
    lo = float(np.min(n_c[n_c > 0] / n_t[n_c > 0]))
    allowed = _shortfall(lo, n_t, n_c) + tolerance + 1e-12
    hi = float(np.max(n_c / n_t))
    for _ in range(60):
        mid = (lo + hi) / 2
        if _shortfall(mid, n_t, n_c) <= allowed:
            lo = mid
        else:
            hi = mid
    ratio = lo
    chosen = []
    for cell in np.flatnonzero(occupied & (n_cand > 0)):
        members = np.flatnonzero(cand_cell == cell)
        take = min(int(np.floor(ratio * n_target[cell] + 1e-9)), len(members))
        chosen.append(rng.choice(members, size=take, replace=False))
    indices = np.sort(np.concatenate(chosen)).astype(np.int64)
    short = _shortfall(ratio, n_t, n_c)
    return MatchedPool(indices, ratio, short if short > 1e-9 else 0.0)


def control_target(control: ControlConfig, groups: Sequence[str]) -> str:
    """The group a control matches the others to: ``control.target``, else the first of ``groups``."""
    target = control.target if control.target is not None else groups[0]
    if target not in groups:
        raise ValueError(f"control.target {target!r} is not an age group ({list(groups)})")
    return target


def control_pools(
    control: ControlConfig | None, pools: Mapping[str, np.ndarray], complexity: pd.DataFrame | None,
    groups: Sequence[str], *, name: str,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """Each group's pool under ``control`` and, per matched group, what the match did (for logs and the preview).

    ``pools`` map groups to row indices of ``complexity`` (a frame with the :data:`COMPLEXITY_SCHEMA` columns,
    one row per row of the clip cache). Without a ``match`` the pools are returned unchanged. The report
    per group holds ``clips`` (pool size), ``ratio``, ``shortfall`` and ``ks`` (largest KS distance to
    the target over the matched measures; 0 for the target itself).
    """
    out = {g: np.asarray(p, dtype=np.int64) for g, p in pools.items()}
    if control is None or control.match is None:
        return out, {}
    if complexity is None:
        raise ValueError(f"curricula.{name}.control.match needs the complexity table (rule measure_complexity)")
    columns = MEASURES[control.match]
    values = complexity[list(columns)].to_numpy(np.float64)
    target = control_target(control, groups)
    if target not in out:
        raise ValueError(f"curricula.{name}.control.target {target!r} has no pool (groups: {sorted(out)})")
    reference = values[out[target]]
    report: dict[str, dict[str, Any]] = {target: {"clips": len(out[target]), "ratio": 1.0, "shortfall": 0.0, "ks": 0.0}}
    rng = np.random.default_rng(control.seed)
    for group in sorted(out):
        if group == target:
            continue
        matched = match_pool(reference, values[out[group]], control.bins, rng, control.tolerance)
        pool = out[group][matched.indices]
        if len(pool) == 0:
            raise ValueError(
                f"curricula.{name}.control: no clip of group {group} lies in the {control.match} range of the target "
                f"group {target}; it cannot be matched (lower control.bins, or choose another target)"
            )
        ks = max(ks_statistic(values[pool, j], reference[:, j]) for j in range(len(columns)))
        report[group] = {"clips": len(pool), "ratio": matched.ratio, "shortfall": matched.shortfall, "ks": ks}
        if matched.shortfall > control.tolerance + 1e-9:
            log.warning("curricula.%s: group %s lacks %.1f%% of the target's %s distribution, more than control.tolerance "
                        "%.2f: it has no clip in some of the target's bins", name, group, 100 * matched.shortfall,
                        control.match, control.tolerance)
        before = max(ks_statistic(values[out[group], j], reference[:, j]) for j in range(len(columns)))
        log.info("curricula.%s: %s matched to %s on %s: %d of %d clips, KS distance %.3f (unmatched: %.3f)", name, group,
                 target, control.match, len(pool), len(out[group]), ks, before)
        out[group] = pool
    return out, report


def preview_controls(
    control: ControlConfig, stage_groups: Sequence[Sequence[str]], pools: Mapping[str, np.ndarray],
    complexity: pd.DataFrame | None, groups: Sequence[str],
) -> dict[str, list[Any]]:
    """The preview's control columns for buckets drawing from ``stage_groups`` (the pools after :func:`control_pools`).

    ``control_clips``: the clips the bucket's pool holds; ``control_ks``: the largest Kolmogorov-Smirnov
    distance between the pool and the target group on the matched measures (NaN without a match);
    ``static_frames``: whether clips are their first frame repeated.
    """
    columns: dict[str, list[Any]] = {"control_clips": [], "control_ks": [], "static_frames": []}
    cache: dict[tuple[str, ...], tuple[int, float]] = {}
    measures = MEASURES[control.match] if control.match is not None else ()
    reference = None
    if measures and complexity is not None:
        reference = complexity[list(measures)].to_numpy(np.float64)[pools[control_target(control, groups)]]
    for members in stage_groups:
        key = tuple(members)
        if key not in cache:
            pool = np.concatenate([np.asarray(pools[g], dtype=np.int64) for g in key])
            ks = float("nan")
            if reference is not None and complexity is not None:
                values = complexity[list(measures)].to_numpy(np.float64)[pool]
                ks = max(ks_statistic(values[:, j], reference[:, j]) for j in range(len(measures)))
            cache[key] = (len(pool), ks)
        clips, ks = cache[key]
        columns["control_clips"].append(clips)
        columns["control_ks"].append(ks)
        columns["static_frames"].append(control.frames == "static")
    return columns


class StaticClips:
    """A clip source whose clips are their first frame repeated (``control.frames: static``).

    Wraps anything with ``get(indices, frames=None)`` (the clip cache); reads only frame 0 of each clip.
    Every other attribute is the wrapped source's.
    """

    def __init__(self, source: Any) -> None:
        self._source = source

    def get(self, indices: Sequence[int] | np.ndarray, frames: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        first = self._source.get(indices, frames=[0])
        count = self._source.clip_shape[0] if frames is None else len(np.asarray(frames).reshape(-1))
        return np.repeat(first, count, axis=1)

    def __len__(self) -> int:
        return len(self._source)

    def __getattr__(self, name: str) -> Any:
        if name == "_source":  # not set yet (e.g. while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self._source, name)


def run_control(
    curriculum: CurriculumConfig, clip_cache: Any, complexity_path: PathLike | None, groups: Sequence[str], *, name: str,
) -> tuple[dict[str, np.ndarray], Any]:
    """A training run's pools (every group of ``groups``) and clip source under the curriculum's control.

    ``clip_cache`` is the run's :class:`~devcurriculum.datasets.clip_dataset.ClipCache`; its rows are
    joined with the complexity table on clip_id. Without a control: its pools and itself.
    """
    pools = {g: clip_cache.indices_of(g) for g in groups}
    control = curriculum.control
    if control is None:
        return pools, clip_cache
    if control.match is not None:
        if complexity_path is None:
            raise ValueError(f"curricula.{name}.control.match is set: pass the complexity table (--complexity)")
        complexity = read_complexity(complexity_path, clip_cache.table["clip_id"].astype(str))
        pools, _ = control_pools(control, pools, complexity, groups, name=name)
    source = StaticClips(clip_cache) if control.frames == "static" else clip_cache
    if control.frames == "static":
        log.info("curricula.%s: static frames: every training clip is its first frame repeated", name)
    return pools, source
