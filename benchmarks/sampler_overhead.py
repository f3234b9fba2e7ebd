"""Per-step cost of CurriculumSampler vs the reference README's way, measured in the same run.

The reference README recomputes the prototype weights every iteration (bisection for tau, ~30 O(N)
float32 passes) and builds a fresh ``torch.utils.data.WeightedRandomSampler`` from them. Our sampler
solves tau once per bucket of steps (memoising r(tau) across buckets), builds one cumulative table
per bucket and draws each step with ``searchsorted``. Both run over the same early warm-up steps.

The amortised cost is (one O(N) bucket rebuild) / bucket_steps + O(batch log N), so the ratio depends
on the bucket length: the default ``auto`` (shortest stage // 200, here 100 steps of a 20,000-step
stage) and, for comparison, a fixed short bucket:

    python benchmarks/sampler_overhead.py                     # N = 1,000,000, bucket auto (target >= 100x)
    python benchmarks/sampler_overhead.py --bucket-steps 10   # the same with a 10-step bucket
    python benchmarks/sampler_overhead.py --n 100000 --steps 100
"""

from __future__ import annotations

import argparse
import math
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler

from devcurriculum.config import CurriculumConfig
from devcurriculum.curriculum import CurriculumPlan, CurriculumSampler

R_MAX = 1.0 - math.exp(-1.0)


def reference_step(d: torch.Tensor, target: float, batch_size: int, generator: torch.Generator) -> list[int]:
    """One step of the reference way: float32 bisection for tau, softmax weights, new sampler, draw."""
    n = d.numel()

    def fraction(tau: float) -> float:
        p = torch.softmax(-d / tau, dim=0)
        return float((1.0 - (1.0 - p) ** n).mean())

    lo, hi = 1e-6, 10.0
    tau = 0.5 * (lo + hi)
    for _ in range(200):
        tau = 0.5 * (lo + hi)
        r = fraction(tau)
        if abs(r - target) < 1e-4:
            break
        lo, hi = (tau, hi) if r < target else (lo, tau)
    weights = torch.softmax(-d / tau, dim=0).double()
    sampler = WeightedRandomSampler(weights, num_samples=batch_size, replacement=True, generator=generator)
    return list(sampler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="pool size N")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1000, help="steps timed for CurriculumSampler")
    parser.add_argument("--baseline-steps", type=int, default=5, help="steps timed for the reference way")
    parser.add_argument("--bucket-steps", default="auto", help="'auto' (the pretrain default) or a step count")
    parser.add_argument("--stage-steps", type=int, default=20_000, help="length of the one (mixed) stage")
    args = parser.parse_args()
    torch.set_num_threads(1)

    difficulty = np.random.default_rng(0).random(args.n)
    groups = ["all"]
    pools = {"all": np.arange(args.n)}
    weighting = {"kind": "prototypes_first", "initial_fraction": 0.2, "warmup_fraction": 0.5}
    curriculum = CurriculumConfig.from_mapping({"order": "mixed", "weighting": weighting})
    plan = CurriculumPlan.from_config(name="bench", curriculum=curriculum, groups=groups, steps_per_stage=args.stage_steps)
    warmup = round(0.5 * args.stage_steps)
    if args.steps > warmup:
        raise SystemExit(f"--steps {args.steps} must stay inside the warm-up ({warmup} steps)")

    sampler = CurriculumSampler(
        plan, pools, batch_size=args.batch_size, seed=0, difficulty=difficulty,
        bucket_steps=args.bucket_steps if args.bucket_steps == "auto" else int(args.bucket_steps),
    )
    bucket_steps = sampler.bucket_steps
    if args.steps < 2 * bucket_steps:
        raise SystemExit(f"--steps {args.steps} must cover at least two buckets of {bucket_steps} steps")
    t0 = time.perf_counter()
    first_bucket_end = None
    for step in range(args.steps):
        sampler.batch(step)
        if step == bucket_steps - 1:
            first_bucket_end = time.perf_counter()
    ours_total = time.perf_counter() - t0
    ours = ours_total / args.steps
    steady = (time.perf_counter() - first_bucket_end) / (args.steps - bucket_steps) if first_bucket_end else ours
    evaluations = sampler.schedule(plan.stages[0]).evaluations

    d = torch.from_numpy(difficulty.astype(np.float32))
    generator = torch.Generator().manual_seed(0)
    baseline_steps = np.linspace(0, args.steps - 1, args.baseline_steps).astype(int)
    t0 = time.perf_counter()
    for step in baseline_steps:
        target = 0.2 + (R_MAX - 0.2) * step / warmup
        reference_step(d, target, args.batch_size, generator)
    baseline = (time.perf_counter() - t0) / len(baseline_steps)

    print(f"N = {args.n:,}, batch {args.batch_size}, bucket_steps {bucket_steps} ({args.bucket_steps}), "
          f"warm-up {warmup} steps")
    print(f"reference (recompute + WeightedRandomSampler every step): {baseline * 1e3:10.3f} ms/step "
          f"({len(baseline_steps)} steps)")
    print(f"CurriculumSampler, amortised over {args.steps} steps:       {ours * 1e3:10.3f} ms/step "
          f"({evaluations} r(tau) evaluations in {math.ceil(args.steps / bucket_steps)} buckets)")
    print(f"CurriculumSampler, after the first bucket:               {steady * 1e3:10.3f} ms/step")
    print(f"ratio (reference / ours, amortised): {baseline / ours:8.1f}x")
    print(f"ratio (reference / ours, after first bucket): {baseline / steady:8.1f}x")


if __name__ == "__main__":
    main()
