"""The ``pretrain`` rule's entry point, run under torchrun, or alone for one process (``scripts/pretrain.py`` calls :func:`main`).

    torchrun --standalone --nproc_per_node N scripts/pretrain.py --spec-json '<json>' \
        --clip-tables g0.parquet g1.parquet ... --clip-caches g0/shard-0-of-2.npy ... [--difficulty d.parquet] \
        --init init/model.safetensors --out-dir RUN --resume-dir RUN/resume [--videos videos.parquet] \
        --threads T [--checkpoint-every N] [--log-every N] [--tensorboard] [--loader-workers N]
        [--loader-kind thread|process] --log-file LOG [--no-progress] [--job-stamp-file STAGED]

Also runnable as ``python -m devcurriculum.train.run`` (one process). Under torchrun it first ties
itself to the launcher (it dies with it: no orphan trainer, :mod:`devcurriculum.utils.lifeline`),
before anything imports torch. It discovers its rank; rank 0 locks the run folder (a second trainer
on the same folder fails at once, :mod:`devcurriculum.utils.locks`) and verifies the clip caches
against their checksums. It joins the process group, parses the run spec into typed config blocks,
builds the objective (from the init weights), the curriculum plan and sampler, the clip cache and the
blur/LeRaC schedules, and calls :func:`devcurriculum.train.loop.train`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from devcurriculum.utils.lifeline import tie_to_launcher
from devcurriculum.utils.logging import setup_logging

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from devcurriculum.config import ModelConfig
    from devcurriculum.train.loop import TrainResult
    from devcurriculum.train.tracking import Tracker
    from devcurriculum.utils import distributed as du

log = logging.getLogger("devcurriculum.train.run")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from devcurriculum.train.spec import SPEC_KEYS

    p = argparse.ArgumentParser(prog="devcurriculum.train.run", description=__doc__.splitlines()[0])
    p.add_argument("--spec-json", required=True, help="the run spec: " + ", ".join(SPEC_KEYS))
    p.add_argument("--clip-tables", nargs="+", required=True, help="clip index {group}.parquet, one per group, spec order")
    p.add_argument("--clip-caches", nargs="+", required=True, help="every shard file the clip indexes name")
    p.add_argument("--difficulty", default=None, help="difficulty table (curricula with a weighting block)")
    p.add_argument("--videos", default=None,
                   help="the video index videos.parquet (curricula with stage_data: seed_folds; runs on a fraction of "
                        "the corpus: spec key data_fraction)")
    p.add_argument("--complexity", default=None, help="per-clip complexity table (curricula with control.match)")
    p.add_argument("--init", required=True, help="initial weights (safetensors) written by init_model")
    p.add_argument("--out-dir", required=True, help="receives model.safetensors, metrics.parquet, run_spec.json")
    p.add_argument("--resume-dir", required=True, help="undeclared folder for last.pt (resume state)")
    # runtime-only settings: they override the pretrain block's and never change results
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads per process (pretrain.threads)")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between resume states (pretrain.checkpoint_every)")
    p.add_argument("--log-every", type=int, default=None,
                   help="steps between loss lines and metrics.parquet rewrites (pretrain.log_every)")
    p.add_argument("--tensorboard", action="store_true", default=None,
                   help="also write TensorBoard events to OUT_DIR/tensorboard (pretrain.tensorboard)")
    p.add_argument("--tracking-json", default=None,
                   help="the tracking block (W&B / MLflow, train/tracking.py) with its dir resolved; rank 0 logs to it")
    p.add_argument("--embedding-json", default=None,
                   help="models.<name>.embedding (readout only): the pooling export/README.md shows")
    p.add_argument("--loader-workers", type=int, default=None,
                   help="threads/processes per process reading batches ahead (pretrain.loader_workers)")
    p.add_argument("--loader-kind", choices=("thread", "process"), default=None,
                   help="whether loader workers are threads or processes (pretrain.loader_kind)")
    # not "--log": torchrun's parser would take it as an abbreviation of its own --log-dir
    p.add_argument("--log-file", default=None, help="also log here (rank 0 logs INFO, other ranks warnings)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (off a terminal there is none anyway)")
    p.add_argument("--job-stamp-file", default=None,
                   help="the workflow's stamp of this job, staged (devcurriculum.stamps): written next to the "
                        "weights once the run folder is locked")
    return p.parse_args(argv)


def input_fingerprint(paths: Sequence[str | os.PathLike[str] | None]) -> dict[str, list[int]]:
    """(size, mtime_ns) of every input file: regenerated inputs never resume an old state."""
    out: dict[str, list[int]] = {}
    for path in paths:
        if path is None:
            continue
        st = os.stat(path)
        out[str(path)] = [st.st_size, st.st_mtime_ns]
    return out


def verify_clip_caches(caches: Sequence[str]) -> None:
    """Each clip cache against its sha256 sidecar, once per job (rank 0): a corrupt cache names its file.

    Hashing reads the whole cache once (about 1 s per GB, docs/reliability.md); training then reads
    it memory-mapped many times over.
    """
    from devcurriculum.utils.checksums import verify_checksum

    for cache in caches:
        verify_checksum(cache)


def pair_stage_rows(
    model: ModelConfig, table: pd.DataFrame, name: str, blocks: int | None = None
) -> Callable[[int], np.ndarray] | None:
    """For a model with ``gap_seconds``: which rows of the pair cache block k draws (pairs of its gap), else None.

    Block k is the k-th run of ``pretrain.steps_per_stage`` steps (the sampler's ``block_steps``): stage k
    of an ordered curriculum, the k-th share of a ``mixed`` run's one stage, as ``lr_stage_factors``. The
    sampler then draws over the anchors of the block's gap; without ``gap_seconds`` it draws over clips.
    ``blocks`` (the run's number of blocks), when given, warns about gaps the run never reaches.
    """
    from devcurriculum.config import gap_seconds_at, gap_seconds_list

    if not model.pairs_across_video:
        return None
    gaps = model.gap_seconds
    listed = gap_seconds_list(gaps)
    if blocks is not None and len(listed) > blocks:
        log.warning(
            "models.%s.gap_seconds lists %d gaps but this run has %d block(s) of pretrain.steps_per_stage steps: "
            "gap(s) %s s are never trained on", name, len(listed), blocks, ", ".join(f"{g:g}" for g in listed[blocks:]),
        )
    if "gap_seconds" not in table.columns:
        raise ValueError(
            f"models.{name}.gap_seconds is set but the tables given are clip indexes, not pair indexes "
            "(pass data/pairs/{group}.parquet and their shards, as the workflow does)"
        )
    held = table["gap_seconds"].to_numpy(dtype=np.float64)

    def rows(block: int) -> np.ndarray:
        gap = gap_seconds_at(gaps, block)
        mask = held == gap
        if not mask.any():
            raise ValueError(f"models.{name}.gap_seconds: the pair cache holds no pairs {gap:g} s apart "
                             f"(it holds {sorted(set(held.tolist()))}); rebuild it with this config")
        return mask

    return rows


def fraction_pools(
    table: pd.DataFrame, pools: dict[str, np.ndarray], videos: str | None, fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Each group's pool restricted to the run's fraction of its videos (:mod:`devcurriculum.datasets.fractions`)."""
    from devcurriculum.datasets.fractions import read_videos, subset_pools

    if videos is None:
        raise ValueError(f"the run spec has data_fraction {fraction:g}: pass the video index with --videos")
    subset = subset_pools(table, pools, read_videos(videos), fraction, seed)
    log.info("data fraction %g (seed %d): %s of %s clips per group", fraction, seed,
             {g: len(p) for g, p in subset.items()}, {g: len(p) for g, p in pools.items()})
    return subset


def run(args: argparse.Namespace, info: du.DistInfo, device: torch.device) -> TrainResult:
    """Build every part from the spec and train; returns the loop's :class:`TrainResult`."""
    import torch

    from devcurriculum.curriculum.blur import BlurSchedule
    from devcurriculum.curriculum.controls import run_control
    from devcurriculum.curriculum.folds import run_fold_rows
    from devcurriculum.curriculum.lerac import LeracSchedule
    from devcurriculum.curriculum.plan import CurriculumPlan
    from devcurriculum.curriculum.pools import difficulty_for
    from devcurriculum.curriculum.sampler import CurriculumSampler, all_stage_rows
    from devcurriculum.datasets.clip_dataset import ClipCache
    from devcurriculum.models.registry import build_objective
    from devcurriculum.train.checkpoint import load_weights
    from devcurriculum.train.loop import train
    from devcurriculum.train.spec import RunSpec
    from devcurriculum.utils.config import set_threads

    spec = RunSpec.from_json(args.spec_json).with_runtime(
        threads=args.threads, checkpoint_every=args.checkpoint_every, log_every=args.log_every,
        tensorboard=args.tensorboard, loader_workers=args.loader_workers, loader_kind=args.loader_kind,
        embedding=json.loads(args.embedding_json) if args.embedding_json else None,
    )
    pretrain = spec.pretrain
    set_threads(pretrain.threads)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # GPU kernels without a deterministic version only warn; CPU runs are exact (bit-identical resume).
    torch.use_deterministic_algorithms(pretrain.deterministic, warn_only=device.type == "cuda")

    plan = CurriculumPlan.from_config(name=spec.curriculum_name, curriculum=spec.curriculum, groups=spec.groups,
                                      steps_per_stage=pretrain.steps_per_stage, run_seed=spec.seed)
    clip_cache = ClipCache.from_files(args.clip_tables, args.clip_caches, spec.groups)
    difficulty = difficulty_for(clip_cache.table, args.difficulty) if args.difficulty else None
    if plan.prototype_weighting is not None and difficulty is None:
        raise ValueError(f"curricula.{plan.name} has a weighting block: pass --difficulty")
    blocks = math.ceil(plan.total_steps / pretrain.steps_per_stage)
    # a complexity control: matched pools and/or static frames (the clip source the loop reads)
    pools, clip_source = run_control(spec.curriculum, clip_cache, args.complexity, spec.groups, name=spec.curriculum_name)
    if spec.data_fraction < 1.0:
        pools = fraction_pools(clip_cache.table, pools, args.videos, spec.data_fraction, spec.seed)
    sampler = CurriculumSampler(
        plan, pools, pretrain.batch_size, spec.seed,
        rank=info.rank, world_size=info.world_size, difficulty=difficulty, bucket_steps=pretrain.bucket_steps,
        stage_rows=all_stage_rows(
            pair_stage_rows(spec.model, clip_cache.table, spec.model_name, blocks=blocks),
            run_fold_rows(spec.curriculum, spec.model, spec.seed, clip_cache.table, args.videos,
                          name=spec.curriculum_name, blocks=blocks),
        ),
        block_steps=pretrain.steps_per_stage,
    )

    torch.manual_seed(spec.seed)  # same on every rank; objectives offset their own generators by rank
    objective = build_objective(spec.model, spec.clip)
    load_weights(objective, args.init)
    n_groups = len(objective.depth_groups())
    blur = BlurSchedule.from_config(plan.blur, plan.total_steps) if plan.blur is not None else None
    lerac = (
        LeracSchedule.from_config(plan.lerac, n_groups, plan.total_steps, base_lr=pretrain.lr)
        if plan.lerac is not None
        else None
    )
    log.info(
        "run %s/%s seed %d: %d steps in %d stage(s), %d clips, global batch %d (%d per rank x %d rank(s)),"
        " %d depth groups%s%s",
        spec.model_name, plan.name, spec.seed, plan.total_steps, len(plan.stages), len(clip_cache),
        pretrain.batch_size, sampler.rank_batch, info.world_size, n_groups, ", blur" if blur else "",
        ", LeRaC" if lerac else "",
    )
    tracker = open_run_tracker(args.tracking_json, spec.shaping(), args.out_dir) if info.is_main else None
    return train(
        objective=objective, sampler=sampler, clip_cache=clip_source, pretrain=pretrain,
        total_steps=plan.total_steps, seed=spec.seed, out_dir=args.out_dir, resume_dir=args.resume_dir,
        spec=spec.shaping(), blur=blur, lerac=lerac, device=device, dist_info=info,
        inputs=input_fingerprint([*args.clip_tables, *args.clip_caches, args.difficulty, args.videos, args.complexity,
                                  args.init]),
        show_progress=not args.no_progress, tracker=tracker,
    )


def open_run_tracker(tracking_json: str | None, spec: dict, out_dir: str) -> Tracker | None:
    """The run's W&B / MLflow tracker from ``--tracking-json`` (None: off), named ``<model>/<curriculum>/seed<seed>``."""
    if not tracking_json:
        return None
    from devcurriculum.config import TrackingConfig
    from devcurriculum.config.runs import run_name
    from devcurriculum.train.tracking import open_tracker

    cfg = TrackingConfig.from_mapping(json.loads(tracking_json))
    name = run_name(spec["model_name"], spec["curriculum_name"], spec["seed"])
    # tracking.dir arrives resolved; <out_dir>/../../../.. is the results folder otherwise
    return open_tracker(cfg, results=os.path.join(out_dir, "..", "..", "..", ".."), run_name=name, config=spec)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns 0 on success (errors are logged with the rank, then re-raised)."""
    tie_to_launcher()  # before the seconds of torch imports below

    from devcurriculum.stamps import write_stamp_file
    from devcurriculum.train.loop import WEIGHTS_FILE
    from devcurriculum.utils import distributed as du
    from devcurriculum.utils.locks import folder_lock

    args = parse_args(argv)
    info = du.discover_rank()
    setup_logging(args.log_file, level=logging.INFO if info.is_main else logging.WARNING)
    device = du.default_device(info)
    try:
        # only rank 0 writes the run folder, so only rank 0 locks it
        with folder_lock(args.out_dir) if info.is_main else contextlib.nullcontext():
            if info.is_main:
                if args.job_stamp_file:  # only once locked: a refused trainer writes nothing
                    write_stamp_file(os.path.join(args.out_dir, WEIGHTS_FILE), args.job_stamp_file)
                verify_clip_caches(args.clip_caches)
            du.init_distributed(device, info)
            run(args, info, device)
    except Exception:
        log.exception("pretrain failed on rank %d/%d", info.rank, info.world_size)
        raise
    finally:
        du.cleanup()
    return 0


if __name__ == "__main__":
    main()
