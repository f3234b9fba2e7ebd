"""Stage scripts end with ``exit_job()``: the log is complete, the status 0, and no interpreter teardown runs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROGRAM = """
import atexit, sys
from devcurriculum.utils.logging import exit_job, stage_log
atexit.register(lambda: open(sys.argv[2], "w").write("teardown ran"))
with stage_log(sys.argv[1], "probe") as log:
    log.info("last line before the exit")
    print("stdout flushed", end="")
exit_job()
"""


def test_exit_job_flushes_the_log_and_skips_teardown(tmp_path: Path) -> None:
    log, marker = tmp_path / "logs" / "probe.log", tmp_path / "teardown.txt"
    proc = subprocess.run([sys.executable, "-c", PROGRAM, str(log), str(marker)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "stdout flushed"
    lines = log.read_text().splitlines()
    assert lines[-2].endswith("last line before the exit") and lines[-1].endswith("stage probe finished"), lines
    assert not marker.exists()  # atexit handlers and native destructors never ran


def test_a_failing_stage_still_exits_non_zero_with_its_traceback(tmp_path: Path) -> None:
    program = PROGRAM.replace('log.info("last line before the exit")', 'raise ValueError("bad row 7")')
    log = tmp_path / "probe.log"
    proc = subprocess.run([sys.executable, "-c", program, str(log), str(tmp_path / "t.txt")], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1
    assert "ValueError: bad row 7" in proc.stderr
    assert "stage probe failed: bad row 7" in log.read_text()


def test_every_stage_script_ends_with_exit_job() -> None:
    for script in sorted((REPO / "scripts").glob("*.py")):
        tree = ast.parse(script.read_text())
        uses_stage_log = any(isinstance(node, ast.With) for node in tree.body)
        if not uses_stage_log:  # pretrain.py: torchrun's worker, which tears down its process group itself
            continue
        last = tree.body[-1]
        assert (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
                and getattr(last.value.func, "id", None) == "exit_job"), f"{script.name} must end with exit_job()"
