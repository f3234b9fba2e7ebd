"""The workflow parses, lints clean and is snakefmt-formatted (docs/architecture.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from wfutil import REPO, snakemake_env


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, env=snakemake_env(), capture_output=True, text=True, timeout=300)


def test_snakemake_lint_is_clean():
    proc = _run(sys.executable, "-m", "snakemake", "--lint", "--workflow-profile", "none")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def test_snakefmt_check_passes():
    snakefmt = Path(sys.executable).parent / "snakefmt"
    proc = _run(str(snakefmt), "--check", "Snakefile", "rules/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
