"""A batch sampler that follows a curriculum: the stage's pool, optionally prototype-weighted.

Determinism contract (what resume and DDP rely on): the GLOBAL batch of ``step`` (``batch_size *
world_size`` pool positions) is drawn from a generator seeded by ``(seed, step)`` only, and rank r
takes the slice ``[r * batch_size, (r + 1) * batch_size)``. So ranks get disjoint slices of the same
global draw, a resumed run replays the exact sequence from any step, and one process with
``batch_size * world_size`` sees the same global batch as ``world_size`` processes.

Cost per step is O(batch log N): the cumulative weight table of a bucket is built once (the
schedule solves tau once per bucket) and draws use ``searchsorted``. Uniform pools draw without
replacement within a step (with replacement only if the global batch exceeds the pool).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch
from torch.utils.data import Sampler

from devcurriculum.curriculum.plan import CurriculumPlan, Stage
from devcurriculum.curriculum.prototype import KINDS, PrototypeSchedule, uniform_effective_fraction

log = logging.getLogger("devcurriculum.curriculum.sampler")


def _weighting_kind(weighting: Mapping[str, Any] | None) -> str | None:
    """The prototype kind of a ``weighting`` block, or None for uniform sampling."""
    if weighting is None:
        return None
    kind = weighting.get("kind", "prototypes_first")
    if kind == "uniform":
        return None
    if kind not in KINDS:
        raise ValueError(f"weighting.kind must be one of {[*KINDS, 'uniform']}, got {kind!r}")
    return str(kind)


class CurriculumSampler(Sampler[list[int]]):
    """Yields one list of ``batch_size`` global indices per step, from ``start_step`` to the end.

    ``pools`` maps each age group to the global indices of its samples; a stage's pool is the
    concatenation of its groups' pools in stage order. With ``weighting`` (a curriculum's
    ``weighting:`` block: kind, initial_fraction, warmup_fraction) a :class:`PrototypeSchedule`
    runs within each stage on the pool's difficulties, with a warm-up of
    ``round(warmup_fraction * stage length)`` steps counted from the stage's first step.

    Use it as ``DataLoader(dataset, batch_sampler=sampler)``. The DataLoader iterates ahead of
    training (prefetch), so a training loop should checkpoint its own step and call
    :meth:`set_step` on resume; :meth:`state_dict` reports the next step this sampler will yield.
    """

    def __init__(
        self,
        plan: CurriculumPlan,
        pools: Mapping[str, np.ndarray],
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        difficulty: np.ndarray | None = None,
        weighting: Mapping[str, Any] | None = None,
        bucket_steps: int = 10,
        start_step: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} out of range for world_size {world_size}")
        if bucket_steps < 1:
            raise ValueError(f"bucket_steps must be positive, got {bucket_steps}")
        self.plan = plan
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.bucket_steps = int(bucket_steps)
        self.weighting = dict(weighting) if weighting is not None else None
        self._kind = _weighting_kind(weighting)
        self._stage_pools = [self._stage_pool(stage, pools) for stage in plan.stages]
        self._difficulty: np.ndarray | None = None
        if self._kind is not None:
            if difficulty is None:
                raise ValueError(f"curriculum {plan.name!r} has a weighting block but no difficulty was given")
            self._difficulty = np.asarray(difficulty, dtype=np.float64)
            largest = max(int(p.max()) for p in self._stage_pools)
            if self._difficulty.ndim != 1 or len(self._difficulty) <= largest:
                raise ValueError(
                    f"difficulty must be a 1-D array covering every pool index (max index {largest}), "
                    f"got shape {self._difficulty.shape}"
                )
        self._schedules: dict[int, PrototypeSchedule] = {}
        self._cdf_key: tuple[int, int] | None = None
        self._cdf: np.ndarray | None = None
        self._cdf_last = 0
        self._step = 0
        self.set_step(start_step)

    # -- pools and schedules -------------------------------------------------------------------

    def _stage_pool(self, stage: Stage, pools: Mapping[str, np.ndarray]) -> np.ndarray:
        parts = []
        for group in stage.groups:
            if group not in pools:
                raise KeyError(f"curriculum {self.plan.name!r} stage {stage.index} needs age group {group!r}, "
                               f"but pools only has {sorted(pools)}")
            part = np.asarray(pools[group], dtype=np.int64).reshape(-1)
            if (part < 0).any():
                raise ValueError(f"pool of age group {group!r} contains negative indices")
            parts.append(part)
        pool = np.concatenate(parts)
        if len(pool) == 0:
            raise ValueError(f"curriculum {self.plan.name!r} stage {stage.index} ({list(stage.groups)}) has an empty pool")
        return pool

    def schedule(self, stage: Stage) -> PrototypeSchedule | None:
        """The stage's prototype schedule (built on first use), or None when sampling is uniform."""
        if self._kind is None:
            return None
        schedule = self._schedules.get(stage.index)
        if schedule is None:
            assert self.weighting is not None and self._difficulty is not None
            warmup = round(float(self.weighting.get("warmup_fraction", 0.5)) * stage.length)
            schedule = PrototypeSchedule(
                self._difficulty[self._stage_pools[stage.index]],
                initial_fraction=float(self.weighting.get("initial_fraction", 0.2)),
                warmup_steps=warmup,
                kind=self._kind,
                bucket_steps=self.bucket_steps,
            )
            self._schedules[stage.index] = schedule
        return schedule

    def _cumulative(self, stage: Stage, schedule: PrototypeSchedule, local_step: int) -> tuple[np.ndarray, int]:
        """The bucket's unnormalised cumulative weights and the last index that has positive weight."""
        key = (stage.index, schedule.bucket_start(local_step))
        if self._cdf_key != key or self._cdf is None:
            cdf = schedule.unnormalized_weights(local_step)
            # In place; torch's float64 prefix sum is several times faster than numpy's here.
            buffer = torch.from_numpy(cdf)
            torch.cumsum(buffer, 0, out=buffer)
            self._cdf = cdf
            self._cdf_last = int(np.searchsorted(cdf, cdf[-1], side="left"))
            self._cdf_key = key
        return self._cdf, self._cdf_last

    # -- drawing -------------------------------------------------------------------------------

    def global_batch(self, step: int) -> np.ndarray:
        """The ``batch_size * world_size`` global indices of ``step`` (identical on every rank)."""
        stage = self.plan.stage_at(step)
        pool = self._stage_pools[stage.index]
        n_draw = self.batch_size * self.world_size
        rng = np.random.default_rng([self.seed, step])
        local_step = step - stage.start
        schedule = self.schedule(stage)
        if schedule is not None and schedule.in_warmup(local_step):
            cdf, last = self._cumulative(stage, schedule, local_step)
            positions = np.searchsorted(cdf, rng.random(n_draw) * cdf[-1], side="right")
            # u * total can round onto the total: map that onto the last sample with positive weight.
            np.minimum(positions, last, out=positions)
        elif n_draw <= len(pool):
            positions = rng.choice(len(pool), size=n_draw, replace=False)
        else:
            positions = rng.integers(0, len(pool), size=n_draw)
        return pool[positions]

    def batch(self, step: int) -> list[int]:
        """This rank's ``batch_size`` global indices at ``step``."""
        start = self.rank * self.batch_size
        return self.global_batch(step)[start : start + self.batch_size].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        while self._step < self.plan.total_steps:
            step = self._step
            self._step += 1
            yield self.batch(step)

    def __len__(self) -> int:
        return self.plan.total_steps - self._step

    # -- state and logging ---------------------------------------------------------------------

    def set_step(self, step: int) -> None:
        if not 0 <= step <= self.plan.total_steps:
            raise ValueError(f"step {step} is outside 0..{self.plan.total_steps} of curriculum {self.plan.name!r}")
        self._step = int(step)

    def state_dict(self) -> dict[str, int]:
        return {"step": self._step}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "step" not in state:
            raise KeyError("sampler state has no 'step'")
        self.set_step(int(state["step"]))

    def info(self, step: int) -> dict[str, Any]:
        """stage, pool (group names), temperature (NaN if unweighted, inf after warm-up), effective_fraction."""
        stage = self.plan.stage_at(step)
        schedule = self.schedule(stage)
        if schedule is None:
            temperature = math.nan
            fraction = uniform_effective_fraction(len(self._stage_pools[stage.index]))
        else:
            local_step = step - stage.start
            temperature = schedule.temperature(local_step)
            fraction = schedule.effective_fraction(local_step)
        return {
            "stage": stage.index,
            "pool": list(stage.groups),
            "temperature": float(temperature),
            "effective_fraction": float(fraction),
        }


def load_pools(
    clip_tables: Sequence[str | os.PathLike[str]],
    difficulty_path: str | os.PathLike[str] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Pools and difficulties from the clip tables, in the global index the sampler yields.

    Global index ``i`` is row ``i`` of the clip tables concatenated in the order given (the order
    a training dataset must use too). Pools group the rows by their ``age_group`` column. With
    ``difficulty_path`` the difficulty table is joined on ``clip_id``; a clip without a difficulty
    is an error naming it.
    """
    frames = []
    for path in clip_tables:
        names = pq.read_schema(path).names
        missing = [c for c in ("clip_id", "age_group") if c not in names]
        if missing:
            raise KeyError(f"clip table {path} has no column(s) {missing}")
        frames.append(pq.read_table(path, columns=["clip_id", "age_group"]).to_pandas())
    if not frames:
        raise ValueError("no clip tables given")
    clips = pd.concat(frames, ignore_index=True)
    groups = clips["age_group"].astype(str).to_numpy()
    pools = {str(g): np.flatnonzero(groups == g) for g in pd.unique(groups)}
    if difficulty_path is None:
        return pools, None
    table = pq.read_table(difficulty_path, columns=["clip_id", "difficulty"]).to_pandas()
    if table["clip_id"].duplicated().any():
        raise ValueError(f"difficulty table {difficulty_path} repeats clip_id(s)")
    lookup = pd.Series(table["difficulty"].to_numpy(), index=table["clip_id"])
    difficulty = lookup.reindex(clips["clip_id"]).to_numpy(dtype=np.float64)
    absent = np.isnan(difficulty)
    if absent.any():
        raise ValueError(
            f"{int(absent.sum())} clip(s) have no difficulty in {difficulty_path}, e.g. "
            f"{clips.loc[absent, 'clip_id'].head(5).tolist()}"
        )
    return pools, difficulty
