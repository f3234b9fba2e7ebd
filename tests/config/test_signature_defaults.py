"""Library signature defaults that mirror a config key: read from the block, equal to the schema, or absent.

The schema is the source of every default (``config/schema.py``). A public function keeps a default
for a config key only by reading it from the block's dataclass; internal entry points take none (the
caller passes the block's value). These tests fail when either drifts.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devcurriculum.config import DifficultyConfig
from devcurriculum.config.schema import subschema
from devcurriculum.curriculum import CurriculumSampler, PrototypeSchedule, effective_fraction, lerac_learning_rates
from devcurriculum.curriculum.prototype import sample_weights
from devcurriculum.difficulty import score_difficulty
from devcurriculum.eval.embed import embed_rows, embed_run
from devcurriculum.eval.readouts import linear_readout
from devcurriculum.eval.summarize import summarize
from devcurriculum.eval.surprise import score_windows, surprise_run
from devcurriculum.evalsets.labelled import (
    DEFAULT_SPLIT_MODE,
    SOURCE_MEDIA,
    assign_splits,
    build_benchmark,
    load_clips,
    read_labelled_manifest,
    ucf101_manifest,
)
from devcurriculum.features.extract import extract_features

SRC = Path(__file__).resolve().parents[2] / "src" / "devcurriculum"

DIFFICULTY = "#/properties/difficulty"
WEIGHTING = "#/properties/curricula/additionalProperties/properties/weighting"
LERAC = "#/properties/curricula/additionalProperties/properties/lerac"
FEATURES = "#/properties/features"
LABELLED = "#/$defs/labelled_common"

#: (function, parameter, the config key's schema node, its property)
MIRRORED: list[tuple[Callable[..., Any], str, str, str]] = [
    (score_difficulty, "k_range", DIFFICULTY, "k_range"),
    (score_difficulty, "normalize", DIFFICULTY, "normalize"),
    (score_difficulty, "seed", DIFFICULTY, "seed"),
    (score_difficulty, "backend", DIFFICULTY, "backend"),
    (effective_fraction, "kind", WEIGHTING, "kind"),
    (sample_weights, "kind", WEIGHTING, "kind"),
    (PrototypeSchedule, "kind", WEIGHTING, "kind"),
    (lerac_learning_rates, "mode", LERAC, "mode"),
    (lerac_learning_rates, "c", LERAC, "c"),
    (CurriculumSampler, "bucket_steps", "#/properties/pretrain", "bucket_steps"),
    (extract_features, "layer", FEATURES, "layer"),
    (extract_features, "pooling", FEATURES, "pooling"),
    (extract_features, "frames", FEATURES, "frames"),
    (extract_features, "batch_size", FEATURES, "batch_size"),
    (build_benchmark, "split_mode", LABELLED, "split"),
    (build_benchmark, "test_fraction", LABELLED, "test_fraction"),
    (build_benchmark, "seed", LABELLED, "seed"),
    (load_clips, "start_fraction", LABELLED, "start_fraction"),
    (assign_splits, "mode", LABELLED, "split"),
    (assign_splits, "test_fraction", LABELLED, "test_fraction"),
    (assign_splits, "seed", LABELLED, "seed"),
    (read_labelled_manifest, "label_column", "#/$defs/benchmark_video_manifest", "label_column"),
    (ucf101_manifest, "split_number", "#/$defs/benchmark_ucf101", "split_number"),
]

#: internal entry points whose config-mirroring parameters have no default: the caller passes the block's value
REQUIRED: list[tuple[Callable[..., Any], str]] = [
    (linear_readout, "max_iter"),  # evaluation.linear.*
    (linear_readout, "tol"),
    (linear_readout, "alpha"),
    (linear_readout, "seed"),
    (summarize, "reference_curriculum"),  # evaluation.reference_curriculum
    (embed_run, "batch_size"),  # evaluation.embed_batch_size
    (embed_rows, "batch_size"),
    (surprise_run, "batch_size"),  # voe.batch_size
    (score_windows, "batch_size"),
]


def _name(fn: Callable[..., Any], param: str) -> str:
    return f"{fn.__name__}({param})"


@pytest.mark.parametrize(("fn", "param", "node", "key"), MIRRORED, ids=[_name(f, p) for f, p, _, _ in MIRRORED])
def test_a_mirrored_signature_default_equals_the_schema_default(
    fn: Callable[..., Any], param: str, node: str, key: str
) -> None:
    default = inspect.signature(fn).parameters[param].default
    expected = subschema(node)["properties"][key]["default"]
    assert (list(default) if isinstance(default, tuple) else default) == expected, (
        f"{_name(fn, param)} = {default!r}, the schema's {node}/{key} = {expected!r}"
    )


@pytest.mark.parametrize(("fn", "param"), REQUIRED, ids=[_name(f, p) for f, p in REQUIRED])
def test_an_internal_entry_point_takes_the_config_value_from_its_caller(fn: Callable[..., Any], param: str) -> None:
    assert inspect.signature(fn).parameters[param].default is inspect.Parameter.empty


def test_the_documented_public_calls_keep_their_defaults() -> None:
    # the public API as documented: score_difficulty(features, k=None, k_range=(2, 20), labels=None,
    # normalize=True, seed=42), PrototypeSchedule(difficulty, initial_fraction, warmup_steps),
    # effective_fraction(difficulty, temperature), lerac_learning_rates(initial_rates, base_lr, step,
    # warmup_steps, mode="paper", c=10)
    def defaults(fn: Callable[..., Any]) -> dict[str, Any]:
        return {name: p.default for name, p in inspect.signature(fn).parameters.items()}

    empty = inspect.Parameter.empty
    assert defaults(score_difficulty) == {
        "features": empty, "k": None, "k_range": (2, 20), "labels": None, "normalize": True, "seed": 42,
        "db_subsample": None, "backend": "sklearn",
    }
    assert list(defaults(PrototypeSchedule).items())[:3] == [
        ("difficulty", empty), ("initial_fraction", empty), ("warmup_steps", empty)
    ]
    assert list(defaults(effective_fraction).items())[:2] == [("difficulty", empty), ("temperature", empty)]
    assert defaults(lerac_learning_rates) == {
        "initial_rates": empty, "base_lr": empty, "step": empty, "warmup_steps": empty, "mode": "paper", "c": 10
    }


def test_the_defaults_that_differ_from_the_config_on_purpose() -> None:
    params = inspect.signature(score_difficulty).parameters
    # k=None is the config's "auto"
    assert params["k"].default is None and DifficultyConfig().fixed_k is None
    # the library scores the Davies-Bouldin index on every sample unless told; the workflow passes
    # difficulty.db_subsample, a subsample
    assert params["db_subsample"].default is None and isinstance(DifficultyConfig().db_subsample, int)
    # a schedule on its own solves every step; pretrain.bucket_steps ("auto") needs the plan, and the
    # sampler passes the count it resolves
    assert inspect.signature(PrototypeSchedule).parameters["bucket_steps"].default == 1


def test_every_labelled_source_has_the_default_split_of_its_block() -> None:
    assert set(DEFAULT_SPLIT_MODE) == set(SOURCE_MEDIA)
    for source, mode in DEFAULT_SPLIT_MODE.items():
        assert mode == subschema(f"#/$defs/benchmark_{source}")["properties"]["split"]["default"], source


def _schema_defaults_by_key() -> dict[str, list[Any]]:
    """Every property name of the schema with the defaults it has anywhere."""
    out: dict[str, list[Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, sub in (node.get("properties") or {}).items():
                if isinstance(sub, dict) and "default" in sub:
                    out.setdefault(key, []).append(sub["default"])
            for key, value in node.items():
                if key != "default":
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(subschema("#"))
    return out


#: literal defaults named like a config key, with that key's default value, that are not that key
NOT_A_CONFIG_KEY = {
    ("datasets/decode.py", "iter_frame_batches", "batch_size"): "frames per decode batch, not voe.batch_size",
}


def test_no_library_signature_restates_a_schema_default_as_a_literal() -> None:
    schema_defaults = _schema_defaults_by_key()
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.parent.name == "config":
            continue
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            positional = fn.args.posonlyargs + fn.args.args
            pairs = list(zip(positional[len(positional) - len(fn.args.defaults):], fn.args.defaults, strict=True))
            pairs += [(a, d) for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults, strict=True) if d is not None]
            for arg, node in pairs:
                try:
                    value = ast.literal_eval(node)
                except ValueError:
                    continue  # not a literal: a constant or a block's default
                value = list(value) if isinstance(value, tuple) else value
                key = (path.relative_to(SRC).as_posix(), fn.name, arg.arg)
                if value is not None and value in schema_defaults.get(arg.arg, []) and key not in NOT_A_CONFIG_KEY:
                    found.append(f"{key[0]}:{fn.lineno} {fn.name}({arg.arg}={value!r})")
    # read it from the config block (``seed: int = DifficultyConfig.seed``) or make the caller pass it
    assert found == []
