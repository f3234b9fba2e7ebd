"""Config logic the Snakemake rules need: cross-key checks and run expansion.

JSON-Schema validation (schemas/config.schema.yaml) checks each key alone; the checks here span keys
(a run naming a curriculum that does not exist, a curriculum naming an unknown age group, ...). They
run when the Snakefile is parsed, so a bad config fails before any job starts, with the key named.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: the pseudo-curriculum of the untrained model ("step 0" of every run)
INIT = "init"


class ConfigError(ValueError):
    """A config value that is valid on its own but inconsistent with the rest of the config."""


@dataclass(frozen=True)
class Run:
    model: str
    curriculum: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.model}/{self.curriculum}/seed{self.seed}"


def check_config(config: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the key of the first cross-key inconsistency."""
    data = config["data"]
    groups = data["age_groups"]
    if data["source"] == "manifest" and not data.get("manifest"):
        raise ConfigError("data.manifest: required when data.source is 'manifest'")
    spans = []
    for name, (lo, hi) in groups.items():
        if not lo < hi:
            raise ConfigError(f"data.age_groups.{name}: min_days ({lo}) must be below max_days ({hi})")
        spans.append((lo, hi, name))
    spans.sort()
    for (lo1, hi1, n1), (lo2, _hi2, n2) in itertools.pairwise(spans):
        if lo2 < hi1:
            raise ConfigError(f"data.age_groups: {n1} [{lo1}, {hi1}) overlaps {n2} (starts at {lo2})")
    features = config["features"]
    if features["extractor"] != "vit-random" and not features.get("model"):
        raise ConfigError(
            f"features.model: required for extractor {features['extractor']!r} (only vit-random is built here)"
        )
    k_min, k_max = config["difficulty"]["k_range"]
    if k_min > k_max:
        raise ConfigError(f"difficulty.k_range: k_min {k_min} > k_max {k_max}")
    if config["difficulty"]["k"] == INIT:
        raise ConfigError("difficulty.k: must be an integer or 'auto'")
    for name, cur in config["curricula"].items():
        if name == INIT:
            raise ConfigError(f"curricula.{INIT}: the name is reserved for the untrained baseline")
        order = cur["order"]
        if isinstance(order, list):
            unknown = [g for g in order if g not in groups]
            if unknown:
                raise ConfigError(
                    f"curricula.{name}.order: unknown age group(s) {unknown}; data.age_groups has {list(groups)}"
                )
    for i, block in enumerate(config["runs"]):
        for model in block["models"]:
            if model not in config["models"]:
                raise ConfigError(f"runs[{i}].models: {model!r} is not defined under models ({list(config['models'])})")
        for cur in block["curricula"]:
            if cur not in config["curricula"]:
                raise ConfigError(
                    f"runs[{i}].curricula: {cur!r} is not defined under curricula ({list(config['curricula'])})"
                )


def expand_runs(config: Mapping[str, Any]) -> list[Run]:
    """Every (model, curriculum, seed) of ``runs:``, in config order, without duplicates."""
    runs: list[Run] = []
    for block in config["runs"]:
        for model in block["models"]:
            for cur in block["curricula"]:
                for seed in block.get("seeds", [0]):
                    run = Run(model, cur, int(seed))
                    if run not in runs:
                        runs.append(run)
    return runs


def needs_difficulty(curriculum: Mapping[str, Any]) -> bool:
    """Whether a curriculum weights samples by difficulty (and so depends on score_difficulty)."""
    weighting = curriculum.get("weighting")
    return bool(weighting) and weighting.get("kind", "prototypes_first") != "uniform"
