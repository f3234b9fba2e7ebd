"""Cross-block config checks, run expansion and the workflow's one-line config errors."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devcurriculum.config import ConfigError, CurriculumConfig, Run, WorkflowConfig, baseline_runs, expand_runs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_demo_config_is_consistent(config: dict) -> None:
    WorkflowConfig.from_mapping(config)


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda c: c["data"].update(source="manifest", manifest=None), "data.manifest"),
        (lambda c: c["data"]["age_groups"].update(g1=[100, 240]), "data.age_groups"),
        (lambda c: c["data"]["age_groups"].update(g1=[240, 120]), "data.age_groups.g1"),
        (lambda c: c["curricula"]["developmental"].update(order=["g0", "g9"]), "curricula.developmental.order"),
        (lambda c: c["runs"][0].update(models=["nope"]), "runs[0].models"),
        (lambda c: c["runs"][0].update(curricula=["nope"]), "runs[0].curricula"),
        (lambda c: c["features"].update(extractor="dino"), "features.model"),
        (lambda c: c["curricula"].update(init={"order": "mixed"}), "curricula.init"),
    ],
)
def test_inconsistent_config_names_the_key(config: dict, mutate, key: str) -> None:
    bad = copy.deepcopy(config)
    mutate(bad)
    with pytest.raises(ConfigError, match="^" + key.replace("[", r"\[").replace("]", r"\]")):
        WorkflowConfig.from_mapping(bad)


def test_expand_runs_is_a_cross_product_without_duplicates(config: dict) -> None:
    config["models"] = {"a": {"objective": "simclr"}, "b": {"objective": "simclr"}}
    config["runs"] = [
        {"models": ["a", "b"], "curricula": ["mixed"], "seeds": [0, 1]},
        {"models": ["a"], "curricula": ["mixed"], "seeds": [0]},
    ]
    runs = expand_runs(WorkflowConfig.from_mapping(config))
    assert runs == [Run("a", "mixed", 0), Run("a", "mixed", 1), Run("b", "mixed", 0), Run("b", "mixed", 1)]
    assert Run("a", "mixed", 1).name == "a/mixed/seed1"
    assert baseline_runs(runs) == [Run("a", "init", 0), Run("a", "init", 1), Run("b", "init", 0), Run("b", "init", 1)]


def test_needs_difficulty() -> None:
    assert CurriculumConfig.from_mapping({"order": "mixed", "weighting": {"kind": "prototypes_first"}}).needs_difficulty
    assert CurriculumConfig.from_mapping({"order": "mixed", "weighting": {"kind": "hard_first"}}).needs_difficulty
    assert not CurriculumConfig.from_mapping({"order": "mixed", "weighting": {"kind": "uniform"}}).needs_difficulty
    assert not CurriculumConfig.from_mapping({"order": ["g0"]}).needs_difficulty


def test_the_workflow_prints_one_line_for_a_misspelled_key(tmp_path: Path) -> None:
    cfg = yaml.safe_load((REPO / ".test/config.yaml").read_text())
    cfg["pretrain"]["steps_per_stag"] = cfg["pretrain"].pop("steps_per_stage")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(tmp_path / "config.yaml"), "--cores", "1", "--dry-run"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    # Snakemake's own two notes (the profile in use, the config overlay) and our one line
    assert "config error: pretrain.steps_per_stag: unknown key (did you mean 'steps_per_stage'?)" in lines
    assert len(lines) <= 3, lines


def test_an_overlay_removes_a_named_entry_with_null(config: dict) -> None:
    from devcurriculum.workflow import drop_null_entries

    config["benchmarks"]["demo_view"] = None
    config["curricula"]["hybrid"] = None
    drop_null_entries(config)
    cfg = WorkflowConfig.from_mapping(config)
    assert "demo_view" not in cfg.benchmarks and "hybrid" not in cfg.curricula and "digits" in cfg.benchmarks


@pytest.mark.parametrize(
    ("model_key", "value", "reason"),
    [
        ("clip", {"frames": 4}, "the difficulty table scores the clips of data.clip's cache, not this model's"),
        ("gap_seconds", 1.0, "frame pairs across a video have no difficulty"),
    ],
)
def test_prototype_weighting_is_refused_for_a_model_whose_clips_have_no_difficulty(
    config: dict, model_key: str, value: object, reason: str
) -> None:
    config["models"]["simclr"][model_key] = value
    config["voe"]["context_frames"] = None  # config.yaml's VoE sweep [4, 2] needs windows of more than 4 frames
    WorkflowConfig.from_mapping(config)  # no run trains simclr with a weighted curriculum yet
    config["runs"].append({"models": ["simclr"], "curricula": ["prototype"], "seeds": [0]})  # runs[1]
    with pytest.raises(ConfigError) as err:
        WorkflowConfig.from_mapping(config)
    message = str(err.value)
    assert message.startswith(
        f"runs[1]: curricula.prototype.weighting (prototype weighting) cannot run with models.simclr.{model_key}: "
    )
    assert reason in message
