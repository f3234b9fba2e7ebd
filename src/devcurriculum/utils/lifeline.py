"""A torchrun worker dies with its launcher.

``torch.distributed.run`` starts every worker in a session of its own (``start_new_session=True``),
so a signal to the job's process group (Ctrl-C, ``scancel``, a scheduler killing Snakemake) reaches
the launcher but not the workers. When the launcher is SIGKILLed it cannot forward anything, and
its workers would train on as orphans: writing outputs later and holding GPU memory. So a worker
asks the kernel to SIGKILL it when its parent exits (``prctl(PR_SET_PDEATHSIG)``, Linux), and a
watchdog thread polls the parent pid as a fallback (other systems, or a kernel that refuses).

Dying by SIGKILL loses nothing already computed: every artifact and the resume state are written
atomically, and the rerun resumes from the last state (docs/training.md).

This module imports nothing heavy, so a worker can call :func:`tie_to_launcher` before it spends
seconds importing torch (the window in which a launcher death would go unnoticed).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger("devcurriculum.utils.lifeline")

PR_SET_PDEATHSIG = 1
#: set by torch.distributed.run in every worker's environment
LAUNCHER_ENV = "TORCHELASTIC_RUN_ID"
WATCHDOG_POLL_S = 1.0


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """``prctl(PR_SET_PDEATHSIG, sig)`` for this process; False where unavailable (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d): relying on the parent watchdog", ctypes.get_errno())
        return False
    return True


def _watch_parent(parent: int, sig: int, poll_s: float) -> None:
    while os.getppid() == parent:
        time.sleep(poll_s)
    log.error("launcher (pid %d) is gone: this worker (pid %d) stops", parent, os.getpid())
    os.kill(os.getpid(), sig)


def start_parent_watchdog(parent: int, sig: int = signal.SIGKILL, poll_s: float = WATCHDOG_POLL_S) -> threading.Thread:
    """A daemon thread that sends ``sig`` to this process once its parent is no longer ``parent``."""
    thread = threading.Thread(target=_watch_parent, args=(parent, sig, poll_s), name="parent-watchdog", daemon=True)
    thread.start()
    return thread


def tie_to_parent(sig: int = signal.SIGKILL, poll_s: float = WATCHDOG_POLL_S) -> int:
    """Die (by ``sig``) when the current parent process exits; returns the parent's pid.

    Both mechanisms: the kernel's parent-death signal and a watchdog thread. A parent that exits
    between reading its pid and ``prctl`` is caught by the re-check; one that exited before this call
    is not (its orphan was already adopted), so workers call this first, before importing torch.
    """
    parent = os.getppid()
    set_parent_death_signal(sig)
    if os.getppid() != parent:  # the parent exited before prctl took effect
        os.kill(os.getpid(), sig)
    start_parent_watchdog(parent, sig, poll_s)
    return parent


def tie_to_launcher() -> int | None:
    """Under torchrun (its ``TORCHELASTIC_RUN_ID`` in the environment), tie this worker to its launcher.

    A plain ``python -m devcurriculum.train.run`` (say under ``nohup``) is left alone: its parent is
    a shell, and the user may mean it to outlive that shell. Returns the launcher's pid, or None.
    """
    if LAUNCHER_ENV not in os.environ:
        return None
    return tie_to_parent()
