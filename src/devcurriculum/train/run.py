"""The ``pretrain`` rule's entry point, run under torchrun (``scripts/pretrain.py`` calls :func:`main`).

    torchrun --standalone --nproc_per_node N scripts/pretrain.py --spec-json '<json>' \
        --clip-tables g0.parquet g1.parquet ... --clip-caches g0.npy g1.npy ... [--difficulty d.parquet] \
        --init init/model.safetensors --out-dir RUN --resume-dir RUN/resume --threads T --log-file LOG

Also runnable as ``python -m devcurriculum.train.run`` (one process). It discovers its rank, joins the
process group, builds the objective (from the init weights), the curriculum plan and sampler, the clip
cache and the blur/LeRaC schedules, and calls :func:`devcurriculum.train.loop.train`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch

from devcurriculum.utils import distributed as du
from devcurriculum.utils.logging import setup_logging

log = logging.getLogger("devcurriculum.train.run")

SPEC_KEYS = ("model_name", "model", "curriculum_name", "curriculum", "pretrain", "seed", "groups", "clip")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="devcurriculum.train.run", description=__doc__.splitlines()[0])
    p.add_argument("--spec-json", required=True, help="the run spec: " + ", ".join(SPEC_KEYS))
    p.add_argument("--clip-tables", nargs="+", required=True, help="{group}.parquet, one per group, spec order")
    p.add_argument("--clip-caches", nargs="+", required=True, help="{group}.npy, one per group, spec order")
    p.add_argument("--difficulty", default=None, help="difficulty table (curricula with a weighting block)")
    p.add_argument("--init", required=True, help="initial weights (safetensors) written by init_model")
    p.add_argument("--out-dir", required=True, help="receives model.safetensors, metrics.parquet, config.json")
    p.add_argument("--resume-dir", required=True, help="undeclared folder for last.pt (resume state)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads per process")
    # not "--log": torchrun's parser would take it as an abbreviation of its own --log-dir
    p.add_argument("--log-file", default=None, help="also log here (rank 0 logs INFO, other ranks warnings)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    return p.parse_args(argv)


def parse_spec(text: str) -> dict[str, Any]:
    """The ``--spec-json`` value as a dict; a missing key is named."""
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--spec-json is not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise ValueError(f"--spec-json must be a JSON object, got {type(spec).__name__}")
    missing = [k for k in SPEC_KEYS if k not in spec]
    if missing:
        raise ValueError(f"--spec-json lacks key(s) {missing} (needs {list(SPEC_KEYS)})")
    return spec


def clip_dir_of(tables: Sequence[str], caches: Sequence[str], groups: Sequence[str]) -> Path:
    """The one folder holding ``{group}.parquet`` and ``{group}.npy`` for every group (ClipCache's layout)."""
    if len(tables) != len(groups) or len(caches) != len(groups):
        raise ValueError(
            f"need one clip table and one clip cache per age group {list(groups)}: got {len(tables)} tables "
            f"and {len(caches)} caches"
        )
    folder = Path(tables[0]).parent
    for group, table, cache in zip(groups, tables, caches, strict=True):
        for given, expected in ((table, folder / f"{group}.parquet"), (cache, folder / f"{group}.npy")):
            if Path(given) != expected:
                raise ValueError(f"clip file {given} for group {group!r} should be {expected} (one clip folder, spec order)")
    return folder


def difficulty_for(table: Any, path: str | os.PathLike[str]) -> np.ndarray:
    """Difficulty per global clip index (``table`` is ``ClipCache.table``), joined on clip_id."""
    import pandas as pd

    names = pq.read_schema(path).names
    missing = [c for c in ("clip_id", "difficulty") if c not in names]
    if missing:
        raise KeyError(f"difficulty table {path} has no column(s) {missing}")
    diff = pq.read_table(path, columns=["clip_id", "difficulty"]).to_pandas()
    if diff["clip_id"].duplicated().any():
        raise ValueError(f"difficulty table {path} repeats clip_id(s) {diff.loc[diff.clip_id.duplicated(), 'clip_id'].head(5).tolist()}")
    values = pd.Series(diff["difficulty"].to_numpy(np.float64), index=diff["clip_id"]).reindex(table["clip_id"]).to_numpy()
    absent = np.isnan(values)
    if absent.any():
        raise ValueError(
            f"{int(absent.sum())} clip(s) have no difficulty in {path}, e.g. {table['clip_id'][absent].head(5).tolist()}"
        )
    return values


def input_fingerprint(paths: Sequence[str | os.PathLike[str] | None]) -> dict[str, list[int]]:
    """(size, mtime_ns) of every input file: regenerated inputs never resume an old state."""
    out: dict[str, list[int]] = {}
    for path in paths:
        if path is None:
            continue
        st = os.stat(path)
        out[str(path)] = [st.st_size, st.st_mtime_ns]
    return out


def run(args: argparse.Namespace, info: du.DistInfo, device: torch.device) -> Any:
    """Build every part from the spec and train; returns the loop's :class:`TrainResult`."""
    from devcurriculum.curriculum.blur import BlurSchedule
    from devcurriculum.curriculum.lerac import LeracSchedule
    from devcurriculum.curriculum.plan import CurriculumPlan, resolve_bucket_steps
    from devcurriculum.curriculum.sampler import CurriculumSampler
    from devcurriculum.datasets.clip_dataset import ClipCache
    from devcurriculum.models.registry import build_objective
    from devcurriculum.train.checkpoint import load_weights
    from devcurriculum.train.loop import TrainConfig, train

    spec = parse_spec(args.spec_json)
    pretrain: Mapping[str, Any] = spec["pretrain"]
    groups = [str(g) for g in spec["groups"]]
    seed = int(spec["seed"])
    clip_dir = clip_dir_of(args.clip_tables, args.clip_caches, groups)

    if args.threads is not None:
        from devcurriculum.utils.config import set_threads

        set_threads(args.threads)
    deterministic = bool(pretrain.get("deterministic", True))
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # GPU kernels without a deterministic version only warn; CPU runs are exact (bit-identical resume).
    torch.use_deterministic_algorithms(deterministic, warn_only=device.type == "cuda")

    plan = CurriculumPlan.from_config(spec["curriculum_name"], spec["curriculum"], groups,
                                      int(pretrain.get("steps_per_stage", 50)))
    cfg = TrainConfig.from_pretrain(pretrain, plan.total_steps, seed)
    clip_cache = ClipCache(clip_dir, groups)
    pools = {g: clip_cache.indices_of(g) for g in plan.groups}
    difficulty = difficulty_for(clip_cache.table, args.difficulty) if args.difficulty else None
    if plan.weighting is not None and plan.weighting.get("kind", "prototypes_first") != "uniform" and difficulty is None:
        raise ValueError(f"curricula.{plan.name} has a weighting block: pass --difficulty")
    sampler = CurriculumSampler(
        plan, pools, cfg.batch_size, seed, rank=info.rank, world_size=info.world_size, difficulty=difficulty,
        weighting=plan.weighting, bucket_steps=resolve_bucket_steps(pretrain.get("bucket_steps", "auto"), plan),
    )

    torch.manual_seed(seed)  # same on every rank; objectives offset their own generators by rank
    objective = build_objective(dict(spec["model"]), dict(spec["clip"]))
    load_weights(objective, args.init)
    n_groups = len(objective.depth_groups())
    blur = BlurSchedule.from_config(plan.blur, plan.total_steps) if plan.blur else None
    lerac = LeracSchedule.from_config(plan.lerac, n_groups, plan.total_steps, base_lr=cfg.lr) if plan.lerac else None
    log.info(
        "run %s/%s seed %d: %d steps in %d stage(s), %d clips, global batch %d (%d per rank x %d rank(s)),"
        " %d depth groups%s%s",
        spec["model_name"], plan.name, seed, plan.total_steps, len(plan.stages), len(clip_cache),
        cfg.batch_size * info.world_size, cfg.batch_size, info.world_size, n_groups, ", blur" if blur else "", ", LeRaC" if lerac else "",
    )
    fingerprint = input_fingerprint([*args.clip_tables, *args.clip_caches, args.difficulty, args.init])
    return train(
        objective, sampler, clip_cache, cfg, args.out_dir, args.resume_dir,
        spec=spec, blur=blur, lerac=lerac, device=device, dist_info=info,
        hash_extra={"inputs": fingerprint}, show_progress=not args.no_progress,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns 0 on success (errors are logged with the rank, then re-raised)."""
    args = parse_args(argv)
    info = du.discover_rank()
    setup_logging(args.log_file, level=logging.INFO if info.is_main else logging.WARNING)
    device = torch.device(f"cuda:{info.local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
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
