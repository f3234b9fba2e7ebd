"""A run's name and folder come from one template (config.runs.RUN_NAME); corpus fractions add a part to it."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from devcurriculum.config import ConfigError, WorkflowConfig
from devcurriculum.config.runs import RUN_NAME, Run, expand_runs, run_folder, run_name


def test_run_name_and_folder_of_a_run() -> None:
    run = Run("videomae", "developmental", 3)
    assert run.name == run_name("videomae", "developmental", 3) == "videomae/developmental/seed3"
    assert run.folder("out/results") == "out/results/runs/videomae/developmental/seed3"


def test_a_seed_read_back_from_a_table_names_the_same_run() -> None:
    assert run_name("simclr", "init", np.int64(2)) == "simclr/init/seed2"
    assert run_name("simclr", "init", 2.0) == "simclr/init/seed2"  # type: ignore[arg-type]


def test_wildcards_give_the_rules_path_pattern() -> None:
    assert RUN_NAME == "{model}/{curriculum}{fraction}/seed{seed}"
    assert (run_folder("results", "{model}", "{curriculum}", "{seed}", "{fraction}")
            == "results/runs/{model}/{curriculum}{fraction}/seed{seed}")
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
def test_a_fraction_run_has_a_folder_of_its_own_and_the_whole_corpus_keeps_its_name() -> None:
    assert Run("vjepa", "mixed", 1, 0.25).name == "vjepa/mixed@frac0.25/seed1"
    assert Run("vjepa", "mixed", 1, 0.25, "epochs").folder("r") == "r/runs/vjepa/mixed@frac0.25-epochs/seed1"
    assert Run("vjepa", "mixed", 1, 1.0, "steps").name == Run("vjepa", "mixed", 1).name == "vjepa/mixed/seed1"


def _config(repo_root, runs: list) -> WorkflowConfig:
    raw = yaml.safe_load((repo_root / "config.yaml").read_text())
    raw["runs"] = runs
    return WorkflowConfig.from_mapping(raw)


def test_data_fractions_add_runs_and_fraction_one_is_the_run_without_fractions(repo_root) -> None:
    cfg = _config(repo_root, [
        {"models": ["vjepa"], "curricula": ["developmental"], "seeds": [0, 1]},
        {"models": ["vjepa"], "curricula": ["developmental"], "seeds": [0], "data_fractions": ["1/4", 0.5, 1],
         "fraction_budget": "epochs"},
    ])
    names = [run.name for run in expand_runs(cfg)]
    assert names == ["vjepa/developmental/seed0", "vjepa/developmental/seed1", "vjepa/developmental@frac0.25-epochs/seed0",
                     "vjepa/developmental@frac0.5-epochs/seed0"]
    assert cfg.runs[1].fractions == (0.25, 0.5, 1.0) and cfg.runs[0].fractions == (1.0,)


def test_a_config_without_fractions_keeps_its_runs(repo_root) -> None:
    raw = yaml.safe_load((repo_root / "config.yaml").read_text())
    cfg = WorkflowConfig.from_mapping(raw)
    assert all(not run.on_fraction and run.fraction_key == "" for run in expand_runs(cfg))
    assert "data_fractions" not in cfg.runs[0].to_dict()  # the unset key stays out of the block's dict


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        (["1/8", "3/2"], r"^runs\[0\]\.data_fractions\[1\]: '3/2' must lie in \(0, 1\]"),
        ([0.5, "1/2"], r"^runs\[0\]\.data_fractions\[1\]: '1/2' is the fraction of runs\[0\]\.data_fractions\[0\] again"),
        (["1/0"], r"^runs\[0\]\.data_fractions\[0\]: '1/0' divides by zero"),
        ([0], r"^runs\[0\]\.data_fractions"),
        (["an eighth"], r"^runs\[0\]\.data_fractions"),
    ],
)
def test_a_bad_fraction_names_its_key(repo_root, fractions: list, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(repo_root, [{"models": ["vjepa"], "curricula": ["mixed"], "data_fractions": fractions}])
