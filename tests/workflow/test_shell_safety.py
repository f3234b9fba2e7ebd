"""Paths in shell commands (issue 13, item 1): an unusual but safe results folder works, and a results
value that would inject a command is rejected at parse time, before any shell runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from wfutil import snakemake, write_config

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
    (command,) = {m.group(0) for m in re.finditer(r"^.*-m torch\.distributed\.run.*$", out, re.M)
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
