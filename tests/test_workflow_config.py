"""Cross-key config checks and run expansion (devcurriculum.workflow)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from devcurriculum.workflow import ConfigError, Run, check_config, expand_runs, needs_difficulty

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_demo_config_is_consistent(config):
    check_config(config)


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
def test_inconsistent_config_names_the_key(config, mutate, key):
    bad = copy.deepcopy(config)
    mutate(bad)
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        check_config(bad)


def test_expand_runs_is_a_cross_product_without_duplicates():
    cfg = {
        "runs": [
            {"models": ["a", "b"], "curricula": ["x"], "seeds": [0, 1]},
            {"models": ["a"], "curricula": ["x"], "seeds": [0]},
        ]
    }
    assert expand_runs(cfg) == [Run("a", "x", 0), Run("a", "x", 1), Run("b", "x", 0), Run("b", "x", 1)]
    assert Run("a", "x", 1).name == "a/x/seed1"


def test_needs_difficulty():
    assert needs_difficulty({"order": "mixed", "weighting": {"kind": "prototypes_first"}})
    assert needs_difficulty({"order": "mixed", "weighting": {"kind": "hard_first"}})
    assert not needs_difficulty({"order": "mixed", "weighting": {"kind": "uniform"}})
    assert not needs_difficulty({"order": ["g0"]})
