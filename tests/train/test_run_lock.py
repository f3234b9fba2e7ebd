"""Two trainers on one run folder (issue 13, items 2 and 5): the second fails at once naming the folder
and the first's pid; the first finishes undisturbed. Issue 25, item 3: the refused one changes nothing
it finds there (its stamp is written only once it holds the lock; the log is only appended to)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from test_resume import cli, make_run_inputs, spawn_cli

from devcurriculum.train.checkpoint import resume_path


def test_second_trainer_on_a_locked_run_folder_fails_at_once(tmp_path: Path) -> None:
    make_run_inputs(tmp_path)
    first = spawn_cli(cli(tmp_path, "run"), slow=True, step_delay_s=2.0)  # 24 s: outlasts the second's start
    deadline = time.monotonic() + 180
    while not resume_path(tmp_path / "run" / "resume").exists():  # the first one is training
        assert first.poll() is None, first.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, "the first trainer never wrote a resume state"
        time.sleep(0.05)

    second = spawn_cli(cli(tmp_path, "run", ["--log-file", str(tmp_path / "second.log")]))
    out, _ = second.communicate(timeout=120)
    text = out.decode()
    assert second.returncode != 0, text[-3000:]
    assert f"run folder {tmp_path / 'run'} is in use: another trainer holds {tmp_path / 'run' / '.lock'}" in text
    assert f"(pid {first.pid} on " in text
    assert "training steps" not in (tmp_path / "second.log").read_text()  # it failed before training
    assert first.poll() is None, "the first trainer was disturbed"

    out, _ = first.communicate(timeout=300)
    assert first.returncode == 0, out.decode()[-3000:]
    assert (tmp_path / "run" / "model.safetensors").exists()


HOLD = "import sys, time\nfrom devcurriculum.utils.locks import folder_lock\n" \
       "with folder_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(300)\n"


def test_a_refused_trainer_leaves_the_live_run_folder_and_log_as_they_were(tmp_path: Path) -> None:
    """Issue 25, item 3: refused by the lock, a trainer writes no stamp, truncates no log, touches no output."""
    run = tmp_path / "run"
    run.mkdir()
    live = {run / "metrics.parquet": b"the live trainer's metrics", run / "model.safetensors.spec.json": b'{"live": 1}',
            tmp_path / "run.log": b"the live trainer's log\n"}
    for path, data in live.items():
        path.write_bytes(data)
    staged = tmp_path / "staged.json"
    staged.write_text('{"refused": 1}')
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        second = spawn_cli(cli(tmp_path, "run", ["--job-stamp-file", str(staged)]))
        out, _ = second.communicate(timeout=300)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert second.returncode != 0 and "is in use" in out.decode(), out.decode()[-3000:]
    for path, data in live.items():
        text = path.read_bytes()
        assert text.startswith(data), path  # the log only gained the refusal; nothing else changed
        assert text == data or path.suffix == ".log", path
    assert not (run / "resume").exists()
