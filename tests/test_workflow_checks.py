"""Checks before any job runs (devcurriculum.workflow_checks): interpreter paths (issue 25, item 4), a
run being trained elsewhere (item 3), and what the stamp guard evaluates of a rule (item 1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from devcurriculum.config import WorkflowConfig
from devcurriculum.utils.locks import LOCK_FILE
from devcurriculum.workflow_checks import (
    StampGuard,
    check_interpreter_path,
    refuse_if_training,
    shaping_config,
    unsafe_path_message,
)

REPO = Path(__file__).resolve().parents[1]
HOLD = "import sys, time\nfrom devcurriculum.utils.locks import folder_lock\n" \
       "with folder_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)\n"


@pytest.mark.parametrize("path", ["/usr/bin/python3", "/home/jane/.venv/bin/python3.11", "/Users/Jérôme/env/bin/python",
                                  "/opt/a+b/c-d/e_f/x@y/p%2=q:r,s/bin/python"])
def test_shell_safe_interpreter_paths_pass(path: str) -> None:
    assert unsafe_path_message("Python interpreter", path) is None
    check_interpreter_path(path)


@pytest.mark.parametrize(("path", "named"), [
    ("/Users/Jane Doe/.venv/bin/python", "a space"),
    ("/tmp/a$(touch INJECTED)b/bin/python", "a space '$' '(' ')'"),
    ("/tmp/a`id`/bin/python", "'`'"),
    ("/tmp/it's/bin/python", "\"'\""),
    ("/tmp/a;b&c/bin/python", "'&' ';'"),
])
def test_an_unsafe_interpreter_path_is_refused_in_one_line_saying_why_and_what_to_do(
    path: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        check_interpreter_path(path)
    assert exit_.value.code == 1
    message = capsys.readouterr().err.removesuffix("\n")
    assert "\n" not in message
    assert message.startswith(f"path error: the Python interpreter {path!r} contains {named}: Snakemake writes it "
                              "unquoted into the shell command of every script rule")
    assert "symlink" in message


def test_a_run_folder_nobody_trains_passes_and_nothing_is_created(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "m" / "c" / "seed0"
    refuse_if_training(str(run))
    assert not run.exists()
    run.mkdir(parents=True)
    (run / LOCK_FILE).write_text("pid 1 on elsewhere, trainer since 2020\n")  # left by a finished trainer
    refuse_if_training(str(run))


def test_a_run_folder_being_trained_is_refused_naming_the_trainer(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "seed0"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(SystemExit) as exit_:
            refuse_if_training(str(run))
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert exit_.value.code == 1
    message = capsys.readouterr().err.removesuffix("\n")
    assert message.startswith(f"run folder {run} is in use: another trainer holds {run / LOCK_FILE} (pid {holder.pid} on ")
    assert message.endswith("Nothing was started") and "\n" not in message
    refuse_if_training(str(run))  # the kernel freed the lock with its holder


def test_shaping_config_leaves_out_runtime_keys_and_the_results_folder() -> None:
    cfg = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    cfg["models"]["videomae"]["clip"] = {"size": 32}
    cfg["runs"][0]["curricula"] = ["developmental"]  # prototype weighting needs data.clip's cache
    whole = shaping_config(WorkflowConfig.from_mapping(cfg))
    assert "results" not in whole
    assert "threads" not in whole["pretrain"] and "checkpoint_every" not in whole["pretrain"]
    assert whole["pretrain"]["lr"] == 0.001
    assert whole["models"]["videomae"]["clip"]["size"] == 32  # a model's own clip setting counts


class _Params(list):
    """The part of Snakemake's Params the guard reads: named items."""

    def __init__(self, **items: object) -> None:
        super().__init__(items.values())
        self._items = items

    def items(self) -> Any:
        return self._items.items()

    def get(self, key: str, default: object = None) -> object:
        return self._items.get(key, default)


def test_the_guard_evaluates_the_params_snakemake_records() -> None:
    rule = SimpleNamespace(name="r", params=_Params(
        model=lambda wildcards: {"m": wildcards.model},          # a function of the wildcards: recorded
        folder="results/{model}/x",                              # a value with wildcards: filled in
        fixed=[1, 2],
        launcher=lambda wildcards, resources: "srun",            # derived: Snakemake does not record it
        source=lambda wildcards, input: input[0],                # derived
        job_stamp=lambda wildcards, input, output: "stamp",      # the stamp itself
    ))
    guard = StampGuard(SimpleNamespace(rules=[]), results="results", config={}, owner="o")
    assert guard.params(rule, {"model": "vm"}) == {"model": {"m": "vm"}, "folder": "results/vm/x", "fixed": [1, 2]}


def test_forcerun_lifts_the_check_for_its_rules() -> None:
    settings = SimpleNamespace(forceall=False, forcerun={"pretrain"})
    guard = StampGuard(SimpleNamespace(rules=[], dag_settings=settings), results="results", config={}, owner="o")
    assert guard._forced("pretrain") and not guard._forced("embed")
    settings.forceall = True
    assert guard._forced("embed")
    assert not StampGuard(SimpleNamespace(rules=[]), results="r", config={}, owner="o")._forced("embed")

