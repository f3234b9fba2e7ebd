"""Training with loader workers (``pretrain.loader_workers``): the same weights for any worker count and kind,
an exact resume, a killed worker that fails the run naming it, and the device-side batch equal to the CPU path."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file
from test_loop import TinyClipCache, run_tiny

from devcurriculum.config import BlurConfig
from devcurriculum.curriculum.blur import BlurSchedule, apply_blur
from devcurriculum.datasets.clip_dataset import to_model_batch
from devcurriculum.datasets.loader import LoaderWorkerError
from devcurriculum.train.batch import blur_sigmas, device_batch, make_batch
from devcurriculum.train.loop import NonFiniteLossError

BLUR = BlurConfig(variant="random_sigma", until_fraction=0.5)


def _blur(total: int) -> BlurSchedule:
    return BlurSchedule.from_config(BLUR, total_steps=total)


def _same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_file(str(a)), load_file(str(b))
    return set(wa) == set(wb) and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_zero_and_three_workers_train_identical_weights(tmp_path: Path) -> None:
    """Batches are a pure function of (step, rank, seed): threads or processes only read them ahead."""
    ref, _ = run_tiny(tmp_path, total=8, blur=_blur(8), out="w0", resume="r0")
    for kind in ("thread", "process"):
        got, _ = run_tiny(tmp_path, total=8, blur=_blur(8), out=f"w3{kind}", resume=f"r3{kind}",
                          pretrain={"loader_workers": 3, "loader_kind": kind})
        assert got.losses == ref.losses, kind
        assert _same_weights(tmp_path / "w0" / "model.safetensors", tmp_path / f"w3{kind}" / "model.safetensors"), kind


def test_resume_mid_run_with_workers_is_bit_identical(tmp_path: Path) -> None:
    """A run with 3 process workers stops at step 6 (state at 4, while batches 5.. were read ahead); the
    rerun with 2 thread workers ends where an uninterrupted run without workers does."""
    full, _ = run_tiny(tmp_path, total=8, blur=_blur(8), out="full", resume="rfull")
    with pytest.raises(NonFiniteLossError):
        run_tiny(tmp_path, total=8, blur=_blur(8), nan_at=6, out="part", resume="rpart",
                 pretrain={"loader_workers": 3, "loader_kind": "process"})
    resumed, _ = run_tiny(tmp_path, total=8, blur=_blur(8), out="part", resume="rpart",
                          pretrain={"loader_workers": 2})
    assert resumed.start_step == 4
    assert pq.read_table(tmp_path / "part" / "metrics.parquet").column("loss").to_pylist() == full.losses
    assert _same_weights(tmp_path / "full" / "model.safetensors", tmp_path / "part" / "model.safetensors")


class DyingCache(TinyClipCache):
    """Kills the process reading it (a loader worker, never the trainer) on its third read."""

    def __init__(self, trainer_pid: int) -> None:
        super().__init__()
        self.trainer_pid, self.reads = trainer_pid, 0

    def get(self, indices):  # type: ignore[no-untyped-def]
        self.reads += 1
        if os.getpid() != self.trainer_pid and self.reads == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().get(indices)


def test_a_killed_loader_worker_fails_the_run_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import test_loop

    monkeypatch.setattr(test_loop, "TinyClipCache", lambda seed=0: DyingCache(os.getpid()))
    with pytest.raises(LoaderWorkerError) as info:
        run_tiny(tmp_path, total=8, pretrain={"loader_workers": 1, "loader_kind": "process", "checkpoint_every": 1})
    message = str(info.value)
    assert "pretrain loader (rank 0) worker 0 of 1 (pid " in message
    assert "was killed by signal 9 (SIGKILL) while reading step 2 (clips [" in message
    assert not (tmp_path / "out" / "model.safetensors").exists()
    assert torch.load(tmp_path / "resume" / "last.pt", weights_only=True)["step"] == 2  # the steps before it count


def test_the_device_batch_is_the_cpu_path() -> None:
    """On the CPU the loop's path (uint8 tensor -> device_batch) is the reference arithmetic, bit for bit."""
    cache = TinyClipCache()
    idx = list(range(6))
    blur = _blur(8)
    clips = torch.from_numpy(cache.get(idx))
    assert torch.equal(device_batch(clips, torch.device("cpu")), to_model_batch(cache.get(idx)))
    sigmas = blur_sigmas(blur, 0, seed=3, rank=0, world_size=1, per_rank=6)
    assert sigmas is not None and bool((sigmas >= 0.1).all())
    expected = (apply_blur(clips.permute(0, 1, 4, 2, 3).float() / 255.0, sigmas) - 0.5) / 0.25
    assert torch.equal(device_batch(clips, torch.device("cpu"), sigmas), expected)
    assert torch.equal(make_batch(cache, idx, 0, blur=blur, seed=3, rank=0, world_size=1), expected)
    assert blur_sigmas(blur, 4, seed=3, rank=0, world_size=1, per_rank=6) is None  # blur over


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_gpu_batch_matches_the_cpu_batch_within_float_tolerance() -> None:
    cache = TinyClipCache(size=32)
    idx = list(range(6))
    blur = _blur(8)
    clips = torch.from_numpy(cache.get(idx)).pin_memory()
    sigmas = blur_sigmas(blur, 0, seed=3, rank=0, world_size=1, per_rank=6)
    for s in (None, sigmas):
        cpu = device_batch(clips, torch.device("cpu"), s)
        gpu = device_batch(clips, torch.device("cuda"), s)
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-5, atol=1e-5)
    assert np.isfinite(cpu.numpy()).all()


def test_the_training_log_shows_samples_per_second_and_an_eta(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    with caplog.at_level(logging.INFO, logger="devcurriculum.train.loop"):
        run_tiny(tmp_path, total=8, pretrain={"log_every": 4, "loader_workers": 2})
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    assert [line.split(" loss")[0] for line in lines] == ["step 4/8", "step 8/8"]
    assert all(" samples/s, ETA " in line for line in lines)
    assert lines[-1].endswith("samples/s, ETA 0 s")
