"""Exclusive locks on run folders: one trainer writes a run folder at a time.

Two workflows sharing a ``results`` folder (or a manual rerun next to a running job) would otherwise
train into the same run folder at once and overwrite each other's resume state and weights. The
lock is ``flock(2)`` on ``<folder>/.lock``: the kernel releases it when the holder exits, however it
exits (SIGKILL included), so a killed trainer never leaves a stale lock behind, and the file stays
in place between holders (deleting a lock file races with the next opener). The holder writes its
pid and host into the file, so the second trainer's error names them. On a shared file system the
lock works where ``flock`` does (local disks, NFSv4, Lustre mounted with ``flock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from devcurriculum.utils.paths import PathLike

LOCK_FILE = ".lock"
# how long a second opener waits for a just-started holder to write its pid into the file
_HOLDER_WAIT_S = 0.5


class FolderLockedError(RuntimeError):
    """Another process holds the folder's lock; the message names the folder and the holder's pid."""


def _holder_of(fd: int) -> str:
    """'pid 123 on host, since <time>' as the holder wrote it (it may be writing it right now)."""
    deadline = time.monotonic() + _HOLDER_WAIT_S
    while True:
        text = os.pread(fd, 4096, 0).decode("utf-8", errors="replace").strip()
        if text or time.monotonic() > deadline:
            return text or "a process that has not written its pid yet"
        time.sleep(0.02)


@contextlib.contextmanager
def folder_lock(folder: PathLike, holder: str = "trainer") -> Iterator[Path]:
    """Hold ``<folder>/.lock`` for the block; raise :class:`FolderLockedError` at once if another process does.

    ``holder`` says who locks (``trainer``), for the other process's error message.
    """
    path = Path(folder) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderLockedError(
                f"run folder {path.parent} is in use: another {holder} holds {path} ({_holder_of(fd)}). "
                "Wait for it to finish or stop it; two workflows sharing one results folder must not train the "
                "same run"
            ) from None
        since = datetime.now(UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, {holder} since {since}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
