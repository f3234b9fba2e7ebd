"""The run spec: typed blocks from --spec-json, runtime flags, and what the resume hash sees."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_resume import CLIP, CURRICULUM, GROUPS, MODEL, PRETRAIN_CLI

from devcurriculum.config import ConfigError, CurriculumConfig, PretrainConfig, VideoMAEModelConfig
from devcurriculum.train.loop import TrainPlan, run_config_hash
from devcurriculum.train.spec import RunSpec


def spec_json(**changes: object) -> str:
    spec = {"model_name": "mae", "model": MODEL, "curriculum_name": "dev", "curriculum": CURRICULUM,
            "pretrain": PRETRAIN_CLI, "seed": 0, "groups": GROUPS, "clip": CLIP}
    return json.dumps({**spec, **changes})


def resume_hash(spec: RunSpec) -> str:
    plan = TrainPlan.derive(spec.pretrain, total_steps=12, seed=spec.seed, world_size=1)
    return run_config_hash(spec.shaping(), pretrain=spec.pretrain, plan=plan, inputs={"g0.npy": [1, 2]})


def test_blocks_are_typed_and_defaults_filled() -> None:
    spec = RunSpec.from_json(spec_json())
    assert isinstance(spec.model, VideoMAEModelConfig) and isinstance(spec.curriculum, CurriculumConfig)
    assert spec.pretrain.batch_size == 4 and spec.pretrain.threads == PretrainConfig().threads
    assert spec.clip.frames == 4 and spec.groups == ("g0", "g1")
    shaping = spec.shaping()
    assert set(shaping) == {"model_name", "model", "curriculum_name", "curriculum", "pretrain", "seed", "groups", "clip"}
    assert "threads" not in shaping["pretrain"] and "checkpoint_every" not in shaping["pretrain"]
    assert shaping["pretrain"]["bucket_steps"] == 2 and shaping["curriculum"]["blur"]["levels"] == 5  # a schema default


def test_runtime_settings_keep_the_resume_valid_run_shaping_ones_do_not() -> None:
    base = RunSpec.from_json(spec_json())
    runtime = {"threads": 7, "checkpoint_every": 5, "log_every": 1, "nproc": 2}
    spelled_out = RunSpec.from_json(spec_json(pretrain={**PRETRAIN_CLI, **runtime}))
    flags = base.with_runtime(threads=7, checkpoint_every=5, log_every=1)
    assert (flags.pretrain.threads, flags.pretrain.checkpoint_every, flags.pretrain.log_every) == (7, 5, 1)
    assert base.with_runtime() == base
    assert resume_hash(spelled_out) == resume_hash(flags) == resume_hash(base)
    assert spelled_out.shaping() == base.shaping()
    assert resume_hash(RunSpec.from_json(spec_json(pretrain={**PRETRAIN_CLI, "lr": 2e-3}))) != resume_hash(base)
    assert resume_hash(RunSpec.from_json(spec_json(seed=1))) != resume_hash(base)
    assert resume_hash(RunSpec.from_json(spec_json(model={**MODEL, "mask_ratio": 0.6}))) != resume_hash(base)


def test_bad_specs_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"pretrain.lr"):
        RunSpec.from_json(spec_json(pretrain={**PRETRAIN_CLI, "lr": -1}))
    with pytest.raises(ConfigError, match=r"models.mae.hidden_sise: unknown key \(did you mean 'hidden_size'\?\)"):
        RunSpec.from_json(spec_json(model={**MODEL, "hidden_sise": 8}))
    with pytest.raises(ConfigError, match=r"curricula.dev.order"):
        RunSpec.from_json(spec_json(curriculum={"order": "backwards"}))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['threads'\]"):
        RunSpec.from_json(spec_json(threads=2))
    with pytest.raises(ConfigError, match=r"pretrain.checkpoint_every"):
        RunSpec.from_json(spec_json()).with_runtime(checkpoint_every=0)


def test_the_run_spec_claims_no_pooling_and_the_export_gets_the_configured_one() -> None:
    base = RunSpec.from_json(spec_json())
    assert "embedding" not in base.shaping()["model"]  # a readout setting: the config decides at embed time
    grid = base.with_runtime(embedding={"pooling": "grid", "grid": [1, 2, 2]})
    assert grid.model.embedding.pooling == "grid" and grid.model.embedding.grid == (1, 2, 2)
    assert resume_hash(grid) == resume_hash(base)  # never a reason to retrain
    with pytest.raises(ConfigError, match=r"models\.mae\.embedding\.pooling"):
        base.with_runtime(embedding={"pooling": "max"})


def test_a_fraction_run_adds_data_fraction_and_a_whole_corpus_spec_is_unchanged() -> None:
    base = RunSpec.from_json(spec_json())
    assert base.data_fraction == 1.0 and "data_fraction" not in base.shaping()
    half = RunSpec.from_json(spec_json(data_fraction=0.5))
    assert half.data_fraction == 0.5 and half.shaping() == {**base.shaping(), "data_fraction": 0.5}
    assert resume_hash(half) != resume_hash(base)
    assert RunSpec.from_json(spec_json(data_fraction=1)).shaping() == base.shaping()
    for bad in (0, 1.5, "1/2", True):
        with pytest.raises(ValueError, match=r"data_fraction must be a number in \(0, 1\]"):
            RunSpec.from_json(spec_json(data_fraction=bad))
