"""Paths in shell commands (issue 13, item 1): an unusual but safe results folder works, and a results
value that would inject a command is rejected at parse time, before any shell runs. Issue 25, item 4:
an interpreter path Snakemake cannot write into a shell command is refused at start; a checkout or
working directory with spaces or shell characters works."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from wfutil import copy_checkout, snakemake, write_config

# every character the results pattern allows besides letters and digits, and a nested folder
UNUSUAL = "out.v2/run+a-b_c"
INJECTION = "r||touch INJECTED||x"


def test_unusual_results_folder_plans_every_job_with_quoted_paths(tmp_path: Path) -> None:
    write_config(tmp_path, {"results": UNUSUAL})
    proc = snakemake(tmp_path, "--dry-run", "--printshellcmds")
    out = proc.stdout + proc.stderr
    assert "rule pretrain:" in out and "rule summarize:" in out
    assert f"{UNUSUAL}/summary.parquet" in out
    # the pretrain command line, split as the shell would: every path is one word, under the folder
    # (one process: the interpreter runs the entry point itself, without torchrun)
    (command,) = {m.group(0) for m in re.finditer(r"^.*scripts/pretrain\.py --spec-json.*$", out, re.M)
                  if "seed0" in m.group(0) and "developmental" in m.group(0)}
    words = shlex.split(command)
    out_dir = words[words.index("--out-dir") + 1]
    assert out_dir == f"{UNUSUAL}/runs/videomae/developmental/seed0"
    assert words[words.index("--resume-dir") + 1] == f"{out_dir}/resume"
    assert all(w.startswith(f"{UNUSUAL}/data/clips/") for w in words[words.index("--clip-caches") + 1:][:3])
    assert not (tmp_path / "out.v2").exists(), "a dry run writes nothing"


def test_injection_in_results_is_rejected_in_one_line(tmp_path: Path) -> None:
    write_config(tmp_path, {"results": INJECTION})
    # a real run, not a dry run: were the value accepted, the pretrain shell command would execute it
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode == 1
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("config error:")]
    assert errors == [f"config error: results: {INJECTION!r} is not a usable folder: it must not start with - (commands "
                      "would take it for an option) and may hold only letters, digits and . _ / + -"], lines
    assert len(lines) <= 3, lines
    assert not list(tmp_path.rglob("INJECTED")) and not Path("INJECTED").exists()


def test_an_interpreter_path_with_a_space_is_refused_before_any_job(tmp_path: Path) -> None:
    """Issue 25, item 4: Snakemake writes the interpreter unquoted into every script rule's command, so a
    venv under /Users/Jane Doe/ would split at the space (and $(...) in it would run)."""
    venv = tmp_path / "Jane Doe" / "venv"
    venv.parent.mkdir()
    venv.symlink_to(sys.prefix, target_is_directory=True)
    python = str(venv / "bin" / Path(sys.executable).name)
    write_config(tmp_path, {})
    proc = snakemake(tmp_path, "results/demo/manifest.csv", python=python, check=False)  # a real run
    assert proc.returncode == 1
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    (error,) = [line for line in lines if line.startswith("path error:")]
    assert error.startswith(f"path error: the Python interpreter {python!r} contains a space: Snakemake writes it "
                            "unquoted into the shell command of every script rule"), error
    assert not (tmp_path / "results").exists()


def test_script_rules_run_from_a_checkout_and_folder_with_spaces_and_shell_characters(tmp_path: Path) -> None:
    """The checkout and the working directory may hold any character: Snakemake quotes script paths."""
    checkout = copy_checkout(tmp_path / "Jane Doe's $(touch INJECTED) checkout")
    workdir = tmp_path / "work `touch INJECTED` dir"
    workdir.mkdir()
    write_config(workdir, {"demo.subjects_per_group": 1, "demo.seconds": 1})
    snakemake(workdir, "results/demo/manifest.csv", snakefile=checkout / "Snakefile")
    assert (workdir / "results/demo/manifest.csv").stat().st_size > 0
    assert not list(tmp_path.rglob("INJECTED")) and not Path("INJECTED").exists()
