"""The sweeps' overlays: configs/demo_questions.yaml on config.yaml, configs/study_questions.yaml on the preset."""

from __future__ import annotations

from pathlib import Path

import yaml
from snakemake.utils import update_config

from devcurriculum.config import WorkflowConfig
from devcurriculum.config.runs import expand_runs
from devcurriculum.workflow import drop_null_entries


def _layered(repo: Path, *files: str) -> WorkflowConfig:
    """What ``--configfile config.yaml <files>`` gives the Snakefile (without the DAG-time manifest check)."""
    config = yaml.safe_load((repo / "config.yaml").read_text())
    for name in files:
        update_config(config, yaml.safe_load((repo / name).read_text()))
    drop_null_entries(config)
    return WorkflowConfig.from_mapping(config)


def test_the_demo_questions_overlay_runs_the_three_sweeps_in_its_own_folder(repo_root: Path) -> None:
    cfg = _layered(repo_root, "configs/demo_questions.yaml")
    assert cfg.results == "results_questions"
    runs = expand_runs(cfg)
    assert len(runs) == 18 and {r.model for r in runs} == {"vjepa"}
    assert sorted({r.fraction for r in runs}) == [0.25, 0.5, 1.0]
    assert cfg.evaluation.few_shot is not None and cfg.evaluation.few_shot.shots == (1, 5, 10)
    assert list(cfg.ocp.sets) == ["demo_ocp"] and not cfg.voe.sets
    # few-shot needs 10 train items of every class: the demo benchmarks have 28 or more
    assert cfg.demo.benchmark.clips_per_class * 4 * 0.7 >= 10


def test_the_study_overlay_validates_over_own_data_and_the_preset(repo_root: Path) -> None:
    cfg = _layered(repo_root, "configs/own_data.yaml", "configs/presets/sheybani2023_videomae.yaml",
                   "configs/study_questions.yaml")
    runs = expand_runs(cfg)
    assert len(runs) == 24 and sorted({r.fraction for r in runs}) == [0.125, 0.25, 0.5, 1.0]
    assert cfg.pretrain_for("sheybani2023_videomae").steps_per_stage == 2000
    assert cfg.pretrain_for("sheybani2023_videomae").batch_size == 64  # the preset's, kept
    assert cfg.ocp.sets["physion"].source == "physion" and cfg.evaluation.few_shot.repeats == 10
