"""Overhead of the full training loop against a bare loop over the same model, measured in one run.

Full: :func:`devcurriculum.train.loop.train` with the real curriculum sampler, the memory-mapped clip
cache, metrics rows (``metrics.parquet`` rewritten every ``--log-every`` steps; TensorBoard events with
``--tensorboard``), a checkpoint every ``--checkpoint-every`` steps and the final artifacts.
Bare: ``zero_grad / loss / backward / step`` over the same objective on model batches prepared in
memory beforehand. Both start from the same weights; repetitions alternate to share machine load.
Prints steps/s of each and the ratio full/bare (target >= 0.9).

    .venv/bin/python benchmarks/train_overhead.py [--steps 60] [--batch 8] [--reps 2] [--log-every 10] [--tensorboard]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from devcurriculum.config import ClipConfig, CurriculumConfig, PretrainConfig, model_config
from devcurriculum.curriculum.plan import CurriculumPlan
from devcurriculum.curriculum.sampler import CurriculumSampler
from devcurriculum.datasets.clip_dataset import ClipCache, to_model_batch
from devcurriculum.models.registry import build_objective
from devcurriculum.train.loop import train
from devcurriculum.utils.serialize import save_npy

# The demo's VideoMAE (config.yaml models.videomae) on the demo's 8-frame 32x32 clips.
MODEL = {"objective": "videomae", "hidden_size": 96, "num_hidden_layers": 4, "num_attention_heads": 4,
         "intermediate_size": 384, "patch_size": 8, "tubelet_size": 2, "decoder_hidden_size": 64,
         "decoder_num_hidden_layers": 2, "decoder_num_attention_heads": 4, "decoder_intermediate_size": 256,
         "mask_ratio": 0.75, "norm_pix_loss": True}
CLIP = {"frames": 8, "frame_step": 2, "stride": 8, "size": 32}
GROUPS = ["g0", "g1", "g2"]


def make_clip_folder(folder: Path, per_group: int) -> None:
    import pyarrow as pa

    from devcurriculum.utils.io import write_table

    rng = np.random.default_rng(0)
    for group in GROUPS:
        save_npy(folder / f"{group}.npy", rng.integers(0, 256, (per_group, 8, 32, 32, 3), dtype=np.uint8))
        ids = [f"{group}-{i}" for i in range(per_group)]
        write_table(pa.table({"clip_id": ids, "age_group": [group] * per_group, "cache_row": list(range(per_group))}),
                    folder / f"{group}.parquet")


def bare_loop(objective: torch.nn.Module, batches: list[torch.Tensor], cfg: PretrainConfig) -> float:
    """Seconds for len(batches) plain optimiser steps."""
    opt = torch.optim.AdamW(objective.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    objective.train()
    t0 = time.perf_counter()
    for step, batch in enumerate(batches):
        opt.zero_grad(set_to_none=True)
        loss = objective.loss(batch, step)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(objective.parameters(), cfg.grad_clip)
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--checkpoint-every", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=10, help="steps between metrics.parquet rewrites")
    ap.add_argument("--tensorboard", action="store_true", help="also write TensorBoard events")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        make_clip_folder(tmp / "clips", per_group=64)
        cache = ClipCache(tmp / "clips", GROUPS)
        cfg = PretrainConfig(steps_per_stage=args.steps // len(GROUPS), batch_size=args.batch, lr=1e-3,
                             weight_decay=0.05, warmup_steps=5, min_lr=1e-5, checkpoint_every=args.checkpoint_every,
                             threads=args.threads, log_every=args.log_every, tensorboard=args.tensorboard)
        plan = CurriculumPlan.from_config(name="developmental", curriculum=CurriculumConfig(order=tuple(GROUPS)),
                                          groups=GROUPS, steps_per_stage=cfg.steps_per_stage)
        torch.manual_seed(0)
        template = build_objective(model_config(MODEL), ClipConfig.from_mapping(CLIP))

        # in-memory batches for the bare loop: the same global batches the sampler draws
        draw = CurriculumSampler(plan, {g: cache.indices_of(g) for g in GROUPS}, args.batch, seed=0)
        batches = [to_model_batch(cache.get(draw.batch(s))) for s in range(plan.total_steps)]

        full_times, bare_times = [], []
        for rep in range(args.reps):
            bare_times.append(bare_loop(copy.deepcopy(template), batches, cfg))
            sampler = CurriculumSampler(plan, {g: cache.indices_of(g) for g in GROUPS}, args.batch, seed=0)
            objective = copy.deepcopy(template)
            t0 = time.perf_counter()
            train(objective=objective, sampler=sampler, clip_cache=cache, pretrain=cfg, total_steps=plan.total_steps,
                  seed=0, out_dir=tmp / f"run{rep}", resume_dir=tmp / f"run{rep}" / "resume",
                  spec={"benchmark": rep}, show_progress=False)
            full_times.append(time.perf_counter() - t0)

    bare = plan.total_steps / statistics.median(bare_times)
    full = plan.total_steps / statistics.median(full_times)
    print(f"steps={plan.total_steps} batch={args.batch} checkpoint_every={args.checkpoint_every} "
          f"log_every={args.log_every} tensorboard={args.tensorboard} threads={args.threads} reps={args.reps}")
    print(f"bare loop : {bare:7.2f} steps/s")
    print(f"full loop : {full:7.2f} steps/s (sampler, clip cache reads, metrics, checkpoints, final artifacts)")
    print(f"ratio full/bare = {full / bare:.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()
