"""CurriculumSampler: determinism, resume, ranks, pools per stage, weights (chi-square)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import chisquare
from torch.utils.data import Sampler

from devcurriculum.config import CurriculumConfig
from devcurriculum.curriculum import CurriculumPlan, CurriculumSampler, PrototypeSchedule
from devcurriculum.curriculum.pools import load_pools
from devcurriculum.curriculum.sampler import SamplerStepInfo
from devcurriculum.utils.io import write_table

GROUPS = ["g0", "g1", "g2"]
# Global indices: g0 -> 0..9, g1 -> 10..29, g2 -> 30..59 (pools need not be contiguous, but are here).
POOLS = {"g0": np.arange(0, 10), "g1": np.arange(10, 30), "g2": np.arange(30, 60)}
DIFFICULTY = np.random.default_rng(7).random(60)
WEIGHTING = {"kind": "prototypes_first", "initial_fraction": 0.2, "warmup_fraction": 0.5}


def plan(order: object = GROUPS, steps: int = 20, **extra: object) -> CurriculumPlan:
    """The plan of ``curricula.t`` with ``order`` and any other keys (e.g. ``weighting``)."""
    curriculum = CurriculumConfig.from_mapping({"order": order, **extra}, where="curricula.t")
    return CurriculumPlan.from_config(name="t", curriculum=curriculum, groups=GROUPS, steps_per_stage=steps)


def test_is_a_batch_sampler_over_all_steps() -> None:
    s = CurriculumSampler(plan(), POOLS, batch_size=4, seed=0)
    assert isinstance(s, Sampler)
    batches = list(s)
    assert len(batches) == 60 and all(len(b) == 4 for b in batches)
    assert all(isinstance(i, int) for i in batches[0])


def test_pools_switch_at_stage_boundaries() -> None:
    s = CurriculumSampler(plan(["g2", "g0", "g1"]), POOLS, batch_size=5, seed=1)
    batches = list(s)
    for step, batch in enumerate(batches):
        group = ["g2", "g0", "g1"][step // 20]
        assert set(batch) <= set(POOLS[group].tolist()), step
    assert s.info(19).pool == ("g2",) and s.info(20).pool == ("g0",) and s.info(20).stage == 1
    assert isinstance(s.info(0), SamplerStepInfo)


def test_mixed_pools_every_group() -> None:
    s = CurriculumSampler(plan("mixed"), POOLS, batch_size=8, seed=2)
    seen = np.concatenate([np.array(b) for b in s])
    assert len(s.plan.stages) == 1 and s.plan.total_steps == 60
    assert {0, 1, 2} == set(np.searchsorted([10, 30], seen, side="right"))


def test_uniform_draws_without_replacement_within_a_step() -> None:
    s = CurriculumSampler(plan(), POOLS, batch_size=10, seed=3)
    for step in range(20):
        assert len(set(s.batch(step))) == 10  # g0 has exactly 10 clips: a permutation


def test_resume_equals_uninterrupted() -> None:
    kwargs = dict(batch_size=3, seed=11, difficulty=DIFFICULTY, bucket_steps=4)
    weighted = plan(weighting=WEIGHTING)
    full = list(CurriculumSampler(weighted, POOLS, **kwargs))
    first = CurriculumSampler(weighted, POOLS, **kwargs)
    head = []
    for batch in first:
        head.append(batch)
        if len(head) == 27:
            break
    state = first.state_dict()
    assert state == {"step": 27}
    resumed = CurriculumSampler(weighted, POOLS, **kwargs)
    resumed.load_state_dict(state)
    assert len(resumed) == 33
    assert head + list(resumed) == full
    assert list(CurriculumSampler(weighted, POOLS, start_step=27, **kwargs)) == full[27:]


def test_ranks_get_disjoint_slices_of_one_global_batch() -> None:
    # batch_size is the global batch: 2 ranks take 4 each of the 8 one process draws
    kwargs = dict(seed=5, difficulty=DIFFICULTY, bucket_steps=10)
    mixed = plan("mixed", weighting=WEIGHTING)
    ranks = [list(CurriculumSampler(mixed, POOLS, batch_size=8, rank=r, world_size=2, **kwargs)) for r in range(2)]
    single = list(CurriculumSampler(mixed, POOLS, batch_size=8, **kwargs))
    assert all(len(batch) == 4 for batch in ranks[0] + ranks[1])
    assert any(a != b for a, b in zip(ranks[0], ranks[1]))
    for step in range(60):
        assert ranks[0][step] + ranks[1][step] == single[step]
    # Uniform pools: ranks never share a clip within a step.
    uni = [CurriculumSampler(plan(), POOLS, batch_size=8, seed=5, rank=r, world_size=2) for r in range(2)]
    for step in range(60):
        assert set(uni[0].batch(step)).isdisjoint(uni[1].batch(step))


def test_world_size_must_divide_the_global_batch() -> None:
    with pytest.raises(ValueError, match=r"pretrain.batch_size: the global batch 6 must be divisible by the 4 processes"):
        CurriculumSampler(plan(), POOLS, batch_size=6, seed=0, rank=0, world_size=4)


def test_weighted_frequencies_match_weights_chisquare() -> None:
    # One long bucket inside a long warm-up: the weights are fixed for every step drawn.
    weighting = {"kind": "prototypes_first", "initial_fraction": 0.4, "warmup_fraction": 1.0}
    p = plan(["g1"], steps=4000, weighting=weighting)
    s = CurriculumSampler(p, POOLS, batch_size=16, seed=0, difficulty=DIFFICULTY, bucket_steps=4000)
    counts = np.bincount(np.concatenate([s.batch(step) for step in range(2000)]) - 10, minlength=20)
    weights = PrototypeSchedule(DIFFICULTY[10:30], 0.4, 4000).weights(0)
    expected = weights * counts.sum()
    assert expected.min() > 5  # chi-square's validity condition
    assert chisquare(counts, expected).pvalue > 0.001
    # Easy (low-difficulty) clips are drawn more often than hard ones.
    assert counts[np.argmin(DIFFICULTY[10:30])] > counts[np.argmax(DIFFICULTY[10:30])]


def test_weighting_runs_within_each_stage_then_uniform() -> None:
    s = CurriculumSampler(plan(weighting=WEIGHTING), POOLS, batch_size=2, seed=0, difficulty=DIFFICULTY, bucket_steps=5)
    first, second = s.info(0), s.info(20)
    assert first.stage == 0 and second.stage == 1
    assert abs(first.effective_fraction - 0.2) < 1e-4 and abs(second.effective_fraction - 0.2) < 1e-4
    assert s.info(3).temperature == first.temperature  # same bucket
    assert math.isinf(s.info(10).temperature)  # warm-up = 0.5 * 20 steps
    assert s.info(10).effective_fraction == pytest.approx(1 - 0.9**10)
    unweighted = CurriculumSampler(plan(), POOLS, batch_size=2, seed=0).info(0)
    assert math.isnan(unweighted.temperature)
    # kind: uniform is unweighted sampling (needs no difficulty)
    uniform = CurriculumSampler(plan(weighting={"kind": "uniform"}), POOLS, batch_size=2, seed=0)
    assert math.isnan(uniform.info(0).temperature) and uniform.batch(0) == CurriculumSampler(plan(), POOLS, batch_size=2, seed=0).batch(0)


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="weighting block but no difficulty"):
        CurriculumSampler(plan(weighting=WEIGHTING), POOLS, batch_size=2, seed=0)
    with pytest.raises(KeyError, match="needs age group 'g2'"):
        CurriculumSampler(plan(), {"g0": POOLS["g0"], "g1": POOLS["g1"]}, batch_size=2, seed=0)
    with pytest.raises(ValueError, match="covering every pool index"):
        CurriculumSampler(plan(weighting=WEIGHTING), POOLS, batch_size=2, seed=0, difficulty=DIFFICULTY[:40])
    with pytest.raises(ValueError, match="rank 2 out of range"):
        CurriculumSampler(plan(), POOLS, batch_size=2, seed=0, rank=2, world_size=2)


def test_load_pools_joins_difficulty(tmp_path) -> None:
    tables = []
    for g, ids in (("g0", ["a", "b"]), ("g1", ["c", "d", "e"])):
        path = tmp_path / f"{g}.parquet"
        write_table(pa.table({"clip_id": ids, "age_group": [g] * len(ids)}), path)
        tables.append(path)
    diff = tmp_path / "d.parquet"
    write_table(pa.table({"clip_id": ["e", "d", "c", "b", "a"], "difficulty": [0.5, 0.4, 0.3, 0.2, 0.1]}), diff)
    pools, difficulty = load_pools(tables, diff)
    assert {k: v.tolist() for k, v in pools.items()} == {"g0": [0, 1], "g1": [2, 3, 4]}
    np.testing.assert_allclose(difficulty, [0.1, 0.2, 0.3, 0.4, 0.5])
    write_table(pa.table({"clip_id": ["a"], "difficulty": [0.1]}), diff)
    with pytest.raises(ValueError, match=r"4 clip\(s\) have no difficulty"):
        load_pools(tables, diff)
    assert load_pools(tables)[1] is None


def test_zero_weight_samples_are_never_drawn() -> None:
    # Five prototypes and five clips whose weight underflows to exactly 0 (tau pinned at 1e-6).
    difficulty = np.array([0.0] * 5 + [1.0] * 5)
    weighting = {"kind": "prototypes_first", "initial_fraction": 0.1, "warmup_fraction": 1.0}
    p = plan(["g0"], steps=50, weighting=weighting)
    s = CurriculumSampler(p, {"g0": np.arange(10)}, batch_size=64, seed=0, difficulty=difficulty, bucket_steps=10)
    drawn = np.concatenate([s.batch(step) for step in range(10)])
    assert set(drawn.tolist()) == {0, 1, 2, 3, 4}
