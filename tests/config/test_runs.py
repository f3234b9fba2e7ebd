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


def test_untrained_inits_are_the_runs_seeds_then_the_smallest_free_ones() -> None:
    from devcurriculum.config.runs import untrained_runs

    runs = [Run("vjepa", "dev", 0), Run("vjepa", "mixed", 2), Run("simclr", "dev", 4)]
    assert [(r.model, r.seed) for r in untrained_runs(runs, 3)] == [
        ("simclr", 0), ("simclr", 1), ("simclr", 4), ("vjepa", 0), ("vjepa", 1), ("vjepa", 2)]
    assert {r.curriculum for r in untrained_runs(runs, 3)} == {"init"}
    # fewer asked than the runs have: every run's own baseline is still scored
    assert [r.seed for r in untrained_runs([Run("m", "a", s) for s in (0, 1, 2)], 1)] == [0, 1, 2]


def test_voe_context_lengths_must_fit_every_scored_model() -> None:
    import pytest

    from devcurriculum.config import ConfigError, WorkflowConfig

    base = {"data": {"clip": {"frames": 8}}, "models": {"videomae": {"objective": "videomae"}},
            "curricula": {"mixed": {"order": "mixed"}},
            "runs": [{"models": ["videomae"], "curricula": ["mixed"], "seeds": [0]}]}
    cfg = WorkflowConfig.from_mapping({**base, "voe": {"context_frames": [4, 2, 6]}})
    assert cfg.voe.preregistered() == 4 and cfg.voe.untrained_inits == 3
    assert WorkflowConfig.from_mapping(base).voe.preregistered() is None
    with pytest.raises(ConfigError, match=r"voe.context_frames: 3 does not fit models.videomae \(8-frame windows of "
                                          r"2-frame tubelets\)"):
        WorkflowConfig.from_mapping({**base, "voe": {"context_frames": [4, 3]}})
    with pytest.raises(ConfigError, match=r"voe.context_frames: 8 does not fit"):
        WorkflowConfig.from_mapping({**base, "voe": {"context_frames": [8]}})
    with pytest.raises(ConfigError, match=r"voe.preregistered_context: 6 is not one of voe.context_frames \[4, 2\]"):
        WorkflowConfig.from_mapping({**base, "voe": {"context_frames": [4, 2], "preregistered_context": 6}})
