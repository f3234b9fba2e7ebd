"""Cost of SimCLR's view augmentations (``models/simclr_views.py``) against the training step they feed.

The views run torchvision ``transforms.v2`` functionals frame by frame (each frame has its own drawn
parameters, which the batched v2 transforms cannot take), so their cost is per-call overhead on small
frames and pixel work on large ones. Printed: one step of the objective (views + forward + backward +
AdamW update) and the views alone, in the same run, and the views' share of the step. Best of
``--repeats`` runs of ``--steps`` steps.

    python benchmarks/simclr_views.py                          # the demo: resnet10, 16 clips of 32 px
    python benchmarks/simclr_views.py --size 224 --backbone resnet18 --batch 8 --seed-study
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from devcurriculum.config import ClipConfig, SimCLRModelConfig
from devcurriculum.models.simclr import SimCLRObjective

DEMO_AUGMENT = {"grayscale_prob": 1.0, "jitter": 0.6, "jitter_prob": 1.0}
SEED_STUDY_AUGMENT = {"crop_scale": [0.7, 1.0], "jitter": 0.4, "hue": 0.1, "jitter_prob": 0.8, "jitter_order": "random",
                      "grayscale_prob": 0.2, "rotation": 90.0}


def best_of(fn: Callable[[], None], steps: int, repeats: int) -> float:
    """Seconds per call: the best mean over ``repeats`` runs of ``steps`` calls."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        times.append((time.perf_counter() - start) / steps)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--backbone", default="resnet10")
    p.add_argument("--seed-study", action="store_true", help="the seed study's views instead of the demo's")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    augment = SEED_STUDY_AUGMENT if args.seed_study else DEMO_AUGMENT
    model = SimCLRModelConfig.from_mapping({"objective": "simclr", "backbone": args.backbone, "augment": augment})
    objective = SimCLRObjective(model, ClipConfig.from_mapping({"frames": args.frames, "size": args.size}))
    optimizer = torch.optim.AdamW(objective.parameters(), lr=1e-4)
    clips = (torch.rand(args.batch, args.frames, 3, args.size, args.size) - 0.5) / 0.25

    def step() -> None:
        loss = objective.loss(clips, 0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def views() -> None:
        objective.views(clips)

    t_step = best_of(step, args.steps, args.repeats)
    t_views = best_of(views, args.steps, args.repeats)
    print(f"{args.backbone}, {args.batch} clips of {args.size} px, {'seed-study' if args.seed_study else 'demo'} views")
    print(f"  training step  {t_step * 1e3:8.1f} ms")
    print(f"  views alone    {t_views * 1e3:8.1f} ms  = {t_views / t_step:.1%} of the step")


if __name__ == "__main__":
    main()
