"""Prototype-first sampling weights and their warm-up schedule (docs/algorithms.md §B, "Weights").

p_i(tau) = softmax(-d_i / tau) puts prototypical (low-difficulty) samples first (``hard_first``:
softmax(+d_i / tau)). The schedule is linear in the *effective fraction*
r(tau) = (1/N) sum_i [1 - (1 - p_i)^N], the expected fraction of distinct samples in N draws with
replacement, from r0 to r_max = 1 - 1/e over the warm-up; tau is found by bisection and the
weights are uniform afterwards.

Speed: temperatures are solved once per bucket of steps, and r(tau) is memoised per tau. The
bisection midpoints are the same dyadic points for every target, so consecutive buckets (whose
targets differ little) share the first levels of their bisection paths and only pay for the levels
where they diverge: the temperatures are bit-identical to a plain bisection on the same r(tau).

Inside the bisection r(tau) is computed in float64 in preallocated buffers, and for pools of at
least ``SERIES_MIN_N`` samples without the slow transcendental passes of -expm1(N log1p(-p)):
r = 1 - mean(exp(N * L(p))) with L(p) = -p - p^2/2, the start of log1p(-p)'s series. A term's
truncation error is below exp(-Np) N p^3 / 3 <= 0.45 / N^2 (terms with p > 1e-3 are exp(< -65) ~ 0
either way) and the sum of the exp values is exact to ~1e-15, so r differs from the -expm1 form by
less than 1.1e-10 at the threshold (4.5e-13 at N = 1M): far below the bisection's 1e-4 tolerance.
That is 7 passes over the pool instead of 11, two of them transcendental instead of four.
:func:`effective_fraction` keeps the -expm1(N log1p(-p)) form.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

from devcurriculum.config import WeightingConfig

log = logging.getLogger("devcurriculum.curriculum.prototype")

#: Effective fraction of uniform sampling as N -> infinity (the end of the warm-up).
R_MAX = -math.expm1(-1.0)
TAU_LOW = 1e-6
TAU_HIGH = 10.0
R_TOLERANCE = 1e-4
MAX_HALVINGS = 200
MIN_INITIAL_FRACTION = 0.1
KINDS = ("prototypes_first", "hard_first")


def _as_difficulty(difficulty: np.ndarray) -> np.ndarray:
    d = np.asarray(difficulty, dtype=np.float64)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError(f"difficulty must be a non-empty 1-D array, got shape {d.shape}")
    if not np.isfinite(d).all():
        raise ValueError(f"difficulty contains NaN/Inf at positions {np.flatnonzero(~np.isfinite(d))[:5].tolist()}")
    return d


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"weighting kind must be one of {list(KINDS)}, got {kind!r}")


def _energies(d: np.ndarray, kind: str) -> np.ndarray:
    """Non-negative s with weights proportional to exp(-s / tau) and min(s) = 0 (no overflow)."""
    _check_kind(kind)
    return d - d.min() if kind == "prototypes_first" else d.max() - d


def sample_weights(difficulty: np.ndarray, temperature: float, kind: str = WeightingConfig.kind) -> np.ndarray:
    """softmax(-d / tau) (``prototypes_first``) or softmax(+d / tau) (``hard_first``), float64.

    ``temperature = inf`` gives uniform weights.
    """
    d = _as_difficulty(difficulty)
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if math.isinf(temperature):
        _check_kind(kind)
        return np.full(len(d), 1.0 / len(d))
    w = np.exp(-_energies(d, kind) / temperature)
    return w / w.sum()


def effective_fraction_of_weights(p: np.ndarray) -> float:
    """(1/N) sum_i [1 - (1 - p_i)^N] for sampling weights p (normalised to sum to 1 here), float64."""
    w = np.asarray(p, dtype=np.float64)
    if w.ndim != 1 or len(w) == 0:
        raise ValueError(f"weights must be a non-empty 1-D array, got shape {w.shape}")
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("weights must be finite and non-negative")
    total = w.sum()
    if total <= 0:
        raise ValueError("weights sum to zero")
    n = len(w)
    with np.errstate(divide="ignore"):  # p = 1 gives log1p(-1) = -inf, and the term is exactly 1
        return float(np.mean(-np.expm1(n * np.log1p(-w / total))))


def effective_fraction(difficulty: np.ndarray, temperature: float, kind: str = WeightingConfig.kind) -> float:
    """Expected fraction of distinct samples in N draws from softmax(-/+d / tau) (float64)."""
    return effective_fraction_of_weights(sample_weights(difficulty, temperature, kind))


def uniform_effective_fraction(n: int) -> float:
    """r of uniform weights over n samples: 1 - (1 - 1/n)^n (tends to 1 - 1/e)."""
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    with np.errstate(divide="ignore"):
        return float(-np.expm1(n * np.log1p(-1.0 / n)))


#: Pools at least this large use the series form of r(tau) (module docstring: error < 0.45 / N^2).
SERIES_MIN_N = 65_536


def _scaled_exp(energies: torch.Tensor, tau: float, out: torch.Tensor) -> torch.Tensor:
    """exp(-s / tau) into ``out``: the unnormalised weights (one multiply, one exp pass)."""
    torch.mul(energies, -1.0 / tau, out=out)
    return out.exp_()


class _FractionCurve:
    """r(tau) for one difficulty vector, memoised per tau, computed in two reusable float64 buffers.

    The passes run through torch's vectorised float64 kernels (about twice numpy's speed for
    exp on one thread): each evaluation is O(N) and dominates a bucket's cost. The weights
    exp(-s / tau) of the last evaluation are kept, so the bucket's cumulative table is one pass
    over them instead of three.
    """

    def __init__(self, energies: np.ndarray) -> None:
        self.energies = energies
        self._s = torch.from_numpy(energies)
        self._weights = torch.empty_like(self._s)
        self._terms = torch.empty_like(self._s)
        self._weights_tau: float | None = None
        self._memo: dict[float, float] = {}
        self.evaluations = 0

    def __call__(self, tau: float) -> float:
        cached = self._memo.get(tau)
        if cached is not None:
            return cached
        n = self._s.numel()
        w = self._weights_at(tau)
        c = 1.0 / float(w.sum())  # p_i = c * w_i
        x = self._terms
        if n >= SERIES_MIN_N:
            torch.mul(w, -n * c, out=x)  # N * L(p) = -N c w - (N c^2 / 2) w^2
            torch.addcmul(x, w, w, value=-n * c * c / 2.0, out=x)
            value = 1.0 - float(x.exp_().sum()) / n
        else:
            torch.mul(w, -c, out=x)  # -p_i
            x.log1p_()  # p_i = 1 gives -inf, and the term below is exactly 1
            x.mul_(n)
            value = float(-x.expm1_().sum() / n)
        self._memo[tau] = value
        self.evaluations += 1
        return value

    def _weights_at(self, tau: float) -> torch.Tensor:
        if self._weights_tau != tau:
            _scaled_exp(self._s, tau, self._weights)
            self._weights_tau = tau
        return self._weights

    def weights(self, tau: float) -> np.ndarray:
        """A fresh array exp(-s / tau)."""
        return self._weights_at(tau).numpy().copy()

    def cumulative_weights(self, tau: float, out: np.ndarray | None = None) -> np.ndarray:
        """Running sum of exp(-s / tau), into ``out`` when given (float64, same length)."""
        w = self._weights_at(tau)
        target = torch.empty_like(w) if out is None else torch.from_numpy(out)
        # torch's float64 prefix sum is several times faster than numpy's here
        torch.cumsum(w, 0, out=target)
        return target.numpy()


def solve_temperature(curve: _FractionCurve, target: float) -> float:
    """Bisection on [1e-6, 10] until |r(tau) - target| < 1e-4 (at most 200 halvings); r rises with tau.

    A target outside [r(1e-6), r(10)] (tiny or degenerate pools) returns the nearer end.
    """
    r_low, r_high = curve(TAU_LOW), curve(TAU_HIGH)
    if target <= r_low - R_TOLERANCE:
        log.debug("target r=%.6f below r(tau=%g)=%.6f: using tau=%g", target, TAU_LOW, r_low, TAU_LOW)
        return TAU_LOW
    if target >= r_high + R_TOLERANCE:
        log.debug("target r=%.6f above r(tau=%g)=%.6f: using tau=%g", target, TAU_HIGH, r_high, TAU_HIGH)
        return TAU_HIGH
    lo, hi = TAU_LOW, TAU_HIGH
    mid = 0.5 * (lo + hi)
    for _ in range(MAX_HALVINGS):
        mid = 0.5 * (lo + hi)
        r = curve(mid)
        if abs(r - target) < R_TOLERANCE:
            break
        if r < target:
            lo = mid
        else:
            hi = mid
    return mid


class PrototypeSchedule:
    """Sampling weights over the warm-up: effective fraction linear from r0 to 1 - 1/e, then uniform.

    ``temperature(step)``, ``weights(step)`` and ``effective_fraction(step)`` are constant within a
    bucket of ``bucket_steps`` steps (solved at the bucket's first step, cached). After the warm-up
    (step >= warmup_steps) the temperature is ``inf`` and the weights are uniform.
    """

    def __init__(
        self,
        difficulty: np.ndarray,
        initial_fraction: float,
        warmup_steps: int,
        kind: str = WeightingConfig.kind,
        # 1 solves every step: the exact schedule. Not pretrain.bucket_steps ("auto" needs the
        # curriculum plan): the sampler resolves that and passes the count.
        bucket_steps: int = 1,
    ) -> None:
        self.difficulty = _as_difficulty(difficulty)
        _check_kind(kind)
        if initial_fraction < MIN_INITIAL_FRACTION:
            raise ValueError(
                f"initial_fraction must be at least {MIN_INITIAL_FRACTION}, got {initial_fraction}"
            )
        if initial_fraction > R_MAX:
            log.warning("initial_fraction %.6f > 1 - 1/e: clamped to %.6f", initial_fraction, R_MAX)
            initial_fraction = R_MAX
        if int(warmup_steps) != warmup_steps or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be a non-negative integer, got {warmup_steps}")
        if int(bucket_steps) != bucket_steps or bucket_steps < 1:
            raise ValueError(f"bucket_steps must be a positive integer, got {bucket_steps}")
        self.kind = kind
        self.initial_fraction = float(initial_fraction)
        self.warmup_steps = int(warmup_steps)
        self.bucket_steps = int(bucket_steps)
        self.n = len(self.difficulty)
        self._curve = _FractionCurve(_energies(self.difficulty, kind))
        self._temperatures: dict[int, float] = {}

    @staticmethod
    def _check_step(step: int) -> int:
        if step < 0:
            raise ValueError(f"step must be non-negative, got {step}")
        return int(step)

    def bucket_start(self, step: int) -> int:
        step = self._check_step(step)
        return step - step % self.bucket_steps

    def in_warmup(self, step: int) -> bool:
        return self._check_step(step) < self.warmup_steps

    def target(self, step: int) -> float:
        """r_t = r0 + (r_max - r0) * t / W during the warm-up, r_max after (not bucketed)."""
        step = self._check_step(step)
        if step >= self.warmup_steps:
            return R_MAX
        return self.initial_fraction + (R_MAX - self.initial_fraction) * step / self.warmup_steps

    def temperature(self, step: int) -> float:
        """tau of the step's bucket; ``inf`` (uniform) once the warm-up is over."""
        if not self.in_warmup(step):
            return math.inf
        start = self.bucket_start(step)
        tau = self._temperatures.get(start)
        if tau is None:
            tau = solve_temperature(self._curve, self.target(start))
            self._temperatures[start] = tau
        return tau

    def unnormalized_weights(self, step: int) -> np.ndarray:
        """A fresh array proportional to the step's weights, largest entry 1 (cheaper: no normalisation).

        The sampler turns it into its cumulative table in place.
        """
        tau = self.temperature(step)
        if math.isinf(tau):
            return np.ones(self.n)
        return self._curve.weights(tau)

    def cumulative_weights(self, step: int, out: np.ndarray | None = None) -> np.ndarray:
        """Running sum of :meth:`unnormalized_weights` (the sampler's table), into ``out`` when given."""
        tau = self.temperature(step)
        if math.isinf(tau):
            return np.cumsum(np.ones(self.n), out=out)
        return self._curve.cumulative_weights(tau, out)

    def weights(self, step: int) -> np.ndarray:
        """float64 sampling weights of the step's bucket, summing to 1."""
        w = self.unnormalized_weights(step)
        return np.divide(w, w.sum(), out=w)

    def effective_fraction(self, step: int) -> float:
        """r of the weights actually used at ``step`` (the uniform value 1-(1-1/N)^N after warm-up)."""
        tau = self.temperature(step)
        if math.isinf(tau):
            return uniform_effective_fraction(self.n)
        return self._curve(tau)

    @property
    def evaluations(self) -> int:
        """How many O(N) evaluations of r(tau) were needed so far (for benchmarks and logs)."""
        return self._curve.evaluations
