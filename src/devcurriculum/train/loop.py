"""The one training loop shared by every objective (VideoMAE, V-JEPA, SimCLR).

Per step: ask the curriculum sampler for this rank's share of the global batch (in the main process,
in step order), read the uint8 clips from the clip cache (``pretrain.loader_workers`` threads or
processes read ahead, :mod:`devcurriculum.datasets.loader`), copy them to the training device and
there blur them (before normalisation) when a blur curriculum is active and normalise them
(:func:`devcurriculum.train.batch.device_batch`), set every param group's learning rate (main schedule
x LeRaC scale of its depth group), take one optimiser step, run the objective's ``after_step`` hook
(EMA), log a metrics row (rank 0 rewrites ``metrics.parquet`` every ``pretrain.log_every`` steps, see
``train/live.py``), and save the resume state every ``pretrain.checkpoint_every`` steps. See
``docs/training.md`` for the resume contract and the DDP construction.

Host syncs: one per step, to read the loss mean before the optimiser updates (a non-finite loss stops
the run before the update). The loss is copied to the host right after the forward pass and the
backward pass is queued before the host waits for that copy, so on a GPU the wait overlaps the
backward and the device never idles for it; nothing else in the loop reads a device value
(docs/performance.md "Host syncs").
"""

from __future__ import annotations

import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from devcurriculum import __version__
from devcurriculum.config import PretrainConfig
from devcurriculum.curriculum.blur import BlurSchedule
from devcurriculum.curriculum.lerac import LeracSchedule
from devcurriculum.curriculum.sampler import SamplerStepInfo, rank_share
from devcurriculum.datasets.loader import BatchLoader
from devcurriculum.models.objective import Objective, StepContext
from devcurriculum.train.batch import ClipSource, ReadClips, StepJob, blur_sigmas, device_batch
from devcurriculum.train.checkpoint import (
    ResumeState,
    capture_rng,
    load_resume_state,
    restore_rng,
    resume_path,
    save_resume_state,
    save_weights,
)
from devcurriculum.train.live import TENSORBOARD_DIR, LiveMetrics
from devcurriculum.train.metrics import MetricsLog, run_columns
from devcurriculum.train.optim import build_optimizer
from devcurriculum.train.run_marker import mark_run_folder
from devcurriculum.train.schedule import LrSchedule, group_rates, main_schedule
from devcurriculum.train.tracking import Tracker
from devcurriculum.utils import distributed as du
from devcurriculum.utils.atomic import atomic_dir, link_file
from devcurriculum.utils.config import config_hash
from devcurriculum.utils.io import provenance
from devcurriculum.utils.paths import PathLike
from devcurriculum.utils.progress import format_duration, progress_bar
from devcurriculum.utils.serialize import atomic_write_json

log = logging.getLogger("devcurriculum.train.loop")

WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.parquet"
SPEC_FILE = "run_spec.json"
#: the weights after every stage (every ``steps_per_stage`` steps): ``after_stage{k}.safetensors``
CHECKPOINTS_DIR = "checkpoints"
#: the trained encoder in its library's own form (transformers / torchvision), to use outside the tool
EXPORT_DIR = "export"
#: where stage checkpoints wait (inside the undeclared resume folder) until the run is complete
PENDING_STAGES_DIR = "stages"


class NonFiniteLossError(RuntimeError):
    """The loss became NaN/Inf; training stopped and the last good resume state was kept."""


class BatchSampler(Protocol):
    """A curriculum batch sampler (``CurriculumSampler``): yields this rank's clip indices per step."""

    def __iter__(self) -> Iterator[Sequence[int]]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...
    def info(self, step: int) -> SamplerStepInfo: ...


@dataclass(frozen=True)
class TrainPlan:
    """What the loop derives from a run: its length and seed, and how the global batch splits over ranks."""

    total_steps: int
    seed: int
    world_size: int
    global_batch: int
    rank_batch: int
    steps_per_stage: int

    @classmethod
    def derive(cls, pretrain: PretrainConfig, *, total_steps: int, seed: int, world_size: int) -> TrainPlan:
        """``pretrain.batch_size`` is the global batch; the world size must divide it."""
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        batch = pretrain.batch_size
        return cls(int(total_steps), int(seed), int(world_size), batch, rank_share(batch, world_size),
                   pretrain.steps_per_stage)

    @property
    def n_blocks(self) -> int:
        """Blocks of ``steps_per_stage`` steps in the run: the last after_stage a run reaches."""
        return math.ceil(self.total_steps / self.steps_per_stage)

    def stage_block(self, step: int) -> tuple[int, int]:
        """``(step within its block of steps_per_stage steps, that block's length)`` (see StepContext)."""
        start = step - step % self.steps_per_stage
        return step - start, min(self.steps_per_stage, self.total_steps - start)


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


@dataclass(frozen=True)
class StepRecord:
    """What one optimiser step did: the curriculum's context, the loss (mean over ranks), the rates."""

    context: StepContext
    blur_prob: float
    loss: float
    lr: float
    lr_min: float
    lr_max: float
    lr_groups: tuple[float, ...]  # every param group's rate, input side first


@dataclass(frozen=True)
class _Parts:
    """Everything one optimiser step touches."""

    objective: Objective
    runner: nn.Module  # routes forward to objective.loss, behind DDP when distributed
    optimizer: torch.optim.Optimizer
    clip_cache: ClipSource
    blur: BlurSchedule | None
    lerac: LeracSchedule | None
    main_lr: LrSchedule
    device: torch.device
    use_bf16: bool
    grad_clip: float | None
    rank: int


@dataclass
class _Progress:
    """Where a run starts and what it has logged (restored from the resume state when there is one)."""

    start: int
    wall_offset: float
    metrics: MetricsLog
    last_good: int | None  # the step of the last resume state written


class _LossModule(nn.Module):
    """Routes ``forward`` to ``objective.loss`` so DDP's forward/backward hooks see the loss call."""

    def __init__(self, objective: Objective) -> None:
        super().__init__()
        self.objective = objective

    def forward(self, batch: torch.Tensor, step: int) -> torch.Tensor:
        return self.objective.loss(batch, step)


def run_config_hash(
    spec: Mapping[str, Any], *, pretrain: PretrainConfig, plan: TrainPlan, inputs: Mapping[str, Any] | None = None
) -> str:
    """Hash of what shapes the computation; a resume state is only used by a run with the same hash.

    The run spec, the loop's run-shaping settings (``pretrain.shaping()``, length, seed), the world
    size and the input fingerprints. Runtime-only keys (threads, checkpoint cadence, log cadence)
    are never part of it, so changing them keeps a resume state valid.
    """
    loop = {"pretrain": pretrain.shaping(), "total_steps": plan.total_steps, "seed": plan.seed}
    return config_hash({"spec": dict(spec), "loop": loop, "world_size": plan.world_size, "inputs": dict(inputs or {})})


# ---- the loop ------------------------------------------------------------------------------------


def train(
    *,
    objective: Objective,
    sampler: BatchSampler,
    clip_cache: ClipSource,
    pretrain: PretrainConfig,
    total_steps: int,
    seed: int,
    out_dir: PathLike,
    resume_dir: PathLike,
    spec: Mapping[str, Any],
    blur: BlurSchedule | None = None,
    lerac: LeracSchedule | None = None,
    lr_schedule: LrSchedule | None = None,
    device: torch.device | str | None = None,
    dist_info: du.DistInfo | None = None,
    inputs: Mapping[str, Any] | None = None,
    keep_resume_state: bool = False,
    show_progress: bool = True,
    tracker: Tracker | None = None,
) -> TrainResult:
    """Train ``objective`` for ``total_steps`` optimiser steps, resuming from ``resume_dir`` if possible.

    ``pretrain.batch_size`` is the global batch: the sampler yields this rank's share of it.
    ``spec`` (the run-shaping keys of the run) is recorded in ``run_spec.json`` and hashed for resume
    together with ``inputs`` (input-file fingerprints, so regenerated inputs never resume old state).
    LeRaC's warm-up makes the main schedule hold the base rate (see the lerac module);
    ``lr_schedule`` replaces the main schedule. The resume state is deleted once the final outputs
    are written (a forced rerun retrains) unless ``keep_resume_state``. ``tracker`` (rank 0's W&B /
    MLflow run, :mod:`devcurriculum.train.tracking`) receives every step's scalars. Under torchrun the process
    group must already be initialised (:func:`devcurriculum.utils.distributed.init_distributed`).
    Only rank 0 writes files.
    """
    info = dist_info or du.DistInfo(0, 1, 0, "single")
    plan = TrainPlan.derive(pretrain, total_steps=total_steps, seed=seed, world_size=info.world_size)
    run_hash = run_config_hash(spec, pretrain=pretrain, plan=plan, inputs=inputs)
    out_dir, resume_dir = Path(out_dir), Path(resume_dir)
    parts = _build_parts(objective, clip_cache, pretrain, plan, info, device, blur, lerac, lr_schedule)
    progress = _resume_or_start(parts, sampler, resume_dir, run_hash, plan, info)
    _log_start(plan, progress.start)

    objective.train()
    # sampler state after each step's draw: the loader draws ahead, a checkpoint needs the state at its step
    sampler_states: dict[int, dict[str, Any]] = {}
    loader = BatchLoader(
        ReadClips(clip_cache), step_jobs(sampler, progress.start, plan.total_steps, sampler_states),
        workers=pretrain.loader_workers, kind=pretrain.loader_kind, pin_memory=parts.device.type == "cuda",
        name=f"pretrain loader (rank {info.rank})",
    )
    t_start = time.perf_counter()
    losses: list[float] = []
    main_process = info.rank == 0
    live = _live_metrics(pretrain, out_dir, spec, plan, progress.start, tracker) if main_process else None
    bar = progress_bar(total=plan.total_steps, initial=progress.start, desc="pretrain", unit="step",
                       enabled=show_progress and main_process)
    try:
        for step in range(progress.start, plan.total_steps):
            t0 = time.perf_counter()
            clips = next(loader, None)
            if clips is None:
                raise RuntimeError(f"the sampler ran out of batches at step {step} of {plan.total_steps}")
            if pretrain.reset_optimizer_each_stage and step > 0 and step % pretrain.steps_per_stage == 0:
                parts.optimizer.state.clear()  # a fresh optimiser per stage (the moments restart)
            record = _checked_step(parts, plan, step, clips, sampler.info(step), progress, resume_dir)
            wall_s = progress.wall_offset + time.perf_counter() - t_start
            row = metrics_row(record, plan, seconds=time.perf_counter() - t0, wall_s=wall_s)
            progress.metrics.append(row)
            losses.append(record.loss)
            bar.update(1)
            done = step + 1
            sampler_state = sampler_states.pop(done)
            if live is not None:
                elapsed = time.perf_counter() - t_start
                _report_step(live, row, progress.metrics, done, plan, pretrain.log_every,
                             rate=(done - progress.start) * plan.global_batch / elapsed if elapsed > 0 else math.nan)
            if main_process and done % pretrain.steps_per_stage == 0:
                log.info("stage %d/%d done at step %d: its weights are after_stage %d", done // plan.steps_per_stage,
                         plan.n_blocks, done, done // plan.steps_per_stage)
                if done < plan.total_steps:
                    save_stage_weights(objective, resume_dir / PENDING_STAGES_DIR, done // pretrain.steps_per_stage, done)
            if done % pretrain.checkpoint_every == 0 or done == plan.total_steps:
                _checkpoint(parts, sampler_state, progress.metrics, done, run_hash, resume_dir, wall_s, main_process)
                progress.last_good = done
    finally:
        loader.close()
        bar.close()
        if live is not None:
            live.close()

    if main_process:
        _write_outputs(objective, progress.metrics, out_dir, spec, plan, run_hash, pretrain.steps_per_stage)
        _publish_stage_weights(resume_dir / PENDING_STAGES_DIR, out_dir / CHECKPOINTS_DIR, out_dir / WEIGHTS_FILE)
        if not keep_resume_state:
            resume_path(resume_dir).unlink(missing_ok=True)
    du.barrier()
    final = progress.metrics.column("loss")[-1] if len(progress.metrics) else math.nan
    return TrainResult(progress.start, plan.total_steps, final, plan.world_size, plan.global_batch, run_hash, out_dir,
                       losses)


def step_jobs(
    sampler: BatchSampler, start: int, total: int, states: dict[int, dict[str, Any]]
) -> Iterator[StepJob]:
    """The loader's jobs: each step's indices from ``sampler``, drawn in step order (in the main process).

    ``states[step + 1]`` is the sampler's state right after step ``step``'s draw, i.e. what a resume
    state written after that step must hold, however far ahead the loader has drawn meanwhile.
    """
    batches = iter(sampler)
    for step in range(start, total):
        indices = next(batches, None)
        if indices is None:
            return
        states[step + 1] = sampler.state_dict()
        yield StepJob(step, tuple(int(i) for i in indices))


def _loss_readback(loss_mean: torch.Tensor) -> Callable[[], float]:
    """Start copying the 0-d ``loss_mean`` to the host; the returned call waits for it (the step's host sync).

    On CUDA the copy goes into pinned memory behind the forward pass and an event marks it, so work
    queued after this call (the backward pass) keeps the device busy while the host waits.
    """
    if loss_mean.device.type != "cuda":
        return lambda: float(loss_mean)
    host = torch.empty((), dtype=loss_mean.dtype, pin_memory=True)  # pinned: the copy does not block the host
    host.copy_(loss_mean, non_blocking=True)
    copied = torch.cuda.Event()
    copied.record()

    def wait() -> float:
        copied.synchronize()
        return float(host)

    return wait


def _train_step(parts: _Parts, plan: TrainPlan, step: int, clips: torch.Tensor, info: SamplerStepInfo) -> StepRecord:
    """One optimiser step on this rank's uint8 ``clips``; raises :class:`NonFiniteLossError` before updating."""
    blur_state = parts.blur.at(step) if parts.blur is not None else None
    stage_step, stage_steps = plan.stage_block(step)
    context = StepContext(
        step=step,
        total_steps=plan.total_steps,
        stage=info.stage,
        stage_step=stage_step,
        stage_steps=stage_steps,
        pool=info.pool,
        effective_fraction=info.effective_fraction,
        temperature=info.temperature,
        blur_sigma=blur_state.sigma if blur_state is not None else 0.0,
    )
    base_lr, lrs = group_rates(step, parts.main_lr, parts.lerac, len(parts.optimizer.param_groups))
    for group, lr in zip(parts.optimizer.param_groups, lrs, strict=True):
        group["lr"] = lr
    parts.objective.set_step_context(context)
    sigmas = blur_sigmas(parts.blur, step, seed=plan.seed, rank=parts.rank, world_size=plan.world_size,
                         per_rank=int(clips.shape[0]))
    batch = device_batch(clips, parts.device, sigmas, parts.blur.kernel_size if parts.blur is not None else None)

    parts.optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=parts.device.type, dtype=torch.bfloat16, enabled=parts.use_bf16):
        loss = parts.runner(batch, step)
    read_loss = _loss_readback(du.all_reduce_mean(loss.detach().float()))
    # Backward before the check: it changes no weights, and on a GPU it is queued while the host waits.
    loss.backward()
    if parts.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(parts.objective.parameters(), parts.grad_clip)
    loss_mean = read_loss()
    if not math.isfinite(loss_mean):
        raise NonFiniteLossError(
            f"non-finite loss {loss_mean} at step {step} (mean over {plan.world_size} rank(s)); training stopped"
        )
    parts.optimizer.step()
    parts.objective.after_step(step, plan.total_steps)
    blur_prob = blur_state.prob if blur_state is not None else 0.0
    return StepRecord(context, blur_prob, loss_mean, base_lr, min(lrs), max(lrs), tuple(lrs))


def _live_metrics(
    pretrain: PretrainConfig, out_dir: Path, spec: Mapping[str, Any], plan: TrainPlan, start: int,
    tracker: Tracker | None = None,
) -> LiveMetrics:
    """Rank 0's growing ``metrics.parquet`` (and TensorBoard events when ``pretrain.tensorboard``, the tracker's)."""
    return LiveMetrics(
        out_dir / METRICS_FILE,
        metadata=_metrics_metadata(spec, plan, complete=False),
        tensorboard_dir=out_dir / TENSORBOARD_DIR if pretrain.tensorboard else None,
        start_step=start,
        tracker=tracker,
        run=run_columns(spec),
    )


def _report_step(
    live: LiveMetrics, row: Mapping[str, Any], metrics: MetricsLog, done: int, plan: TrainPlan, log_every: int,
    rate: float = math.nan,
) -> None:
    """Rank 0 after a step: TensorBoard scalars; every ``log_every`` steps a loss line and a metrics flush.

    The line's ``stage k/n`` counts blocks of ``steps_per_stage`` steps from 1: the block whose end gives
    the weights ``after_stage k`` (checkpoints/, summary.parquet). metrics.parquet's ``stage`` column is
    the curriculum stage's index from 0 (a ``mixed`` run has one stage, 0, and several blocks).
    ``rate`` is the global samples per second since this process started training; the line shows it
    and the time left at that rate.
    """
    live.record(row)
    total = plan.total_steps
    if done % log_every == 0 or done == total:
        block = (done - 1) // plan.steps_per_stage + 1
        eta = (total - done) * row["global_batch"] / rate if rate > 0 else math.nan
        log.info("step %d/%d loss %.6f lr %.3g stage %d/%d, %.1f samples/s, ETA %s", done, total, row["loss"],
                 row["lr"], block, plan.n_blocks, rate, format_duration(eta))
        if done < total:  # the final table is written with the weights
            live.flush(metrics)


def _checked_step(
    parts: _Parts,
    plan: TrainPlan,
    step: int,
    clips: torch.Tensor,
    info: SamplerStepInfo,
    progress: _Progress,
    resume_dir: Path,
) -> StepRecord:
    """:func:`_train_step`, with a non-finite loss reported together with the resume state that is kept."""
    try:
        return _train_step(parts, plan, step, clips, info)
    except NonFiniteLossError as exc:
        kept = (
            f"the last good resume state (step {progress.last_good}) is kept at {resume_path(resume_dir)}"
            if progress.last_good is not None
            else "no resume state had been saved yet"
        )
        raise NonFiniteLossError(f"{exc}, {kept}") from None


def metrics_row(record: StepRecord, plan: TrainPlan, *, seconds: float, wall_s: float) -> dict[str, Any]:
    """The ``metrics.parquet`` row of one step (columns: :data:`devcurriculum.train.metrics.COLUMNS`)."""
    ctx = record.context
    return {
        "step": ctx.step,
        "loss": record.loss,
        "lr": record.lr,
        "lr_min": record.lr_min,
        "lr_max": record.lr_max,
        "lr_groups": list(record.lr_groups),
        "stage": ctx.stage,
        "pool": "+".join(ctx.pool),
        "effective_fraction": ctx.effective_fraction,
        "temperature": ctx.temperature,
        "blur_sigma": ctx.blur_sigma,
        "blur_prob": record.blur_prob,
        "samples_per_s": plan.global_batch / seconds if seconds > 0 else math.nan,
        "wall_s": wall_s,
        "global_batch": plan.global_batch,
    }


# ---- setup, resume, outputs ----------------------------------------------------------------------


def _build_parts(
    objective: Objective,
    clip_cache: ClipSource,
    pretrain: PretrainConfig,
    plan: TrainPlan,
    info: du.DistInfo,
    device: torch.device | str | None,
    blur: BlurSchedule | None,
    lerac: LeracSchedule | None,
    lr_schedule: LrSchedule | None,
) -> _Parts:
    """Place the objective on its device and build the optimiser and the (DDP) loss module."""
    if info.is_distributed and not torch.distributed.is_initialized():
        raise RuntimeError(
            f"rank {info.rank}/{info.world_size}: call init_distributed() before train() (no process group)"
        )
    if device is None:
        device = du.default_device(info)
    device = torch.device(device)
    use_bf16 = pretrain.precision == "bf16" and device.type == "cuda"
    if pretrain.precision == "bf16" and not use_bf16:
        log.warning("pretrain.precision is bf16 but the device is %s: training in fp32", device)
    objective.to(device)
    optimizer = build_optimizer(objective, pretrain)
    runner: nn.Module = _LossModule(objective)
    if info.is_distributed:
        runner = DistributedDataParallel(
            runner,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=bool(getattr(objective, "find_unused_parameters", False)),
        )
    main_lr = lr_schedule or main_schedule(pretrain, plan.total_steps, lerac)
    return _Parts(objective, runner, optimizer, clip_cache, blur, lerac, main_lr, device, use_bf16,
                  pretrain.grad_clip, info.rank)


def _resume_or_start(
    parts: _Parts, sampler: BatchSampler, resume_dir: Path, run_hash: str, plan: TrainPlan, info: du.DistInfo
) -> _Progress:
    """Restore model, optimiser, sampler, metrics and RNG from a matching resume state, else seed afresh."""
    state = load_resume_state(resume_dir, run_hash)
    if state is not None and state.step > plan.total_steps:
        log.warning("resume state is at step %d beyond total %d: starting fresh", state.step, plan.total_steps)
        state = None
    if state is None:
        # stage weights of an earlier, different run must not be published with this one
        shutil.rmtree(resume_dir / PENDING_STAGES_DIR, ignore_errors=True)
        _seed_everything(plan.seed * 1009 + info.rank)
        return _Progress(0, 0.0, MetricsLog(), None)
    parts.objective.load_state_dict(state.model)
    parts.optimizer.load_state_dict(state.optimizer)
    sampler.load_state_dict(state.samplers[info.rank])
    # Last, so nothing between here and the first step consumes random numbers.
    restore_rng(state.rngs[info.rank], parts.objective)
    log.info("resuming from step %d of %d (%s)", state.step, plan.total_steps, resume_path(resume_dir))
    return _Progress(state.step, state.wall_s, MetricsLog.from_state(state.metrics, up_to_step=state.step), state.step)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _log_start(plan: TrainPlan, start: int) -> None:
    log.info("training steps %d..%d: global batch %d = %d per rank x %d rank(s)", start, plan.total_steps,
             plan.global_batch, plan.rank_batch, plan.world_size)


def _checkpoint(
    parts: _Parts,
    sampler_state: Mapping[str, Any],
    metrics: MetricsLog,
    step: int,
    run_hash: str,
    resume_dir: Path,
    wall_s: float,
    main_process: bool,
) -> None:
    """Gather every rank's sampler state (``sampler_state``: after this step's draw) and RNG state; rank 0
    writes ``last.pt``."""
    rngs = du.all_gather_objects(capture_rng(parts.objective))
    samplers = du.all_gather_objects(dict(sampler_state))
    if not main_process:
        return
    state = ResumeState(
        step=step,
        config_hash=run_hash,
        model={k: v.detach().cpu() for k, v in parts.objective.state_dict().items()},  # saved before the next step
        optimizer=parts.optimizer.state_dict(),
        samplers=samplers,
        rngs=rngs,  # type: ignore[arg-type]
        metrics=metrics.state_dict(),
        wall_s=wall_s,
    )
    save_resume_state(resume_dir, state)


def stage_weights_name(after_stage: int) -> str:
    return f"after_stage{after_stage}.safetensors"


def save_stage_weights(objective: Objective, folder: Path, after_stage: int, step: int) -> Path:
    """The weights after ``after_stage`` stages (``step`` optimiser steps), with both in the file's header."""
    path = folder / stage_weights_name(after_stage)
    save_weights(objective.state_dict(), path, metadata={"after_stage": str(after_stage), "step": str(step)})
    return path


def _publish_stage_weights(pending: Path, checkpoints: Path, final_weights: Path) -> None:
    """Move the stage weights into ``checkpoints/`` and add the final stage (a hard link to the final weights)."""
    from safetensors import safe_open

    with safe_open(str(final_weights), framework="pt") as fh:
        last = (fh.metadata() or {}).get("after_stage")
    shutil.rmtree(checkpoints, ignore_errors=True)
    checkpoints.mkdir(parents=True)
    for path in sorted(pending.glob("after_stage*.safetensors*")):  # with their .sha256 sidecars
        os.replace(path, checkpoints / path.name)
    if last is not None:
        link_file(final_weights, checkpoints / stage_weights_name(int(last)))
    shutil.rmtree(pending, ignore_errors=True)


def _metrics_metadata(spec: Mapping[str, Any], plan: TrainPlan, *, complete: bool) -> dict[str, str]:
    """Provenance of ``metrics.parquet``; ``devcurriculum.complete`` is false in the tables written mid-run."""
    return provenance("pretrain", dict(spec), world_size=plan.world_size, global_batch=plan.global_batch,
                      complete="true" if complete else "false")


def _write_outputs(
    objective: Objective,
    metrics: MetricsLog,
    out_dir: Path,
    spec: Mapping[str, Any],
    plan: TrainPlan,
    run_hash: str,
    steps_per_stage: int,
) -> None:
    """Final artifacts (rank 0): metrics table, run_spec.json, then the weights."""
    metrics.write(out_dir / METRICS_FILE, metadata=_metrics_metadata(spec, plan, complete=True), run=run_columns(spec))
    atomic_write_json(
        out_dir / SPEC_FILE,
        {
            "spec": dict(spec),
            "global_batch": plan.global_batch,
            "rank_batch": plan.rank_batch,
            "world_size": plan.world_size,
            "total_steps": plan.total_steps,
            "config_hash": run_hash,
            "version": __version__,
        },
    )
    header = {"step": str(plan.total_steps)}
    if plan.total_steps % steps_per_stage == 0:
        header["after_stage"] = str(plan.total_steps // steps_per_stage)
    with atomic_dir(out_dir / EXPORT_DIR) as export:
        objective.export_encoder(export)
    mark_run_folder(out_dir)  # from_pretrained(<run folder>) must fail, not load a random model
    save_weights(objective.state_dict(), out_dir / WEIGHTS_FILE, metadata=header)
    log.info("wrote %s, %s and %s in %s", WEIGHTS_FILE, METRICS_FILE, SPEC_FILE, out_dir)
