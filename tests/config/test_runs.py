"""A run's name and folder come from one template (config.runs.RUN_NAME)."""

from __future__ import annotations

import numpy as np

from devcurriculum.config.runs import RUN_NAME, Run, run_folder, run_name


def test_run_name_and_folder_of_a_run() -> None:
    run = Run("videomae", "developmental", 3)
    assert run.name == run_name("videomae", "developmental", 3) == "videomae/developmental/seed3"
    assert run.folder("out/results") == "out/results/runs/videomae/developmental/seed3"


def test_a_seed_read_back_from_a_table_names_the_same_run() -> None:
    assert run_name("simclr", "init", np.int64(2)) == "simclr/init/seed2"
    assert run_name("simclr", "init", 2.0) == "simclr/init/seed2"  # type: ignore[arg-type]


def test_wildcards_give_the_rules_path_pattern() -> None:
    assert RUN_NAME == "{model}/{curriculum}/seed{seed}"
    assert run_folder("results", "{model}", "{curriculum}", "{seed}") == "results/runs/{model}/{curriculum}/seed{seed}"
    assert run_folder("results", "{model}", "init", "{seed}") == "results/runs/{model}/init/seed{seed}"
