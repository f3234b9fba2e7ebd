"""Prototype weights and their schedule: every reference value of docs/algorithms.md §B, and properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devcurriculum.curriculum import PrototypeSchedule, effective_fraction
from devcurriculum.curriculum.prototype import (
    R_MAX,
    effective_fraction_of_weights,
    sample_weights,
    uniform_effective_fraction,
)

D_REF = np.array([0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.75, 0.9, 1.0])


@pytest.mark.parametrize(
    ("tau", "expected"),
    [(0.01, 0.106540), (0.1, 0.354892), (0.2, 0.458390), (0.5, 0.585918), (1.0, 0.631130), (10.0, 0.651094)],
)
def test_reference_effective_fractions(tau: float, expected: float) -> None:
    assert effective_fraction(D_REF, tau) == pytest.approx(expected, abs=1e-5)


def test_reference_schedule_at_start() -> None:
    s = PrototypeSchedule(D_REF, initial_fraction=0.2, warmup_steps=100)
    assert s.target(0) == 0.2
    assert s.temperature(0) == pytest.approx(0.02807717, rel=1e-3)
    w = s.weights(0)
    ref = np.array([0.83492, 0.14069, 0.023706, 6.7308e-4, 1.9111e-5])
    np.testing.assert_allclose(w[:5], ref, rtol=1e-2)
    assert abs(s.effective_fraction(0) - 0.2) < 1e-4


def test_reference_schedule_end_of_warmup() -> None:
    s = PrototypeSchedule(D_REF, initial_fraction=0.2, warmup_steps=100)
    assert s.target(99) == pytest.approx(0.627799, abs=1e-6)
    assert s.temperature(99) == pytest.approx(0.91797, rel=1e-3)
    assert s.weights(99)[0] == pytest.approx(0.150258, rel=1e-2)
    for step in (100, 101, 5000):
        np.testing.assert_array_equal(s.weights(step), np.full(10, 0.1))
        assert math.isinf(s.temperature(step))
        assert s.effective_fraction(step) == pytest.approx(1 - 0.9**10, rel=1e-12)


def test_float64_uniform_fraction_at_imagenet_size() -> None:
    # The reference's float32 gives 0.629435 at N = 1.28 M; float64 gets the exact value.
    n = 1_281_167
    exact = -math.expm1(n * math.log1p(-1.0 / n))
    assert uniform_effective_fraction(n) == pytest.approx(exact, rel=1e-12)
    assert uniform_effective_fraction(n) == pytest.approx(R_MAX, abs=1e-6)
    assert effective_fraction_of_weights(np.ones(n)) == pytest.approx(exact, rel=1e-9)


def test_hard_first_is_the_mirror() -> None:
    w = sample_weights(D_REF, 0.1, kind="hard_first")
    np.testing.assert_allclose(w, sample_weights(1.0 - D_REF, 0.1))
    assert w.argmax() == len(D_REF) - 1
    s = PrototypeSchedule(D_REF, 0.2, 100, kind="hard_first")
    assert s.weights(0).argmax() == 9
    assert abs(s.effective_fraction(0) - 0.2) < 1e-4


def test_validation_and_clamping(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match="initial_fraction must be at least 0.1"):
        PrototypeSchedule(D_REF, 0.05, 100)
    with pytest.raises(ValueError, match="weighting kind"):
        PrototypeSchedule(D_REF, 0.2, 100, kind="easy")
    with pytest.raises(ValueError, match="step must be non-negative"):
        PrototypeSchedule(D_REF, 0.2, 100).temperature(-1)
    clamped = PrototypeSchedule(D_REF, 0.9, 100)
    assert "clamped" in caplog.text
    assert clamped.target(0) == pytest.approx(R_MAX)


def test_buckets_hold_temperature_and_cache() -> None:
    s = PrototypeSchedule(D_REF, 0.2, 100, bucket_steps=10)
    assert s.temperature(13) == s.temperature(10) == s.temperature(19)
    assert s.temperature(20) != s.temperature(19)
    # The solved temperature is the one of the bucket's first step.
    plain = PrototypeSchedule(D_REF, 0.2, 100)
    assert s.temperature(37) == plain.temperature(30)
    before = s.evaluations
    s.temperature(35)
    assert s.evaluations == before  # cached


def test_memoised_bisection_equals_fresh_bisection() -> None:
    rng = np.random.default_rng(0)
    d = rng.random(500)
    shared = PrototypeSchedule(d, 0.2, 1000)
    for step in range(0, 1000, 37):
        assert shared.temperature(step) == PrototypeSchedule(d, 0.2, 1000).temperature(step)


def test_degenerate_pools() -> None:
    one = PrototypeSchedule(np.array([0.3]), 0.2, 10)
    np.testing.assert_array_equal(one.weights(0), [1.0])
    flat = PrototypeSchedule(np.full(7, 0.5), 0.2, 10)
    np.testing.assert_allclose(flat.weights(3), np.full(7, 1 / 7))


difficulties = st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=60).map(np.array)


@settings(max_examples=40, deadline=None)
@given(d=difficulties, tau=st.floats(1e-3, 20), kind=st.sampled_from(["prototypes_first", "hard_first"]))
def test_weights_sum_to_one(d: np.ndarray, tau: float, kind: str) -> None:
    w = sample_weights(d, tau, kind)
    assert w.dtype == np.float64
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert (w >= 0).all()


@settings(max_examples=40, deadline=None)
@given(d=difficulties, taus=st.lists(st.floats(1e-3, 20), min_size=2, max_size=6, unique=True))
def test_fraction_rises_with_temperature(d: np.ndarray, taus: list[float]) -> None:
    r = [effective_fraction(d, t) for t in sorted(taus)]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(r))


@settings(max_examples=25, deadline=None)
@given(
    d=st.lists(st.floats(0, 1, allow_nan=False), min_size=20, max_size=200).map(np.array),
    r0=st.floats(0.15, 0.5),
    warmup=st.integers(5, 60),
)
def test_fraction_rises_with_step_then_uniform(d: np.ndarray, r0: float, warmup: int) -> None:
    s = PrototypeSchedule(d, r0, warmup)
    targets = [s.target(t) for t in range(warmup)]
    assert all(b > a for a, b in itertools.pairwise(targets))
    reachable = effective_fraction(d, 1e-6) <= r0 and effective_fraction(d, 10.0) >= targets[-1]
    if reachable:
        fractions = [s.effective_fraction(t) for t in range(warmup)]
        assert all(abs(f - t) < 1e-4 for f, t in zip(fractions, targets))
        # Bisection stops within 1e-4 of each target: r rises between steps whose targets differ by more.
        spaced = [t for t in range(0, warmup, max(1, math.ceil(2e-4 / (targets[1] - targets[0]))))]
        values = [fractions[t] for t in spaced]
        assert all(b > a for a, b in itertools.pairwise(values))
    for t in (warmup, warmup + 3):
        np.testing.assert_allclose(s.weights(t), np.full(len(d), 1 / len(d)))


@pytest.mark.parametrize("kind", ["prototypes_first", "hard_first"])
def test_series_form_of_r_equals_the_expm1_form_for_large_pools(kind: str) -> None:
    """Above SERIES_MIN_N the bisection's r(tau) uses log1p's series: within 0.45 / N^2 of -expm1(N log1p(-p))."""
    from devcurriculum.curriculum.prototype import SERIES_MIN_N, _energies, _FractionCurve

    rng = np.random.default_rng(3)
    d = np.concatenate([rng.random(SERIES_MIN_N), np.zeros(3), rng.beta(0.3, 3.0, 40_000)])
    curve = _FractionCurve(_energies(d, kind))
    for tau in (1e-6, 1e-4, 0.003, 0.03, 0.2, 1.0, 10.0):
        assert curve(tau) == pytest.approx(effective_fraction(d, tau, kind), abs=0.45 / len(d) ** 2), tau


def test_bucket_table_reused_from_the_last_evaluation_equals_a_recompute() -> None:
    d = np.random.default_rng(4).random(70_000)
    schedule = PrototypeSchedule(d, 0.2, 1000, bucket_steps=10)
    reused = schedule.cumulative_weights(500)  # temperature solved just now: its weights are kept
    fresh = PrototypeSchedule(d, 0.2, 1000, bucket_steps=10)
    fresh._curve(fresh.temperature(500) * 2)  # leaves other weights in the buffer: forces a recompute
    weights = fresh.unnormalized_weights(500)
    assert weights.max() == 1.0
    np.testing.assert_array_equal(reused, np.cumsum(weights))
    out = np.empty(len(d))
    assert schedule.cumulative_weights(505, out=out) is not None and np.array_equal(out, reused)
    np.testing.assert_allclose(schedule.weights(500), sample_weights(d, schedule.temperature(500)), rtol=1e-12)
    np.testing.assert_array_equal(schedule.cumulative_weights(1000), np.arange(1, len(d) + 1))  # uniform
