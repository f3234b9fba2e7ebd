"""What the violation-of-expectation suite costs next to what the demo already does, same run.

- render: the demo VoE set (``voe.sets.demo_physics`` of config.yaml, both clips of every pair) vs the
  same number of held-out benchmark clips of the same length (``render_benchmark_clip``); ratio
  VoE / benchmark.
- score: ``score_windows`` of every window of that set under one checkpoint of each learner vs
  ``Objective.embed`` of the same windows (what an embed job does per clip); ratio surprise / embed.

Best of ``--repeats``. Targets: render ratio <= 1.5; score ratio <= 2.5 for VideoMAE and V-JEPA (an
encoder pass plus a decoder / predictor and target-encoder pass); SimCLR's proxy runs its backbone on
the last context frame and the later half of a window (5 frames of 8) where its embed reads the last
frame only, so its ratio is near 5 by construction.

    python benchmarks/voe_cost.py
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
import yaml

from devcurriculum.config import WorkflowConfig
from devcurriculum.datasets.clip_dataset import to_model_batch
from devcurriculum.demo.benchmark import render_benchmark_clip
from devcurriculum.demo.world import World
from devcurriculum.eval.surprise import score_windows, surprise_model, window_starts
from devcurriculum.evalsets.voe import load_voe_set
from devcurriculum.models.registry import build_objective

CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = WorkflowConfig.from_mapping(yaml.safe_load(CONFIG.read_text()))
    name, voe = next(iter(cfg.voe.sets.items()))
    clip, demo = cfg.data.clip, cfg.demo
    _, clips = load_voe_set(name, voe, clip, demo, cfg.data.age_groups)
    world = World.from_config(demo.world, cfg.data.age_groups)
    bench = type(demo.benchmark)(**{**demo.benchmark.to_dict(), "frames": voe.frames * clip.frame_step})

    def render_benchmark() -> None:
        for i in range(len(clips)):
            render_benchmark_clip(world, bench.shapes[0], bench.directions[0], bench=bench, seed=0, item_index=i,
                                  size=demo.size, fps=demo.fps)

    t_voe = best_of(args.repeats, lambda: load_voe_set(name, voe, clip, demo, cfg.data.age_groups))
    t_bench = best_of(args.repeats, render_benchmark)
    print(f"render {len(clips)} clips of {voe.frames * clip.frame_step} frames: VoE {t_voe:.2f} s, "
          f"benchmark {t_bench:.2f} s, ratio {t_voe / t_bench:.2f}")

    rows = np.arange(len(clips))
    starts = window_starts(clips.shape[1], clip.frames, cfg.voe.window_stride)
    windows = np.stack([clips[i, s : s + clip.frames] for i in rows for s in starts])
    for model_name, model in cfg.models.items():
        torch.manual_seed(0)
        objective = build_objective(model, clip).eval()
        scorer = surprise_model(objective)

        def embed(objective=objective) -> None:
            with torch.no_grad():
                for lo in range(0, len(windows), cfg.voe.batch_size):
                    objective.embed(to_model_batch(windows[lo : lo + cfg.voe.batch_size]))

        t_surprise = best_of(args.repeats, lambda scorer=scorer: score_windows(scorer, clips, rows, starts, cfg.voe.batch_size))
        t_embed = best_of(args.repeats, embed)
        print(f"{model_name}: {len(windows)} windows per checkpoint: surprise {t_surprise:.2f} s, embed {t_embed:.2f} s, "
              f"ratio {t_surprise / t_embed:.2f}")


if __name__ == "__main__":
    main()
