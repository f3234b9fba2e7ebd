"""No orphan trainer (issue 13, item 2): killing the job's process group, as Ctrl-C or a scheduler does,
stops every torchrun worker; nothing is written afterwards; the rerun resumes (no stale lock).

The job is the pretrain rule's command line: a shell running ``python -m torch.distributed.run`` with
two gloo workers, started in a process group of its own as Snakemake's job shell is. torchrun starts
its workers in sessions of their own, so the group signal reaches only the shell and the launcher.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_resume import make_run_inputs

from devcurriculum.train.checkpoint import resume_path

# the pretrain entry point with every step slowed down, so the kill lands mid-training
SLOW_ENTRY = """\
import time
import devcurriculum.train.loop as loop
_device_batch = loop.device_batch
def slow(*args, **kwargs):
    time.sleep(1.0)
    return _device_batch(*args, **kwargs)
loop.device_batch = slow
from devcurriculum.train.run import main
main()
"""
ENTRY = "from devcurriculum.train.run import main\nmain()\n"


def processes_mentioning(marker: str) -> dict[int, str]:
    """Live (not zombie) processes whose command line contains ``marker``, by pid."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found[int(entry.name)] = cmdline
    return found


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file under ``folder``."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def job_command(tmp: Path, entry: Path, name: str) -> str:
    """The pretrain rule's shell command (launcher from rules/common.smk), on the tiny run of test_resume."""
    args = [*make_run_inputs(tmp, pretrain={"batch_size": 4}), "--out-dir", str(tmp / name),
            "--resume-dir", str(tmp / name / "resume"), "--log-file", str(tmp / f"{name}.log")]
    launcher = f"{shlex.quote(sys.executable)} -m torch.distributed.run --standalone --nproc_per_node 2"
    return f"{launcher} {shlex.quote(str(entry))} {shlex.join(args)} > {shlex.quote(str(tmp / f'{name}.out'))} 2>&1"


@pytest.fixture
def no_leftovers(tmp_path: Path) -> Iterator[None]:
    """After the test, SIGKILL (by pid) any process of this test still alive: never leave an orphan behind."""
    yield
    for pid in processes_mentioning(str(tmp_path)):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_killing_the_job_group_leaves_no_trainer(tmp_path: Path, no_leftovers: None, sig: signal.Signals) -> None:
    (tmp_path / "slow.py").write_text(SLOW_ENTRY)
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    job = subprocess.Popen(["/bin/bash", "-c", job_command(tmp_path, tmp_path / "slow.py", "run")],
                           env=env, start_new_session=True)
    state = resume_path(tmp_path / "run" / "resume")
    deadline = time.monotonic() + 240
    while not state.exists():  # training is under way: a resume state was written
        assert job.poll() is None, (tmp_path / "run.out").read_text()[-3000:]
        assert time.monotonic() < deadline, "no resume state was written"
        time.sleep(0.05)
    workers = processes_mentioning(str(tmp_path / "slow.py"))
    assert len(workers) >= 3, workers  # the launcher and its two workers (and the shell)

    os.killpg(job.pid, sig)  # the whole group, as Ctrl-C or a scheduler's kill does
    job.wait(timeout=60)
    deadline = time.monotonic() + 5  # the parent-death signal is immediate, the watchdog polls every second
    while (left := processes_mentioning(str(tmp_path))) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"trainer processes left after {sig.name} to the job's group: { {p: c[:100] for p, c in left.items()} }"

    before = snapshot(tmp_path / "run")
    time.sleep(12)  # longer than the rest of the run (12 steps of 1 s): an orphan would finish and write
    assert snapshot(tmp_path / "run") == before, "files were written after the job was killed"
    assert not (tmp_path / "run" / "model.safetensors").exists()

    if sig == signal.SIGKILL:
        # the killed trainer's lock died with it: the rerun resumes from the state it left
        (tmp_path / "entry.py").write_text(ENTRY)
        rerun = subprocess.run(["/bin/bash", "-c", job_command(tmp_path, tmp_path / "entry.py", "run")],
                               env=env, timeout=300)
        assert rerun.returncode == 0, (tmp_path / "run.out").read_text()[-3000:]
        assert "resuming from step" in (tmp_path / "run.log").read_text()
        assert (tmp_path / "run" / "model.safetensors").exists()
