"""A worker tied to its launcher dies when the launcher is SIGKILLed: by the kernel's parent-death
signal, and by the parent watchdog alone (the fallback where prctl is unavailable)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devcurriculum.utils import lifeline

# a "launcher" that starts one worker, reports its pid, and waits
LAUNCHER = """\
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], start_new_session=True, stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "tied"
print(child.pid, flush=True)
time.sleep(120)
"""
WORKERS = {
    "prctl+watchdog": "from devcurriculum.utils.lifeline import tie_to_parent\ntie_to_parent()\n",
    "watchdog only": "import os\nfrom devcurriculum.utils.lifeline import start_parent_watchdog\n"
                     "start_parent_watchdog(os.getppid(), poll_s=0.1)\n",
}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.parametrize("how", list(WORKERS))
def test_worker_dies_with_its_sigkilled_launcher(how: str) -> None:
    worker_code = WORKERS[how] + "print('tied', flush=True)\nimport time\ntime.sleep(120)\n"
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, worker_code], stdout=subprocess.PIPE, text=True)
    assert launcher.stdout is not None
    worker = int(launcher.stdout.readline())
    try:
        assert alive(worker)
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(timeout=30)
        deadline = time.monotonic() + 5
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(worker), f"worker {worker} outlived its launcher ({how})"
    finally:
        if alive(worker):
            os.kill(worker, signal.SIGKILL)


def test_tie_to_launcher_acts_only_under_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(lifeline.LAUNCHER_ENV, raising=False)
    assert lifeline.tie_to_launcher() is None  # e.g. under nohup: the user may mean it to outlive the shell
    calls: list[int] = []
    monkeypatch.setenv(lifeline.LAUNCHER_ENV, "job")
    monkeypatch.setattr(lifeline, "tie_to_parent", lambda: calls.append(os.getppid()) or os.getppid())
    assert lifeline.tie_to_launcher() == os.getppid() and calls == [os.getppid()]
