"""The data path of the inference stages (embed, surprise, extract_features): training's loader and device.

Each stage lists its *jobs* (which clips, or which windows or frames of which clips, make one batch)
and a ``read`` that turns a job into uint8 pixels. :func:`device_batches` reads the jobs ahead with
``workers`` threads or processes (:class:`~devcurriculum.datasets.loader.BatchLoader`, as the training
loop does), copies each uint8 batch to the device (non-blocking, from pinned memory on CUDA) and yields
it there; normalisation and resizing run on the device. :class:`EvalDevice` chooses the device as
training does (:func:`~devcurriculum.utils.distributed.default_device`: the GPU when there is one) and
bf16 autocast where training uses it (``pretrain.precision: bf16``, on CUDA only). Results stay on
the device until a stage has them all, so a batch costs no host sync.

A stage calls it in a few lines::

    dev = EvalDevice.choose(precision)
    for clips in device_batches(read, jobs, device=dev.device, loading=loading, name="embed"):
        with dev.autocast():
            out.append(model(to_model_batch(clips)))
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from devcurriculum.config import PretrainConfig
from devcurriculum.datasets.loader import BatchLoader, LoaderKind

J = TypeVar("J")


@dataclass(frozen=True)
class Loading:
    """How an inference stage reads its clips: ``workers`` loader threads or processes (``kind``)."""

    workers: int = 0
    kind: LoaderKind = "thread"


#: read each batch when it is needed, in the calling thread (the default of every inference stage)
NO_WORKERS = Loading()


@dataclass(frozen=True)
class EvalDevice:
    """Where an inference stage computes, and whether under bf16 autocast."""

    device: torch.device
    bf16: bool = False

    @classmethod
    def choose(cls, precision: str = PretrainConfig.precision, device: torch.device | str | None = None) -> EvalDevice:
        """``device`` or the one training would use; bf16 only for ``precision: bf16`` on CUDA (as training)."""
        from devcurriculum.utils.distributed import default_device

        dev = torch.device(device) if device is not None else default_device()
        return cls(dev, precision == "bf16" and dev.type == "cuda")

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """bf16 autocast on CUDA when :attr:`bf16`, else nothing."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)


def device_batches(
    read: Callable[[J], np.ndarray],
    jobs: Iterable[J],
    *,
    device: torch.device,
    loading: Loading = NO_WORKERS,
    describe: Callable[[J], str] = str,
    name: str = "loader",
) -> Generator[torch.Tensor, None, None]:
    """The uint8 batches ``read(job)`` of ``jobs``, in order, on ``device`` (read ahead by ``loading.workers``)."""
    with BatchLoader(read, jobs, workers=loading.workers, kind=loading.kind, pin_memory=device.type == "cuda",
                     describe=describe, name=name) as loader:
        for clips in loader:
            yield clips.to(device, non_blocking=True)


def to_host(chunks: list[torch.Tensor], width: int | None = None) -> np.ndarray:
    """The stage's per-batch results, concatenated on their device and copied to the host once (float32)."""
    if not chunks:
        return np.zeros((0, width or 0), dtype=np.float32)
    return torch.cat([c.detach().to(torch.float32) for c in chunks]).cpu().numpy()
