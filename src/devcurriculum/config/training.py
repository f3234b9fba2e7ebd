"""``pretrain``: the one training loop shared by every objective."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from devcurriculum.config.block import ConfigBlock, runtime


@dataclasses.dataclass(frozen=True)
class PretrainConfig(ConfigBlock):
    """``pretrain``: the one training loop shared by every objective."""

    SCHEMA: ClassVar[str] = "#/properties/pretrain"
    WHERE: ClassVar[str] = "pretrain"

    steps_per_stage: int = 50
    batch_size: int = 8
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = 1.0e-3
    momentum: float = 0.9
    weight_decay: float = 0.05
    warmup_steps: int = 10
    min_lr: float = 1.0e-5
    lr_schedule: Literal["continuous", "per_stage", "constant"] = "continuous"
    lr_stage_factors: tuple[float, ...] | None = None
    reset_optimizer_each_stage: bool = False
    grad_clip: float | None = 1.0
    precision: Literal["fp32", "bf16"] = "fp32"
    nproc: int = runtime(1, why="the global batch is fixed, so the process count only splits the work")
    threads: int = runtime(2, why="intra-op threads change speed, not results")
    checkpoint_every: int = runtime(100, why="resume states are bit-identical to an uninterrupted run")
    log_every: int = runtime(10, why="how often the log prints a loss line and metrics.parquet is rewritten")
    tensorboard: bool = runtime(False, why="TensorBoard events repeat what metrics.parquet records")
    loader_workers: int = runtime(0, why="a batch is a pure function of (step, rank, seed): workers only read it ahead")
    loader_kind: Literal["thread", "process"] = runtime("thread", why="threads and processes read the same bytes")
    bucket_steps: int | Literal["auto"] = "auto"
    deterministic: bool = True
