"""The one training loop shared by every objective (VideoMAE, V-JEPA, SimCLR).

Per step: ask the curriculum sampler for this rank's share of the global batch, read the clips from
the clip cache, blur them (before normalisation) when a blur curriculum is active, set every param
group's learning rate (main schedule x LeRaC scale of its depth group), take one optimiser step, run the
objective's ``after_step`` hook (EMA), log a metrics row, and save the resume state every
``checkpoint_every`` steps. See ``docs/training.md`` for the resume contract and the DDP construction.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from devcurriculum import __version__
from devcurriculum.curriculum.blur import apply_blur
from devcurriculum.datasets.clip_dataset import PIXEL_MEAN, PIXEL_STD, to_model_batch
from devcurriculum.models.objective import Objective
from devcurriculum.train.checkpoint import (
    ResumeState,
    capture_rng,
    load_resume_state,
    restore_rng,
    resume_path,
    save_resume_state,
    save_weights,
)
from devcurriculum.train.metrics import MetricsLog
from devcurriculum.utils import distributed as du
from devcurriculum.utils.config import config_hash, set_threads
from devcurriculum.utils.io import atomic_write_json, provenance

log = logging.getLogger("devcurriculum.train.loop")

WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.parquet"
CONFIG_FILE = "config.json"
#: pretrain keys that do not change what is computed, so changing them keeps a resume valid
RESUME_NEUTRAL_KEYS = ("checkpoint_every", "threads", "nproc")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN/Inf; training stopped and the last good resume state was kept."""


# ---- the pieces the loop talks to (implemented in devcurriculum.curriculum / datasets) ------------


class BatchSampler(Protocol):
    """A curriculum batch sampler: yields this rank's list of clip indices per step."""

    def __iter__(self) -> Iterator[Sequence[int]]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...
    def info(self, step: int) -> Any: ...


class ClipSource(Protocol):
    """The clip cache (``devcurriculum.datasets.clip_dataset.ClipCache``): uint8 ``(B, T, H, W, 3)`` by index."""

    def get(self, indices: Sequence[int]) -> np.ndarray: ...


# ---- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    """The loop's settings: the ``pretrain`` config block plus the run's length and seed."""

    total_steps: int
    batch_size: int = 8
    optimizer: str = "adamw"
    lr: float = 1.0e-3
    momentum: float = 0.9
    weight_decay: float = 0.05
    warmup_steps: int = 10
    min_lr: float = 1.0e-5
    grad_clip: float | None = 1.0
    precision: str = "fp32"
    checkpoint_every: int = 100
    seed: int = 0
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {self.total_steps}")
        if self.batch_size < 1:
            raise ValueError(f"pretrain.batch_size must be >= 1, got {self.batch_size}")
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"pretrain.optimizer must be 'adamw' or 'sgd', got {self.optimizer!r}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"pretrain.precision must be 'fp32' or 'bf16', got {self.precision!r}")
        if self.checkpoint_every < 1:
            raise ValueError(f"pretrain.checkpoint_every must be >= 1, got {self.checkpoint_every}")

    @classmethod
    def from_pretrain(cls, pretrain: Mapping[str, Any], total_steps: int, seed: int) -> TrainConfig:
        """Pick the loop's keys out of the ``pretrain`` block (other keys, e.g. nproc, are ignored)."""
        names = {f.name for f in fields(cls)} - {"total_steps", "seed"}
        kwargs = {k: pretrain[k] for k in names if k in pretrain}
        return cls(total_steps=int(total_steps), seed=int(seed), **kwargs)


@dataclass
class TrainResult:
    """What a call to :func:`train` did."""

    start_step: int
    total_steps: int
    final_loss: float
    world_size: int
    global_batch: int
    config_hash: str
    out_dir: Path
    losses: list[float] = field(default_factory=list)


# ---- helpers -------------------------------------------------------------------------------------


class _LossModule(nn.Module):
    """Routes ``forward`` to ``objective.loss`` so DDP's forward/backward hooks see the loss call."""

    def __init__(self, objective: Objective) -> None:
        super().__init__()
        self.objective = objective

    def forward(self, batch: torch.Tensor, step: int) -> torch.Tensor:
        return self.objective.loss(batch, step)


def build_optimizer(objective: Objective, cfg: TrainConfig) -> torch.optim.Optimizer:
    """One param group per ``objective.depth_groups()`` entry (input side first) so LeRaC can set each.

    Checks the contract: every trainable parameter in exactly one group.
    """
    groups = [list(g) for g in objective.depth_groups()]
    if not groups or any(not g for g in groups):
        raise ValueError(f"{type(objective).__name__}.depth_groups() returned an empty group: {[len(g) for g in groups]}")
    seen: dict[int, int] = {}
    for gi, group in enumerate(groups):
        for p in group:
            if id(p) in seen:
                raise ValueError(
                    f"{type(objective).__name__}.depth_groups(): a parameter of shape {tuple(p.shape)} is in "
                    f"groups {seen[id(p)]} and {gi}"
                )
            seen[id(p)] = gi
    names = {id(p): n for n, p in objective.named_parameters()}
    left_out = [names[id(p)] for p in objective.parameters() if p.requires_grad and id(p) not in seen]
    if left_out:
        raise ValueError(f"{type(objective).__name__}.depth_groups() leaves out trainable parameters {left_out[:5]}")
    param_groups = [{"params": g, "lr": cfg.lr, "depth": i} for i, g in enumerate(groups)]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            param_groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0, weight_decay=cfg.weight_decay
        )
    return torch.optim.AdamW(param_groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


LrSchedule = Callable[[int], float]


def default_main_schedule(cfg: TrainConfig, hold_steps: int = 0) -> LrSchedule:
    """The main schedule of ``devcurriculum.train.schedule`` bound to this run's settings."""
    from devcurriculum.train.schedule import main_schedule_lr

    def schedule(step: int) -> float:
        return main_schedule_lr(step, cfg.lr, cfg.total_steps, cfg.warmup_steps, cfg.min_lr, hold_steps=hold_steps)

    return schedule


def group_learning_rates(step: int, main: LrSchedule, lerac: Any | None, n_groups: int) -> tuple[float, list[float]]:
    """(main rate, per-group rates): group ``g`` gets ``main(step) * lerac.scales(step)[g]``."""
    base = float(main(step))
    if lerac is None:
        return base, [base] * n_groups
    scales = [float(s) for s in lerac.scales(step)]
    if len(scales) != n_groups:
        raise ValueError(f"LeRaC gives {len(scales)} scales but the objective has {n_groups} depth groups")
    return base, [base * s for s in scales]


def _info_mapping(info: Any) -> dict[str, Any]:
    if info is None:
        return {}
    if isinstance(info, Mapping):
        return dict(info)
    if hasattr(info, "__dataclass_fields__"):
        return asdict(info)
    return {k: v for k, v in vars(info).items() if not k.startswith("_")}


def _pool_name(pool: Any) -> str:
    if pool is None:
        return ""
    if isinstance(pool, str):
        return pool
    return "+".join(str(p) for p in pool)


def _num(value: Any, default: float = math.nan) -> float:
    return default if value is None else float(value)


def step_seed(seed: int, step: int, stream: int) -> int:
    """A per-step seed independent of how many steps ran in this process (so resumes need no state)."""
    return int(np.random.SeedSequence([seed, step, stream]).generate_state(1)[0])


BLUR_STREAM = 0xB1


def _blur_at(blur: Any, step: int) -> tuple[float, float]:
    if blur is None:
        return 0.0, 0.0
    at = _info_mapping(blur.at(step))  # BlurState(sigma, prob, kernel_size, variant)
    return _num(at.get("sigma"), 0.0), _num(at.get("prob"), 0.0)


def make_batch(
    clip_cache: ClipSource,
    indices: Sequence[int],
    step: int,
    *,
    blur: Any | None,
    seed: int,
    rank: int,
    world_size: int,
) -> torch.Tensor:
    """Read uint8 clips and return the normalised float ``(B, T, C, H, W)`` model batch.

    When the blur curriculum is active at ``step`` the clips are blurred on float [0, 1] pixels
    before normalisation (docs/architecture.md). Blur σ are drawn for the whole global batch from a
    per-step generator and this rank takes its slice, so 1 process and N processes blur the same
    clips the same way, and a resumed run needs no blur RNG state.
    """
    clips = clip_cache.get(list(indices))
    sigma, prob = _blur_at(blur, step)
    if blur is None or sigma <= 0 or prob <= 0:
        return to_model_batch(clips)
    per_rank = len(indices)
    gen = torch.Generator().manual_seed(step_seed(seed, step, BLUR_STREAM))
    sigmas = torch.as_tensor(blur.sample(step, per_rank * world_size, gen))[rank * per_rank : (rank + 1) * per_rank]
    x = torch.from_numpy(np.ascontiguousarray(clips)).permute(0, 1, 4, 2, 3).to(torch.float32) / 255.0
    x = apply_blur(x, sigmas, kernel_size=getattr(blur, "kernel_size", None))
    return ((x - PIXEL_MEAN) / PIXEL_STD).contiguous()


def _seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_config_hash(
    spec: Mapping[str, Any], world_size: int, global_batch: int, extra: Mapping[str, Any] | None = None
) -> str:
    """Hash of everything that changes the computation (the spec, world size, global batch, ``extra``)."""
    spec = dict(spec)
    if isinstance(spec.get("pretrain"), Mapping):
        spec["pretrain"] = {k: v for k, v in spec["pretrain"].items() if k not in RESUME_NEUTRAL_KEYS}
    return config_hash({"spec": spec, "world_size": world_size, "global_batch": global_batch,
                        "extra": dict(extra or {})})


# ---- the loop ------------------------------------------------------------------------------------


def train(
    objective: Objective,
    sampler: BatchSampler,
    clip_cache: ClipSource,
    cfg: TrainConfig | Mapping[str, Any],
    out_dir: str | Path,
    resume_dir: str | Path,
    *,
    total_steps: int | None = None,
    seed: int = 0,
    spec: Mapping[str, Any] | None = None,
    blur: Any | None = None,
    lerac: Any | None = None,
    lr_schedule: LrSchedule | None = None,
    device: torch.device | str | None = None,
    dist_info: du.DistInfo | None = None,
    threads: int | None = None,
    hash_extra: Mapping[str, Any] | None = None,
    keep_resume_state: bool = False,
    show_progress: bool = True,
) -> TrainResult:
    """Train ``objective`` for ``cfg.total_steps`` optimiser steps, resuming from ``resume_dir`` if possible.

    ``cfg`` is a :class:`TrainConfig` or the ``pretrain`` config block (then ``total_steps`` and ``seed``
    are required/used). ``spec`` is the full run spec recorded in ``config.json`` and hashed for resume.
    ``blur`` is a ``BlurSchedule``, ``lerac`` a ``LeracSchedule`` (LeRaC's warm-up makes the main
    schedule hold the base rate; see the lerac module). ``lr_schedule`` overrides the main schedule.
    ``hash_extra`` joins the resume hash only (e.g. input-file fingerprints, so regenerated inputs
    never resume old state). The resume state is deleted once the final outputs are written (a forced
    rerun retrains) unless ``keep_resume_state``.
    The process group must already be initialised when running under torchrun
    (:func:`devcurriculum.utils.distributed.init_distributed`). Only rank 0 writes files.
    """
    if not isinstance(cfg, TrainConfig):
        if total_steps is None:
            raise ValueError("train(): total_steps is required when cfg is a pretrain config mapping")
        cfg = TrainConfig.from_pretrain(cfg, total_steps, seed)
    info = dist_info or du.DistInfo(0, 1, 0, "single")
    if info.is_distributed and not torch.distributed.is_initialized():
        raise RuntimeError(
            f"rank {info.rank}/{info.world_size}: call init_distributed() before train() (no process group)"
        )
    if threads is not None:
        set_threads(threads)
    if device is None:
        device = torch.device(f"cuda:{info.local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(device)
    use_bf16 = cfg.precision == "bf16" and device.type == "cuda"
    if cfg.precision == "bf16" and not use_bf16:
        log.warning("pretrain.precision is bf16 but the device is %s: training in fp32", device)

    out_dir, resume_dir = Path(out_dir), Path(resume_dir)
    main_process = info.rank == 0
    world = info.world_size
    global_batch = cfg.batch_size * world
    spec = dict(spec) if spec is not None else {"train": asdict(cfg)}
    run_hash = run_config_hash(spec, world, global_batch, hash_extra)

    objective.to(device)
    optimizer = build_optimizer(objective, cfg)
    n_groups = len(optimizer.param_groups)
    main_lr = lr_schedule or default_main_schedule(cfg, hold_steps=int(getattr(lerac, "warmup_steps", 0) or 0))

    metrics = MetricsLog()
    start, wall_offset = 0, 0.0
    state = load_resume_state(resume_dir, run_hash)
    if state is not None and state.step > cfg.total_steps:
        log.warning("resume state is at step %d beyond total %d: starting fresh", state.step, cfg.total_steps)
        state = None
    if state is not None:
        objective.load_state_dict(state.model)
        optimizer.load_state_dict(state.optimizer)
        sampler.load_state_dict(state.samplers[info.rank])
        metrics = MetricsLog.from_state(state.metrics, up_to_step=state.step)
        start, wall_offset = state.step, state.wall_s
        log.info("resuming from step %d of %d (%s)", start, cfg.total_steps, resume_path(resume_dir))
    else:
        _seed_everything(cfg.seed * 1009 + info.rank)

    runner: nn.Module = _LossModule(objective)
    if info.is_distributed:
        runner = DistributedDataParallel(
            runner,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=bool(getattr(objective, "find_unused_parameters", False)),
        )
    if state is not None:
        # Last, so nothing between here and the first step consumes random numbers.
        restore_rng(state.rngs[info.rank], objective)

    objective.train()
    batches = iter(sampler)
    t_start = time.perf_counter()
    losses: list[float] = []
    last_good: int | None = state.step if state is not None else None
    bar = tqdm(
        total=cfg.total_steps, initial=start, desc="pretrain", unit="step",
        disable=not (show_progress and main_process),
    )
    try:
        for step in range(start, cfg.total_steps):
            t0 = time.perf_counter()
            try:
                indices = next(batches)
            except StopIteration:
                raise RuntimeError(
                    f"the sampler ran out of batches at step {step} of {cfg.total_steps}"
                ) from None
            sinfo = _info_mapping(sampler.info(step))
            blur_sigma, blur_prob = _blur_at(blur, step)
            base_lr, lrs = group_learning_rates(step, main_lr, lerac, n_groups)
            for group, lr in zip(optimizer.param_groups, lrs, strict=True):
                group["lr"] = lr
            objective.set_step_context(
                {
                    "step": step,
                    "total_steps": cfg.total_steps,
                    "stage": int(sinfo.get("stage", 0)),
                    "pool": sinfo.get("pool"),
                    "effective_fraction": sinfo.get("effective_fraction"),
                    "temperature": sinfo.get("temperature"),
                    "blur_sigma": blur_sigma,
                }
            )
            batch = make_batch(
                clip_cache, indices, step, blur=blur, seed=cfg.seed, rank=info.rank, world_size=world
            ).to(device, non_blocking=True)

            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
                loss = runner(batch, step)
            loss_mean = float(du.all_reduce_mean(loss.detach().float()).item())
            if not math.isfinite(loss_mean):
                kept = (
                    f"the last good resume state (step {last_good}) is kept at {resume_path(resume_dir)}"
                    if last_good is not None
                    else "no resume state had been saved yet"
                )
                raise NonFiniteLossError(
                    f"non-finite loss {loss_mean} at step {step} (mean over {world} rank(s)); training stopped, {kept}"
                )
            loss.backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(objective.parameters(), cfg.grad_clip)
            optimizer.step()
            objective.after_step(step, cfg.total_steps)

            dt = time.perf_counter() - t0
            metrics.append(
                {
                    "step": step,
                    "loss": loss_mean,
                    "lr": base_lr,
                    "lr_min": min(lrs),
                    "lr_max": max(lrs),
                    "stage": int(sinfo.get("stage", 0)),
                    "pool": _pool_name(sinfo.get("pool")),
                    "effective_fraction": _num(sinfo.get("effective_fraction")),
                    "temperature": _num(sinfo.get("temperature")),
                    "blur_sigma": blur_sigma,
                    "blur_prob": blur_prob,
                    "samples_per_s": global_batch / dt if dt > 0 else math.nan,
                    "wall_s": wall_offset + time.perf_counter() - t_start,
                    "global_batch": global_batch,
                }
            )
            losses.append(loss_mean)
            bar.update(1)
            done = step + 1
            if main_process and (done % cfg.log_every == 0 or done == cfg.total_steps):
                log.info("step %d/%d loss %.6f lr %.3g stage %s", done, cfg.total_steps, loss_mean, base_lr,
                         sinfo.get("stage", 0))
            if done % cfg.checkpoint_every == 0 or done == cfg.total_steps:
                _checkpoint(objective, optimizer, sampler, metrics, done, run_hash, resume_dir,
                            wall_offset + time.perf_counter() - t_start, main_process)
                last_good = done
    finally:
        bar.close()

    if main_process:
        _write_outputs(objective, metrics, out_dir, spec, world, global_batch, run_hash, cfg)
        if not keep_resume_state:
            resume_path(resume_dir).unlink(missing_ok=True)
    du.barrier()
    final = metrics.column("loss")[-1] if len(metrics) else math.nan
    return TrainResult(start, cfg.total_steps, final, world, global_batch, run_hash, out_dir, losses)


def _checkpoint(
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    sampler: BatchSampler,
    metrics: MetricsLog,
    step: int,
    run_hash: str,
    resume_dir: Path,
    wall_s: float,
    main_process: bool,
) -> None:
    """Gather every rank's sampler and RNG state; rank 0 writes ``last.pt``."""
    rngs = du.all_gather_objects(capture_rng(objective))
    samplers = du.all_gather_objects(sampler.state_dict())
    if not main_process:
        return
    state = ResumeState(
        step=step,
        config_hash=run_hash,
        model={k: v.detach().cpu() for k, v in objective.state_dict().items()},  # saved before the next step
        optimizer=optimizer.state_dict(),
        samplers=samplers,
        rngs=rngs,  # type: ignore[arg-type]
        metrics=metrics.state_dict(),
        wall_s=wall_s,
    )
    save_resume_state(resume_dir, state)


def _write_outputs(
    objective: Objective,
    metrics: MetricsLog,
    out_dir: Path,
    spec: Mapping[str, Any],
    world: int,
    global_batch: int,
    run_hash: str,
    cfg: TrainConfig,
) -> None:
    """Final artifacts (rank 0): metrics table, config.json, then the weights."""
    meta = provenance("pretrain", dict(spec), world_size=world, global_batch=global_batch)
    metrics.write(out_dir / METRICS_FILE, metadata=meta)
    atomic_write_json(
        out_dir / CONFIG_FILE,
        {
            "spec": dict(spec),
            "global_batch": global_batch,
            "world_size": world,
            "total_steps": cfg.total_steps,
            "config_hash": run_hash,
            "version": __version__,
        },
    )
    save_weights(objective.state_dict(), out_dir / WEIGHTS_FILE)
    log.info("wrote %s, %s and %s in %s", WEIGHTS_FILE, METRICS_FILE, CONFIG_FILE, out_dir)
