"""Exclusive locks on run folders: one trainer writes a run folder at a time.

Two workflows sharing a ``results`` folder (or a manual rerun next to a running job) would otherwise
train into the same run folder at once and overwrite each other's resume state and weights. The
lock is ``flock(2)`` on ``<folder>/.lock``: the kernel releases it when the holder exits, however it
exits (SIGKILL included), so a killed trainer never leaves a stale lock behind, and the file stays
in place between holders (deleting a lock file races with the next opener). The holder writes its
pid and host into the file, so the second trainer's error names them. On a shared file system the
lock works where ``flock`` does (local disks, NFSv4, Lustre mounted with ``flock``).

:func:`lock_holder` asks whether a trainer holds a folder without creating or writing anything: the
workflow asks it when it plans a ``pretrain`` job (:mod:`devcurriculum.workflow_checks`). It holds a
shared lock for a moment to find out, so a trainer starting at that moment retries for
:data:`GRACE_S` before it gives up.
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
#: how long a trainer retries a held lock before it gives up (outlasts a planner's probe of it)
GRACE_S = 1.0


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


def locked_message(folder: PathLike, holder_text: str, holder: str = "trainer") -> str:
    """``run folder F is in use: another trainer holds F/.lock (pid ...)`` and what to do."""
    return (
        f"run folder {folder} is in use: another {holder} holds {Path(folder) / LOCK_FILE} ({holder_text}). "
        "Wait for it to finish or stop it; two workflows sharing one results folder must not train the same run"
    )


def lock_holder(folder: PathLike) -> str | None:
    """Who holds ``folder``'s lock (``pid 123 on host, trainer since ...``), or None when nobody does.

    Creates nothing: a folder without a lock file is free. Asks by taking a shared lock without
    waiting and dropping it at once.
    """
    path = Path(folder) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder_of(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextlib.contextmanager
def folder_lock(folder: PathLike, holder: str = "trainer") -> Iterator[Path]:
    """Hold ``<folder>/.lock`` for the block; raise :class:`FolderLockedError` if another process holds it
    (after retrying for :data:`GRACE_S`, which outlasts a planner's :func:`lock_holder` probe of it).

    ``holder`` says who locks (``trainer``), for the other process's error message.
    """
    path = Path(folder) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + GRACE_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise FolderLockedError(locked_message(path.parent, _holder_of(fd), holder)) from None
                time.sleep(0.05)
        since = datetime.now(UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, {holder} since {since}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
