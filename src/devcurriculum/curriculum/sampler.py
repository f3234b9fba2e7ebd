"""A batch sampler that follows a curriculum: the stage's pool, optionally prototype-weighted.

Determinism contract (what resume and DDP rely on): the GLOBAL batch of ``step`` (``batch_size`` pool
positions, ``pretrain.batch_size``) is drawn from a generator seeded by ``(seed, step)`` only, and rank
r of W takes the slice ``[r * batch_size / W, (r + 1) * batch_size / W)``. So ranks get disjoint
slices of the same global draw, a resumed run replays the exact sequence from any step, and the
experiment does not depend on the number of processes.

Cost per step is O(batch log N): the cumulative weight table of a bucket is built once (the
schedule solves tau once per bucket) and draws use ``searchsorted``. Uniform pools draw without
replacement within a step (with replacement only if the global batch exceeds the pool).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from torch.utils.data import Sampler

from devcurriculum.config import PretrainConfig
from devcurriculum.curriculum.plan import CurriculumPlan, Stage, resolve_bucket_steps
from devcurriculum.curriculum.prototype import PrototypeSchedule, uniform_effective_fraction

log = logging.getLogger("devcurriculum.curriculum.sampler")


def rank_share(batch_size: int, world_size: int) -> int:
    """Each of ``world_size`` processes' share of the global batch (``pretrain.batch_size``)."""
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if batch_size % world_size:
        raise ValueError(
            f"pretrain.batch_size: the global batch {batch_size} must be divisible by the {world_size} "
            "processes (each takes an equal share)"
        )
    return batch_size // world_size


def all_stage_rows(*restrictions: Callable[[int], np.ndarray] | None) -> Callable[[int], np.ndarray] | None:
    """One ``stage_rows`` from several (None entries skipped): block k may draw a row only where all of them allow it.

    E.g. the pairs of a block's gap (frame pairs across a video) and the fold it trains on (``seed_folds``).
    """
    given = [r for r in restrictions if r is not None]
    if not given:
        return None
    if len(given) == 1:
        return given[0]

    def rows(block: int) -> np.ndarray:
        mask = np.asarray(given[0](block), dtype=bool)
        for restriction in given[1:]:
            mask = mask & np.asarray(restriction(block), dtype=bool)
        return mask

    return rows


@dataclass(frozen=True)
class SamplerStepInfo:
    """What the sampler does at one step (logged per step, handed to the objective).

    ``temperature`` is NaN when sampling is unweighted and inf after the weighting's warm-up.
    """

    stage: int
    pool: tuple[str, ...]
    temperature: float
    effective_fraction: float


class CurriculumSampler(Sampler[list[int]]):
    """Yields this rank's list of global indices per step, from ``start_step`` to the end.

    ``batch_size`` is the global batch (over all ``world_size`` processes); each rank yields its
    ``batch_size / world_size`` share. ``pools`` maps each age group to the global indices of its
    samples; a stage's pool is the concatenation of its groups' pools in stage order, restricted, when
    ``stage_rows`` is given, to the rows where ``stage_rows(k)`` (a boolean mask over global indices) is
    true, ``k = step // block_steps`` the index of the step's block of ``block_steps`` steps (without
    ``block_steps``: the stage's index). Frame pairs draw over the anchors of the block's gap: with
    ``block_steps = pretrain.steps_per_stage`` block k is stage k of an ordered curriculum and the k-th
    share of a ``mixed`` run's one stage (as ``lr_stage_factors``). ``stage_rows`` cannot be combined
    with a prototype weighting (its schedule is solved on the stage's pool). When the plan
    has a (non-uniform) ``weighting`` block, a :class:`PrototypeSchedule` runs within each stage on
    the pool's ``difficulty``, with a warm-up of ``round(warmup_fraction * stage length)`` steps
    counted from the stage's first step, its temperature solved once per ``bucket_steps`` (see
    :func:`~devcurriculum.curriculum.plan.resolve_bucket_steps`).

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
        bucket_steps: int | Literal["auto"] = PretrainConfig.bucket_steps,
        start_step: int = 0,
        stage_rows: Callable[[int], np.ndarray] | None = None,
        block_steps: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} out of range for world_size {world_size}")
        self.plan = plan
        self.batch_size = int(batch_size)
        self.rank_batch = rank_share(self.batch_size, world_size)
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.bucket_steps = resolve_bucket_steps(bucket_steps, plan)
        if block_steps is not None and block_steps < 1:
            raise ValueError(f"block_steps must be positive, got {block_steps}")
        if stage_rows is not None and plan.prototype_weighting is not None:
            raise ValueError(f"curriculum {plan.name!r}: stage_rows (frame pairs by gap) cannot run with a prototype "
                             "weighting")
        self._stage_rows = stage_rows
        self._block_steps = block_steps
        self._stage_pools = [self._stage_pool(stage, pools) for stage in plan.stages]
        self._block_pools = {key: self._block_pool(key) for key in self._blocks()} if stage_rows is not None else {}
        self._difficulty = self._check_difficulty(difficulty)
        self._schedules: dict[int, PrototypeSchedule] = {}
        self._cdf_key: tuple[int, int] | None = None
        self._cdf: np.ndarray | None = None
        self._cdf_last = 0
        self._step = 0
        self.set_step(start_step)

    def _check_difficulty(self, difficulty: np.ndarray | None) -> np.ndarray | None:
        """The difficulty as float64 when the plan is weighted (it must cover every pool index)."""
        if self.plan.prototype_weighting is None:
            return None
        if difficulty is None:
            raise ValueError(f"curriculum {self.plan.name!r} has a weighting block but no difficulty was given")
        values = np.asarray(difficulty, dtype=np.float64)
        largest = max(int(p.max()) for p in self._stage_pools)
        if values.ndim != 1 or len(values) <= largest:
            raise ValueError(
                f"difficulty must be a 1-D array covering every pool index (max index {largest}), "
                f"got shape {values.shape}"
            )
        return values

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

    def _block(self, stage: Stage, step: int) -> int:
        """The index of ``step``'s block (the stage's index without ``block_steps``)."""
        return stage.index if self._block_steps is None else step // self._block_steps

    def _blocks(self) -> list[tuple[int, int]]:
        """Every ``(stage index, block index)`` the run steps through, in order."""
        keys: dict[tuple[int, int], None] = {}
        for stage in self.plan.stages:
            if self._block_steps is None:
                keys[(stage.index, stage.index)] = None
                continue
            for block in range(stage.start // self._block_steps, (stage.stop - 1) // self._block_steps + 1):
                keys[(stage.index, block)] = None
        return list(keys)

    def _block_pool(self, key: tuple[int, int]) -> np.ndarray:
        """The stage's pool restricted to the rows ``stage_rows(block)`` allows."""
        stage_index, block = key
        assert self._stage_rows is not None
        pool = self._stage_pools[stage_index]
        pool = pool[np.asarray(self._stage_rows(block), dtype=bool)[pool]]
        if len(pool) == 0:
            stage = self.plan.stages[stage_index]
            raise ValueError(
                f"curriculum {self.plan.name!r} stage {stage_index} ({list(stage.groups)}) block {block} has an empty "
                "pool of the rows it may draw (stage_rows)"
            )
        return pool

    def pool_at(self, step: int) -> np.ndarray:
        """The global indices ``step`` draws from: its stage's pool, or its block's (``stage_rows``)."""
        stage = self.plan.stage_at(step)
        if self._stage_rows is None:
            return self._stage_pools[stage.index]
        return self._block_pools[(stage.index, self._block(stage, step))]

    def schedule(self, stage: Stage) -> PrototypeSchedule | None:
        """The stage's prototype schedule (built on first use), or None when sampling is uniform."""
        weighting = self.plan.prototype_weighting
        if weighting is None:
            return None
        schedule = self._schedules.get(stage.index)
        if schedule is None:
            assert self._difficulty is not None
            schedule = PrototypeSchedule(
                self._difficulty[self._stage_pools[stage.index]],
                initial_fraction=weighting.initial_fraction,
                warmup_steps=round(weighting.warmup_fraction * stage.length),
                kind=weighting.kind,
                bucket_steps=self.bucket_steps,
            )
            self._schedules[stage.index] = schedule
        return schedule

    def _cumulative(self, stage: Stage, schedule: PrototypeSchedule, local_step: int) -> tuple[np.ndarray, int]:
        """The bucket's unnormalised cumulative weights and the last index that has positive weight."""
        key = (stage.index, schedule.bucket_start(local_step))
        if self._cdf_key != key or self._cdf is None:
            # the previous bucket's table is no longer needed: its memory takes the new one
            reuse = self._cdf if self._cdf is not None and len(self._cdf) == schedule.n else None
            cdf = schedule.cumulative_weights(local_step, out=reuse)
            self._cdf = cdf
            self._cdf_last = int(np.searchsorted(cdf, cdf[-1], side="left"))
            self._cdf_key = key
        return self._cdf, self._cdf_last

    # -- drawing -------------------------------------------------------------------------------

    def global_batch(self, step: int) -> np.ndarray:
        """The ``batch_size`` global indices of ``step`` (identical on every rank)."""
        stage = self.plan.stage_at(step)
        pool = self.pool_at(step)
        n_draw = self.batch_size
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
        """This rank's ``batch_size / world_size`` global indices at ``step``."""
        start = self.rank * self.rank_batch
        return self.global_batch(step)[start : start + self.rank_batch].tolist()

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

    def info(self, step: int) -> SamplerStepInfo:
        """Stage, pool, temperature and effective fraction at ``step``."""
        stage = self.plan.stage_at(step)
        schedule = self.schedule(stage)
        if schedule is None:
            temperature = math.nan
            fraction = uniform_effective_fraction(len(self.pool_at(step)))
        else:
            local_step = step - stage.start
            temperature = schedule.temperature(local_step)
            fraction = schedule.effective_fraction(local_step)
        return SamplerStepInfo(stage.index, stage.groups, float(temperature), float(fraction))
