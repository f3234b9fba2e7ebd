"""The batch loader: batches in job order whatever the workers, jobs drawn in the calling thread, errors
that name the worker and the job (a killed worker process included), no worker left behind."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from devcurriculum.datasets.loader import BatchLoader, LoaderWorkerError, default_prefetch, how_it_died

CLIPS = np.random.default_rng(0).integers(0, 256, size=(20, 2, 4, 4, 3), dtype=np.uint8)


class Read:
    """``job -> CLIPS[job]`` (a list of rows), optionally slow, failing or dying on one job."""

    def __init__(self, delay_s: float = 0.0, fail_on: int | None = None, die_on: int | None = None) -> None:
        self.delay_s, self.fail_on, self.die_on = delay_s, fail_on, die_on

    def __call__(self, job: list[int]) -> np.ndarray:
        if self.delay_s:
            time.sleep(self.delay_s)
        if job[0] == self.fail_on:
            raise ValueError(f"clip {job[0]} is corrupt")
        if job[0] == self.die_on:
            os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does to a worker
        return CLIPS[job]


JOBS = [[i, (i * 7) % 20, (i * 3) % 20] for i in range(12)]


@pytest.mark.parametrize(("workers", "kind"), [(0, "thread"), (1, "thread"), (3, "thread"), (1, "process"),
                                               (3, "process")])
def test_batches_come_in_job_order_equal_to_the_read(workers: int, kind: str) -> None:
    drawn_by: set[int] = set()
    ahead: list[int] = []

    def jobs():
        for job in JOBS:
            drawn_by.add(threading.get_ident())
            yield job

    with BatchLoader(Read(delay_s=0.002), jobs(), workers=workers, kind=kind, prefetch=4) as loader:
        got = []
        for batch in loader:
            assert batch.dtype == torch.uint8
            got.append(batch.clone())  # a process batch is valid until the next one is taken
            ahead.append(loader._next_submit - loader._next_take)
    assert len(got) == len(JOBS)
    for job, batch in zip(JOBS, got, strict=True):
        assert torch.equal(batch, torch.from_numpy(CLIPS[job]))
    assert drawn_by == {threading.get_ident()}  # the sampler is only touched by the loop's thread
    assert max(ahead) <= (4 if workers else 1) - 1  # bounded: at most `prefetch` jobs drawn ahead


def test_default_prefetch_is_two_per_worker() -> None:
    assert [default_prefetch(w) for w in (0, 1, 3)] == [1, 2, 6]
    with pytest.raises(ValueError, match="loader workers must be >= 0"):
        BatchLoader(Read(), [], workers=-1)
    with pytest.raises(ValueError, match="loader kind must be one of"):
        BatchLoader(Read(), [], kind="fibre")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_an_error_in_a_worker_keeps_its_type_and_names_the_job(kind: str) -> None:
    with BatchLoader(Read(fail_on=2), JOBS, workers=2, kind=kind, describe=lambda j: f"step {j[0]}") as loader:
        assert torch.equal(next(loader), torch.from_numpy(CLIPS[JOBS[0]]))
        next(loader)
        with pytest.raises(ValueError, match="clip 2 is corrupt") as info:
            next(loader)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "while reading step 2" in notes
    if kind == "process":
        assert "worker 0 of 2 (pid " in notes  # job 2 went to worker 2 % 2


def test_a_killed_worker_process_fails_the_loop_naming_it_and_its_job() -> None:
    loader = BatchLoader(Read(die_on=3), JOBS, workers=2, kind="process", name="pretrain loader (rank 0)",
                         describe=lambda j: f"step {j[0]} (clips {j})")
    pids = loader.worker_pids
    assert len(pids) == 2
    for _ in range(3):
        next(loader)
    with pytest.raises(LoaderWorkerError) as info:
        next(loader)
    message = str(info.value)
    assert message.startswith(f"pretrain loader (rank 0) worker 1 of 2 (pid {pids[1]}) was killed by signal 9 "
                              f"(SIGKILL) while reading step 3 (clips {JOBS[3]})")
    assert "rerun it" in message
    _gone(pids)  # the other worker was stopped too


def test_closing_stops_the_worker_processes() -> None:
    loader = BatchLoader(Read(delay_s=0.01), JOBS, workers=2, kind="process")
    next(loader)
    pids = loader.worker_pids
    loader.close()
    _gone(pids)
    with pytest.raises(StopIteration):
        next(loader)


def test_a_process_batch_that_is_not_pixels_travels_whole() -> None:
    def read(job: list[int]) -> np.ndarray:
        return np.asarray(job, dtype=np.float64) / 2

    with BatchLoader(read, JOBS[:3], workers=1, kind="process") as loader:
        assert [b.tolist() for b in loader] == [[v / 2 for v in job] for job in JOBS[:3]]


def test_how_a_process_ended_is_said_in_words() -> None:
    assert how_it_died(-9) == "was killed by signal 9 (SIGKILL)"
    assert how_it_died(1) == "exited with code 1"
    assert how_it_died(None) == "is running"


def _gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 10
    for pid in pids:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            stat_file = Path(f"/proc/{pid}/stat")
            stat = stat_file.read_text().rsplit(")", 1)[1].split()[0] if stat_file.exists() else "Z"
            if stat == "Z":
                break
            assert time.monotonic() < deadline, f"loader worker {pid} is still alive"
            time.sleep(0.05)
