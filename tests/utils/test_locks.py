"""Run-folder locks: a second holder fails at once naming the folder and the holder's pid; a killed
holder's lock is released by the kernel (no stale lock)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from devcurriculum.utils.locks import GRACE_S, LOCK_FILE, FolderLockedError, folder_lock, lock_holder

HOLD = "import sys, time\nfrom devcurriculum.utils.locks import folder_lock\n" \
       "with folder_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)\n"


def test_second_holder_fails_naming_folder_and_pid_until_the_holder_is_killed(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "m" / "c" / "seed0"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderLockedError) as err, folder_lock(folder):
            pass
        message = str(err.value)
        assert message.startswith(f"run folder {folder} is in use: another trainer holds {folder / LOCK_FILE}")
        assert f"pid {holder.pid} on " in message
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    # SIGKILL runs no cleanup, yet the lock is free: flock dies with its holder
    with folder_lock(folder) as path:
        assert path.read_text().startswith(f"pid {os.getpid()} on ")


def test_lock_is_released_after_the_block_and_after_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), folder_lock(tmp_path):
        raise RuntimeError("boom")
    # a second descriptor conflicts even in one process
    with folder_lock(tmp_path), pytest.raises(FolderLockedError), folder_lock(tmp_path):
        pass
    with folder_lock(tmp_path):
        pass


def test_lock_holder_names_a_live_holder_and_creates_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "seed0"
    assert lock_holder(folder) is None and not folder.exists()  # asking creates nothing
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert (lock_holder(folder) or "").startswith(f"pid {holder.pid} on ")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert lock_holder(folder) is None  # the lock file stays; nobody holds it


def test_a_trainer_waits_out_a_planners_probe_instead_of_failing(tmp_path: Path) -> None:
    """lock_holder holds a shared lock for a moment; a trainer starting then retries (GRACE_S)."""
    (tmp_path / LOCK_FILE).write_text("")
    probe = os.open(tmp_path / LOCK_FILE, os.O_RDONLY)
    fcntl.flock(probe, fcntl.LOCK_SH)
    release = threading.Timer(GRACE_S / 4, os.close, args=(probe,))
    release.start()
    started = time.monotonic()
    with folder_lock(tmp_path):
        waited = time.monotonic() - started
    release.join()
    assert GRACE_S / 4 * 0.9 <= waited < GRACE_S
