"""Config blocks that used to accept anything (issue 13, item 6): unknown keys and negative seeds fail
at parse time with the full key named."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from devcurriculum.config import ConfigError, WorkflowConfig

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def test_config() -> dict:
    return yaml.safe_load((REPO / ".test/config.yaml").read_text())


def _block(cfg: dict, dotted: str) -> dict:
    node = cfg
    for key in dotted.split("."):
        node = node.setdefault(key, {})
    return node


@pytest.mark.parametrize(
    "block",
    ["demo", "demo.benchmark", "features.random_vit", "evaluation.linear", "evaluation.knn",
     "benchmarks.demo_objects", "benchmarks.digits"],
)
def test_unknown_key_is_rejected_naming_it(test_config: dict, block: str) -> None:
    cfg = copy.deepcopy(test_config)
    _block(cfg, block)["bogus_key"] = 1
    with pytest.raises(ConfigError) as err:
        WorkflowConfig.from_mapping(cfg)
    assert str(err.value).startswith(f"{block}.bogus_key: unknown key"), str(err.value)


def test_negative_seed_is_rejected_naming_it(test_config: dict) -> None:
    cfg = copy.deepcopy(test_config)
    cfg["runs"][0]["seeds"] = [0, -1]
    with pytest.raises(ConfigError, match=r"^runs\[0\]\.seeds\[1\]: -1 is less than the minimum of 0"):
        WorkflowConfig.from_mapping(cfg)
