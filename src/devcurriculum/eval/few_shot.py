"""Few-shot readouts (rule ``few_shot``): the linear probe and kNN trained on n labelled items per class.

For each benchmark, each ``n`` of ``evaluation.few_shot.shots`` and each draw ``r`` of ``repeats``,
the train items are exactly ``n`` per class of the benchmark's train split
(:func:`few_shot_draw`); the test split is the whole test split, as for the full readouts. Both
readouts are the full ones (``readouts.linear_readout``, ``readouts.knn_hit_rates``) on those train
items; kNN reports every ``evaluation.knn.k`` that does not exceed the ``n * classes`` train items.

Draws are **stratified** (exactly ``n`` per class), **reproducible** (the items depend on the
benchmark's labels, ``seed``, ``r`` and ``n`` only: the same for every run and stage, so learners are
compared on the same labels) and **nested**: draw ``r`` of ``n`` shots is the first ``n`` items of
each class in draw ``r``'s permutation of that class, so it holds draw ``r`` of every smaller ``n``
(a curve over shots adds labels to the same items instead of drawing afresh).

Rows: the long format of ``readouts.EVAL_SCHEMA`` with readout ``linear_few_shot`` / ``knn_few_shot``,
the metric of the full readout (``top1_accuracy``, ``top{k}_hit_rate``), ``value`` = the mean over the
draws, plus ``shots`` and ``ci_low`` / ``ci_high``: the Student-t interval of that mean over the draws
(``confidence``; NaN with one draw), i.e. how much the score depends on which items were labelled.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from devcurriculum.config import FewShotConfig, KnnReadoutConfig, LinearReadoutConfig
from devcurriculum.eval.readouts import (
    EVAL_SCHEMA,
    RUN_KEYS,
    _labels,
    _stage_matrices,
    knn_hit_rates,
    linear_readout,
)
from devcurriculum.eval.statistics import paired_difference
from devcurriculum.utils.io import check_table_config, provenance, read_table, table_from_columns, write_table
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.eval.few_shot")

#: readout names of the few-shot rows (the full readouts are ``linear`` and ``knn``)
LINEAR, KNN = "linear_few_shot", "knn_few_shot"
FEW_SHOT_SCHEMA = pa.schema(
    [
        *EVAL_SCHEMA,
        pa.field("shots", pa.int64(), nullable=False),
        pa.field("ci_low", pa.float64()),
        pa.field("ci_high", pa.float64()),
    ]
)


def class_order(labels: Sequence[Any] | np.ndarray) -> list[Any]:
    """The classes of ``labels`` in a fixed order (sorted by their text), which the draws follow."""
    return sorted(set(np.asarray(labels, dtype=object).tolist()), key=str)


def few_shot_draw(labels: Sequence[Any] | np.ndarray, shots: int, repeat: int, seed: int) -> np.ndarray:
    """Positions (into ``labels``) of draw ``repeat`` of ``shots`` items per class.

    Class ``c`` (the ``j``-th of :func:`class_order`) is permuted by ``SeedSequence([seed, repeat, j])``
    and its first ``shots`` items are taken, so the draw depends on nothing but these numbers and the
    labels, and draw ``repeat`` of ``n`` shots holds draw ``repeat`` of every smaller ``n``. A class with
    fewer than ``shots`` items is an error naming it.
    """
    labels = np.asarray(labels, dtype=object)
    picked = []
    for j, cls in enumerate(class_order(labels)):
        members = np.flatnonzero(labels == cls)
        if len(members) < shots:
            raise ValueError(f"class {cls!r} has {len(members)} train item(s), fewer than {shots} shots")
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(repeat), j]))
        picked.append(members[rng.permutation(len(members))[:shots]])
    return np.concatenate(picked)


def few_shot_values(
    x: np.ndarray,
    labels: np.ndarray,
    split: np.ndarray,
    *,
    few_shot: FewShotConfig,
    linear: LinearReadoutConfig,
    knn: KnnReadoutConfig,
) -> list[dict[str, Any]]:
    """``readout, metric, shots, value, ci_low, ci_high`` of both readouts at every number of shots."""
    train_pos, test = np.flatnonzero(split == "train"), split == "test"
    train_labels = labels[train_pos]
    rows = []
    for shots in few_shot.shots:
        scores: dict[tuple[str, str], list[float]] = {}
        for repeat in range(few_shot.repeats):
            idx = train_pos[few_shot_draw(train_labels, shots, repeat, few_shot.seed)]
            acc = linear_readout(x[idx], labels[idx], x[test], labels[test], max_iter=linear.max_iter, tol=linear.tol,
                                 alpha=linear.alpha, seed=linear.seed)
            scores.setdefault((LINEAR, "top1_accuracy"), []).append(acc)
            ks = [k for k in knn.k if k <= len(idx)]
            for k, rate in knn_hit_rates(x[idx], labels[idx], x[test], labels[test], ks).items():
                scores.setdefault((KNN, f"top{k}_hit_rate"), []).append(rate)
        for (readout, metric), values in scores.items():
            mean, low, high, _ = paired_difference(values, few_shot.confidence)
            rows.append({"readout": readout, "metric": metric, "shots": int(shots), "value": mean,
                         "ci_low": None if np.isnan(low) else max(0.0, low),
                         "ci_high": None if np.isnan(high) else min(1.0, high)})
    return rows


def few_shot_run(
    *,
    embeddings: Sequence[PathLike],
    benchmarks: Mapping[str, PathLike],
    few_shot: FewShotConfig,
    linear: LinearReadoutConfig,
    knn: KnnReadoutConfig,
    out_path: PathLike,
    run_info: Mapping[str, Any],
    network: Mapping[str, Any] | None = None,
    model_key: str = "the model config",
) -> pa.Table:
    """Few-shot readouts of one run (its ``embed`` shards) on every benchmark at every stage; writes one table.

    ``run_info`` (model, curriculum, seed, and a fraction run's data_fraction / fraction_budget) names
    the rows and goes into the metadata; ``network`` (when given) is checked against every shard.
    """
    missing_keys = [k for k in RUN_KEYS if k not in run_info]
    if missing_keys:
        raise KeyError(f"run_info lacks {missing_keys}; needs {list(RUN_KEYS)}")
    if network is not None:
        for part in embeddings:
            check_table_config(part, network, given_as=model_key)
    emb = pa.concat_tables([read_table(p) for p in embeddings])
    columns: dict[str, list] = {name: [] for name in FEW_SHOT_SCHEMA.names}
    for name, table_path in benchmarks.items():
        labels, split = _labels(table_path)
        for (after_stage, step), x in _stage_matrices(emb, name, table_path):
            try:
                values = few_shot_values(x, labels, split, few_shot=few_shot, linear=linear, knn=knn)
            except ValueError as exc:
                raise ValueError(f"evaluation.few_shot on benchmark {name!r} ({table_path}): {exc}") from None
            for row in values:
                full = {**{k: run_info[k] for k in RUN_KEYS}, "benchmark": name, "after_stage": after_stage,
                        "step": step, **row}
                for key, value in full.items():
                    columns[key].append(value)
    table = table_from_columns(columns, FEW_SHOT_SCHEMA)
    meta = provenance(
        "few_shot",
        {"few_shot": few_shot.shaping(), "linear": linear.shaping(), "knn": knn.shaping()},
        run=dict(run_info),
        embeddings=[str(p) for p in embeddings],
    )
    write_table(table, out_path, metadata=meta)
    log.info("%s: %d few-shot values over %d benchmark(s), shots %s x %d draws", out_path, table.num_rows,
             len(benchmarks), list(few_shot.shots), few_shot.repeats)
    return table
