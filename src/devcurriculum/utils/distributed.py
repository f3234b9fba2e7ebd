"""Rank discovery and process-group set-up for torchrun / SLURM / single-process runs.

Order of discovery matters on clusters: inside a SLURM jobstep every torchrun worker inherits the
jobstep's ``SLURM_PROCID`` (0 for a one-task step), so the torchrun variables (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``) must win. SLURM variables are only a fallback for ``srun python ...``
launches without torchrun (docs/training.md "Rank discovery").
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger("devcurriculum.utils.distributed")

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
SLURM_VARS = ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID")


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job: ``source`` is ``torchrun``, ``slurm`` or ``single``."""

    rank: int
    world_size: int
    local_rank: int
    source: str

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _int_var(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        if default is None:
            raise RuntimeError(f"environment variable {name} is required for rank discovery but is not set")
        return default
    try:
        return int(raw)
    except ValueError:
        raise RuntimeError(f"environment variable {name}={raw!r} is not an integer") from None


def _checked(info: DistInfo) -> DistInfo:
    if info.world_size < 1:
        raise RuntimeError(f"world size must be >= 1, got {info.world_size} (from {info.source} variables)")
    if not 0 <= info.rank < info.world_size:
        raise RuntimeError(
            f"rank {info.rank} is outside world size {info.world_size} (from {info.source} variables)"
        )
    if info.local_rank < 0:
        raise RuntimeError(f"local rank must be >= 0, got {info.local_rank} (from {info.source} variables)")
    return info


def discover_rank(env: Mapping[str, str] | None = None) -> DistInfo:
    """Read this process's rank: torchrun variables first, SLURM variables as fallback, else single.

    ``env`` defaults to ``os.environ`` (tests pass a dict).
    """
    env = os.environ if env is None else env
    if "RANK" in env or "WORLD_SIZE" in env:
        # torchrun always sets all three; a half-set environment is a launcher bug worth naming.
        rank = _int_var(env, "RANK")
        world = _int_var(env, "WORLD_SIZE")
        local = _int_var(env, "LOCAL_RANK", default=rank)
        return _checked(DistInfo(rank, world, local, "torchrun"))
    if "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
        rank = _int_var(env, "SLURM_PROCID")
        world = _int_var(env, "SLURM_NTASKS")
        local = _int_var(env, "SLURM_LOCALID", default=0)
        if world > 1:
            return _checked(DistInfo(rank, world, local, "slurm"))
    return DistInfo(0, 1, 0, "single")


def default_device(info: DistInfo | None = None) -> torch.device:
    """The device a stage of this process computes on: ``cuda:<local rank>`` when CUDA is available, else the CPU.

    Training, embedding, surprise and feature extraction all choose it here (``info`` defaults to
    :func:`discover_rank`: local rank 0 outside torchrun). Its type picks the process-group backend
    (:func:`backend_for`).
    """
    if not torch.cuda.is_available():
        return torch.device("cpu")
    info = discover_rank() if info is None else info
    return torch.device(f"cuda:{info.local_rank}")


def backend_for(device: torch.device | str) -> str:
    """NCCL for CUDA devices, gloo otherwise (CPU runs and tests)."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init_distributed(device: torch.device | str, info: DistInfo | None = None) -> DistInfo:
    """Join the process group when ``world_size > 1`` (backend chosen from ``device``); no-op otherwise.

    With torchrun, ``MASTER_ADDR``/``MASTER_PORT`` are set by the launcher; a SLURM fallback launch
    must export them itself (the error says so rather than hanging).
    """
    info = discover_rank() if info is None else info
    if not info.is_distributed or dist.is_initialized():
        return info
    missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(v)]
    if missing:
        raise RuntimeError(
            f"rank {info.rank}/{info.world_size} (from {info.source}) needs {', '.join(missing)} in the "
            "environment to join the process group; launch with torchrun or export them"
        )
    device = torch.device(device)
    backend = backend_for(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
    log.info("joined process group: rank %d/%d (%s, backend %s)", info.rank, info.world_size, info.source, backend)
    return info


def cleanup() -> None:
    """Leave the process group if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main() -> bool:
    """True on rank 0, or when not running distributed (only rank 0 writes artifacts)."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def barrier() -> None:
    if _active():
        dist.barrier()


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of ``tensor`` over ranks (a new tensor; the input is left untouched)."""
    out = tensor.detach().clone()
    if _active():
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        out /= dist.get_world_size()
    return out


def all_gather_objects(obj: object) -> list[object]:
    """Every rank's ``obj`` in rank order (``[obj]`` when not distributed); used for per-rank RNG state."""
    if not _active():
        return [obj]
    out: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out
