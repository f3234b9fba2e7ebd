"""Batches read ahead of the loop that consumes them: uint8 clips by worker threads or processes, in order.

The consuming loop (training, embedding, surprise, feature extraction) gives the loader an iterable of
*jobs* and a ``read`` function that turns one job into a uint8 array (for training a job is a step and
its clip indices, drawn by the sampler in the main process in step order). ``workers`` threads or
processes read up to ``prefetch`` jobs ahead; the loop receives the batches in job order, so a batch
is a pure function of its job and nothing the loop computes depends on the worker count or kind. The
jobs are drawn from their iterable in the main thread, only inside :meth:`BatchLoader.__next__`, so a
sampler with state (the curriculum sampler's bucket table) is never touched by two threads.

Only uint8 pixels travel: every float operation (normalisation, blur, resizing) runs after the batch
reached the device (``train/batch.py``, ``eval/batches.py``), where it is cheap on a GPU.

- ``workers = 0``: the job is read in the calling thread when the batch is asked for (no thread, no
  process, nothing ahead: the synchronous path, what the demo's tiny batches use).
- ``kind = "thread"``: a thread pool; a worker writes the batch into pinned memory itself when
  ``pin_memory`` (CUDA), so the host-to-device copy can be non-blocking. The reads release the GIL
  (memory-map copies, libjpeg-turbo decoding), so threads run in parallel.
- ``kind = "process"`` (Linux): forked worker processes (they die with the loop's process,
  :mod:`devcurriculum.utils.lifeline`); job ``i`` goes to worker ``i % workers``, which copies the
  batch into one of its shared-memory slots (anonymous memory files, allocated once and reused: a
  fresh shared allocation per batch costs more than the read; nothing is named, so a killed job
  leaves nothing in ``/dev/shm``) and sends back only the slot's number. A batch from a process is a
  view of its slot, **valid until the next batch is taken** (the slot is then reused); the training
  loop and the inference stages use a batch before they take the next one. With ``pin_memory`` the
  loop's thread copies the batch into pinned memory instead and frees the slot at once. A worker that
  dies (killed by the OOM killer, a signal, a crash in native code) fails the loop with
  :class:`LoaderWorkerError`, which names the worker, its pid, how it died and the job it was reading.

Which kind is faster for which cache format was measured (``benchmarks/gpu_feed.py``,
docs/performance.md "Feeding the GPU"). An exception raised by ``read`` reaches the loop with its own
type, with a note naming the worker and the job.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import mmap
import os
import pickle
import signal
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar

import numpy as np
import torch

log = logging.getLogger("devcurriculum.datasets.loader")

J = TypeVar("J")
LoaderKind = Literal["thread", "process"]
LOADER_KINDS: tuple[str, ...] = ("thread", "process")
#: how often the loop, waiting for a process worker's batch, checks that the worker is alive (s)
LIVENESS_POLL_S = 0.2


class LoaderWorkerError(RuntimeError):
    """A loader worker process died (or failed in a way that could not be sent back) while reading."""


def default_prefetch(workers: int) -> int:
    """Batches in flight when not given: two per worker (one being read, one waiting), at least one."""
    return max(1, 2 * workers)


def _as_tensor(array: np.ndarray, pin_memory: bool) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.pin_memory() if pin_memory else tensor


def _read_tensor(read: Callable[[Any], np.ndarray], job: Any, pin_memory: bool) -> torch.Tensor:
    return _as_tensor(read(job), pin_memory)


def how_it_died(exitcode: int | None) -> str:
    """``killed by signal 9 (SIGKILL)`` / ``exited with code 1`` from a process's exit code."""
    if exitcode is None:
        return "is running"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        return f"was killed by signal {-exitcode} ({name})"
    return f"exited with code {exitcode}"


def _portable_error(exc: BaseException) -> tuple[bytes | None, str, str]:
    """What a worker process sends back for an exception: the pickled exception if it pickles, its text."""
    text = "".join(traceback.format_exception(exc))
    try:
        payload: bytes | None = pickle.dumps(exc)
    except Exception:  # an exception holding an unpicklable object: send its text only
        payload = None
    return payload, f"{type(exc).__name__}: {exc}", text


def _map(fd: int, nbytes: int) -> np.ndarray:
    """A shared uint8 mapping of ``nbytes`` of the file ``fd`` (the mapping outlives the descriptor)."""
    return np.frombuffer(mmap.mmap(fd, nbytes), dtype=np.uint8)


def _process_worker(index: int, read: Callable[[Any], np.ndarray], inbox: Any, outbox: Any) -> None:
    """A worker process: read each ``(seq, slot, job)`` of ``inbox`` into its shared-memory slot ``slot``.

    It sends ``(seq, index, slot, shape, new_slot, payload)`` through its own socket ``outbox`` before
    it takes the next job (a worker that dies has delivered all it finished). A slot is an anonymous
    memory file (``memfd_create``): when it is new (or grew), ``new_slot`` is True and its descriptor
    follows the message; the loop maps it. Nothing has a name, so nothing is left behind whoever dies
    first. ``payload`` is an error, or a non-uint8 array, which travels whole (``slot`` -1).
    """
    from multiprocessing import reduction

    from devcurriculum.utils.lifeline import tie_to_parent

    tie_to_parent()  # never outlive the loop (a SIGKILLed trainer must not leave readers behind)
    torch.set_num_threads(1)
    slots: dict[int, np.ndarray] = {}
    while True:
        item = inbox.get()
        if item is None:
            return
        seq, slot, job = item
        fd = None
        try:
            array = np.ascontiguousarray(read(job))
            if array.dtype != np.uint8:
                outbox.send((seq, index, -1, array.shape, False, array))
                continue
            buffer = slots.get(slot)
            if buffer is None or buffer.size < array.size:
                fd = os.memfd_create(f"devcurriculum-loader-slot-{slot}")
                os.ftruncate(fd, array.nbytes)
                buffer = slots[slot] = _map(fd, array.nbytes)
            np.copyto(buffer[: array.size].reshape(array.shape), array)
        except BaseException as exc:  # every failure goes back to the loop, which raises it
            outbox.send((seq, index, slot, None, False, _portable_error(exc)))
        else:
            outbox.send((seq, index, slot, array.shape, fd is not None, None))
            if fd is not None:
                reduction.send_handle(outbox, fd, os.getppid())
        finally:
            if fd is not None:
                os.close(fd)


class BatchLoader(Generic[J]):
    """Reads ``read(job)`` for every job of ``jobs`` ahead, and yields the uint8 tensors in job order.

    ``workers`` threads or processes (``kind``), at most ``prefetch`` jobs in flight (default
    :func:`default_prefetch`); ``pin_memory`` (CUDA only) hands out page-locked tensors. ``describe``
    names a job in error messages. Use it as a context manager (or call :meth:`close`) so that the
    workers stop when the loop ends or fails.
    """

    def __init__(
        self,
        read: Callable[[J], np.ndarray],
        jobs: Iterable[J],
        *,
        workers: int = 0,
        kind: LoaderKind = "thread",
        prefetch: int | None = None,
        pin_memory: bool = False,
        describe: Callable[[J], str] = str,
        name: str = "loader",
    ) -> None:
        if workers < 0:
            raise ValueError(f"loader workers must be >= 0, got {workers}")
        if kind not in LOADER_KINDS:
            raise ValueError(f"loader kind must be one of {list(LOADER_KINDS)}, got {kind!r}")
        self.read = read
        self.workers = int(workers)
        self.kind: LoaderKind = kind
        self.prefetch = default_prefetch(workers) if prefetch is None else int(prefetch)
        if self.prefetch < 1:
            raise ValueError(f"loader prefetch must be >= 1, got {prefetch}")
        self.pin_memory = bool(pin_memory)
        self.describe = describe
        self.name = name
        self._jobs: Iterator[J] = iter(jobs)
        self._exhausted = False
        self._next_submit = 0  # the sequence number of the next job drawn
        self._next_take = 0  # the sequence number of the next batch handed out
        self._described: dict[int, str] = {}
        self._closed = False
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[int, Future[torch.Tensor]] = {}
        self._pending_job: collections.deque[J] = collections.deque()  # workers = 0: drawn, not yet read
        self._procs: list[Any] = []
        self._inboxes: list[Any] = []
        self._results: list[Any] = []  # per worker process: the reading end of its pipe
        self._arrived: dict[int, tuple[int, int, Any, Any]] = {}  # seq -> (worker, slot, shape, error)
        self._outstanding: list[collections.deque[int]] = []
        self._slots: dict[tuple[int, int], torch.Tensor] = {}  # (worker, slot) -> the shared buffer
        self._free_slots: list[collections.deque[int]] = []
        self._slot_of: dict[int, int] = {}  # seq -> its slot
        self._leased: tuple[int, int] | None = None  # the slot behind the batch handed out last
        self._owner_pid = os.getpid()
        if self.workers and kind == "thread":
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=f"{name}-worker")
        elif self.workers:
            self._start_processes()

    # ---- workers -------------------------------------------------------------------------------

    def _start_processes(self) -> None:
        import multiprocessing as mp

        if not hasattr(os, "memfd_create"):
            raise RuntimeError(f"{self.name}: loader processes need Linux (fork, memfd_create); use loader threads")
        # fork: the children inherit `read` (clip caches, memory maps) without pickling it
        ctx: Any = mp.get_context("fork")
        for index in range(self.workers):
            inbox = ctx.SimpleQueue()
            results, outbox = ctx.Pipe(duplex=True)  # a socket pair: it can carry the slots' descriptors
            proc = ctx.Process(target=_process_worker, args=(index, self.read, inbox, outbox),
                               name=f"{self.name}-worker-{index}", daemon=True)
            proc.start()
            outbox.close()  # the worker's end
            self._results.append(results)
            self._procs.append(proc)
            self._inboxes.append(inbox)
            self._outstanding.append(collections.deque())
            # in flight per worker (round robin) plus the batch the loop holds
            self._free_slots.append(collections.deque(range(-(-self.prefetch // self.workers) + 1)))
        log.info("%s: %d worker processes (pids %s), %d batches ahead", self.name, self.workers,
                 ", ".join(str(p.pid) for p in self._procs), self.prefetch)

    @property
    def worker_pids(self) -> list[int]:
        """The pids of the worker processes (empty for threads or no workers)."""
        return [int(p.pid) for p in self._procs]

    def _submit(self, seq: int, job: J) -> None:
        if self._pool is not None:
            self._futures[seq] = self._pool.submit(_read_tensor, self.read, job, self.pin_memory)
        elif self._procs:
            worker = seq % self.workers
            slot = self._free_slots[worker].popleft()
            self._slot_of[seq] = slot
            self._outstanding[worker].append(seq)
            self._inboxes[worker].put((seq, slot, job))
        else:
            self._pending_job.append(job)

    def _top_up(self) -> None:
        """Draw jobs (in this thread) and hand them to the workers until ``prefetch`` are in flight."""
        limit = 1 if not self.workers else self.prefetch
        while not self._exhausted and self._next_submit - self._next_take < limit:
            try:
                job = next(self._jobs)
            except StopIteration:
                self._exhausted = True
                return
            self._described[self._next_submit] = self.describe(job)
            self._submit(self._next_submit, job)
            self._next_submit += 1

    # ---- taking batches in order -----------------------------------------------------------------

    def __iter__(self) -> BatchLoader[J]:
        return self

    def __next__(self) -> torch.Tensor:
        if self._closed:
            raise StopIteration
        if self._leased is not None:  # the loop is done with the previous batch: its slot is free again
            worker, slot = self._leased
            self._free_slots[worker].append(slot)
            self._leased = None
        self._top_up()
        seq = self._next_take
        if seq >= self._next_submit:
            raise StopIteration
        what = self._described[seq]
        if self._pool is not None:
            future = self._futures.pop(seq)
            try:
                batch = future.result()
            except BaseException as exc:
                exc.add_note(f"{self.name}: raised in a loader thread while reading {what}")
                raise
        elif self._procs:
            batch = self._take_from_process(seq, what)
        else:
            job = self._pending_job.popleft()
            batch = _read_tensor(self.read, job, self.pin_memory)
        del self._described[seq]
        self._next_take += 1
        return batch

    def _receive(self, worker: int) -> bool:
        """Take the next message of ``worker``'s socket (its results come in its jobs' order); False at its end."""
        from multiprocessing import reduction

        conn = self._results[worker]
        try:
            got, sender, slot, shape, new_slot, payload = conn.recv()
            fd = reduction.recv_handle(conn) if new_slot else None
        except (EOFError, OSError):  # the worker is gone: its end of the socket closed with it
            return False
        self._outstanding[sender].popleft()
        error = None
        if slot < 0:  # a non-uint8 batch, whole
            self._slots[(sender, slot)] = torch.from_numpy(payload)
        elif fd is not None:  # a new slot: map it (the mapping keeps the memory once both descriptors close)
            try:
                self._slots[(sender, slot)] = torch.from_numpy(_map(fd, int(np.prod(shape))))
            finally:
                os.close(fd)
        elif payload is not None:
            error = payload
        self._arrived[got] = (sender, slot, shape, error)
        return True

    def _take_from_process(self, seq: int, what: str) -> torch.Tensor:
        owner = seq % self.workers
        while seq not in self._arrived:
            if not self._results[owner].poll(LIVENESS_POLL_S):
                self._check_alive(owner)
            elif not self._receive(owner):
                self._procs[owner].join(timeout=5)  # its pipe closed: it is exiting, wait for its exit code
                self._check_alive(owner, pipe_closed=True)
        worker, slot, shape, error = self._arrived.pop(seq)
        assigned = self._slot_of.pop(seq)
        if error is not None:
            self._free_slots[worker].append(assigned)
            raise self._worker_exception(worker, what, error)
        if slot < 0:  # not pixels: the batch came as its own tensor
            self._free_slots[worker].append(assigned)
            return self._slots.pop((worker, slot))
        batch = self._slots[(worker, slot)][: int(np.prod(shape))].view(shape)
        if self.pin_memory:  # a pinned copy, so the device copy can be asynchronous; the slot is free at once
            self._free_slots[worker].append(slot)
            return batch.pin_memory()
        self._leased = (worker, slot)
        return batch

    def _worker_exception(self, worker: int, what: str, error: tuple[bytes | None, str, str]) -> BaseException:
        payload, summary, text = error
        where = f"{self.name} worker {worker} of {self.workers} (pid {self._procs[worker].pid}) while reading {what}"
        exc: BaseException | None = None
        if payload is not None:
            try:
                exc = pickle.loads(payload)
            except Exception:  # fall back on the text
                exc = None
        if exc is None:
            return LoaderWorkerError(f"{where}: {summary}\n{text}")
        exc.add_note(f"raised in {where}; the worker's traceback:\n{text}")
        return exc

    def _check_alive(self, worker: int, pipe_closed: bool = False) -> None:
        """Raise :class:`LoaderWorkerError` naming ``worker`` and the job it was reading, if it is gone."""
        proc = self._procs[worker]
        if proc.exitcode is None and not pipe_closed:
            return
        while self._results[worker].poll(0) and self._receive(worker):  # what it finished before it died
            pass
        pending = self._outstanding[worker]
        doing = f"while reading {self._describe_seq(pending[0])}" if pending else "while idle"
        died = how_it_died(proc.exitcode) if proc.exitcode is not None else "closed its pipe"
        message = (f"{self.name} worker {worker} of {self.workers} (pid {proc.pid}) {died} "
                   f"{doing}; the job fails (rerun it: batches are a pure function of their step, so the "
                   "result does not change)")
        self.close()
        raise LoaderWorkerError(message)

    def _describe_seq(self, seq: int) -> str:
        return self._described.get(seq, f"job {seq}")

    # ---- shutdown --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the workers (idempotent); batches not yet taken are dropped."""
        if self._closed:
            return
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._futures.clear()
        for proc, inbox in zip(self._procs, self._inboxes, strict=True):
            if proc.exitcode is None:
                with contextlib.suppress(OSError, ValueError):
                    inbox.put(None)
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.exitcode is None:
                proc.kill()
                proc.join(timeout=5)
        for results in self._results:
            results.close()
        self._arrived.clear()
        self._slots.clear()

    def __enter__(self) -> BatchLoader[J]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:  # a loader dropped without close(): do not leave processes behind
        if not getattr(self, "_closed", True) and os.getpid() == getattr(self, "_owner_pid", None):
            self.close()
