"""Run the real workflow from tests: snakemake in a temp working directory, dry-run job parsing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
#: what a checkout needs to run the workflow (the library comes from PYTHONPATH, tests/conftest.py)
WORKFLOW_FILES = ("Snakefile", "rules", "scripts", "report", "envs", "schemas")


def snakemake_env() -> dict[str, str]:
    env = dict(os.environ)
    # torchrun and the scripts must come from the same environment as the test's Python.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    return env


def copy_checkout(dest: Path) -> Path:
    """The workflow's files (WORKFLOW_FILES) copied to ``dest``, as another clone or a moved checkout has them."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def write_config(workdir: Path, overrides: dict | None = None, base: Path | None = None) -> Path:
    """Copy ``.test/config.yaml`` (or ``base``) into ``workdir`` with nested ``overrides`` applied."""
    cfg = yaml.safe_load((base or REPO / ".test" / "config.yaml").read_text())
    for dotted, value in (overrides or {}).items():
        node = cfg
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, config: Path | None = None, check: bool = True, timeout: int = 1800,
              snakefile: Path | None = None, python: str | None = None):
    """Run snakemake in ``workdir`` (this checkout's Snakefile unless ``snakefile``; ``python``: the interpreter)."""
    cmd = [
        python or sys.executable, "-m", "snakemake",
        "--snakefile", str(snakefile or REPO / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(config or workdir / "config.yaml"),
        "--cores", "2",
        *args,
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=workdir, env=snakemake_env(), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}): {' '.join(cmd)}\n--- stdout\n{proc.stdout[-6000:]}\n"
            f"--- stderr\n{proc.stderr[-12000:]}"
        )
    return proc


_JOB = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):\s*$")  # index_videos is a checkpoint
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")


def dry_run_jobs(workdir: Path, config: Path | None = None, *args: str,
                 snakefile: Path | None = None) -> list[tuple[str, dict[str, str]]]:
    """The jobs a dry run would execute (of ``args``' targets), as (rule, wildcards) pairs."""
    proc = snakemake(workdir, "--dry-run", *args, config=config, snakefile=snakefile)
    return parse_jobs(proc.stdout + proc.stderr)


def parse_jobs(text: str) -> list[tuple[str, dict[str, str]]]:
    """The jobs of a dry run's output, as (rule, wildcards) pairs."""
    jobs: list[tuple[str, dict[str, str]]] = []
    for line in text.splitlines():
        m = _JOB.match(line)
        if m:
            jobs.append((m.group(1), {}))
            continue
        m = _WILDCARDS.match(line)
        if m and jobs:
            jobs[-1][1].update(dict(kv.split("=", 1) for kv in m.group(1).split(", ")))
    return jobs


def job_counts(jobs: list[tuple[str, dict[str, str]]]) -> Counter:
    return Counter(rule for rule, _ in jobs)
