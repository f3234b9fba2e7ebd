"""Config blocks that used to accept anything (issue 13, item 6): unknown keys and negative seeds fail
at parse time with the full key named."""

from __future__ import annotations

import copy
import re
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


# ---- issue 25, item 7: every seed non-negative, every number finite, results not an option ---------


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        ("demo.seed", -1, r"^demo\.seed: -1 is less than the minimum of 0"),
        ("difficulty.seed", -1, r"^difficulty\.seed: -1 is less than the minimum of 0"),
        ("curricula.developmental.seed", -1, r"^curricula\.developmental\.seed: "),
    ],
)
def test_every_seed_rejects_a_negative_value(test_config: dict, dotted: str, value: int, message: str) -> None:
    cfg = copy.deepcopy(test_config)
    *parents, leaf = dotted.split(".")
    _block(cfg, ".".join(parents))[leaf] = value
    with pytest.raises(ConfigError, match=message):
        WorkflowConfig.from_mapping(cfg)


def _seed_nodes(node: object, where: str = "") -> list[tuple[str, dict]]:
    """(dotted key, schema node) of every property whose name holds 'seed', anywhere in the schema."""
    found = []
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            if "seed" in name and isinstance(sub, dict):
                found.append((f"{where}.{name}".lstrip("."), sub))
        for key, sub in node.items():
            found += _seed_nodes(sub, f"{where}.{key}" if key not in ("properties",) else where)
    elif isinstance(node, list):
        for sub in node:
            found += _seed_nodes(sub, where)
    return found


def _integer_branches(node: dict) -> list[dict]:
    """The integer-typed parts of a node: itself, its oneOf/anyOf branches, its array items."""
    out = []
    for part in [node, *node.get("oneOf", []), *node.get("anyOf", [])]:
        types = part.get("type", [])
        if "integer" in ([types] if isinstance(types, str) else types):
            out.append(part)
        if isinstance(part.get("items"), dict):
            out += _integer_branches(part["items"])
    return out


def test_every_seed_key_in_the_schema_has_a_minimum_of_0() -> None:
    from devcurriculum.config.schema import load_schema

    nodes = _seed_nodes(load_schema())
    assert len(nodes) >= 10, nodes  # seeds of benchmarks, pairs, demo, random_vit, difficulty, curricula, runs, ...
    lacking = [key for key, node in nodes if not _integer_branches(node)
               or any(branch.get("minimum") != 0 for branch in _integer_branches(node))]
    assert lacking == []


@pytest.mark.parametrize(
    ("dotted", "value"),
    [("pretrain.lr", float("nan")), ("pretrain.lr", float("inf")), ("pretrain.weight_decay", float("nan")),
     ("models.videomae.mask_ratio", float("nan")), ("data.age_groups.g2", [240, float("inf")])],
)
def test_a_non_finite_number_is_rejected_wherever_a_number_is_validated(
    test_config: dict, dotted: str, value: object
) -> None:
    cfg = copy.deepcopy(test_config)
    *parents, leaf = dotted.split(".")
    _block(cfg, ".".join(parents))[leaf] = value
    with pytest.raises(ConfigError, match=rf"^{re.escape(dotted)}(\[\d\])?: (nan|inf) is not a finite number"):
        WorkflowConfig.from_mapping(cfg)


def test_gap_seconds_nan_is_rejected_as_the_fault_was_reported(test_config: dict) -> None:
    """YAML's `.nan` passed `exclusiveMinimum: 0` (every comparison with NaN is false)."""
    cfg = copy.deepcopy(test_config)
    overlay = yaml.safe_load("models: {vj: {objective: vjepa, mode: pairs, gap_seconds: .nan}}")
    cfg["models"]["vj"] = overlay["models"]["vj"]
    with pytest.raises(ConfigError, match=r"^models\.vj\.gap_seconds: nan is not a finite number"):
        WorkflowConfig.from_mapping(cfg)


@pytest.mark.parametrize("results", ["-rf", "-", "--help"])
def test_a_results_folder_starting_with_a_dash_is_refused_saying_why(test_config: dict, results: str) -> None:
    cfg = copy.deepcopy(test_config)
    cfg["results"] = results
    with pytest.raises(ConfigError) as err:
        WorkflowConfig.from_mapping(cfg)
    assert str(err.value).startswith(f"results: {results!r} ")
    assert "must not start with -" in str(err.value) and "option" in str(err.value)
