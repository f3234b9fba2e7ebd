"""Two trainers on one run folder (issue 13, items 2 and 5): the second fails at once naming the folder
and the first's pid; the first finishes undisturbed."""

from __future__ import annotations

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
