"""The violation-of-expectation readout (rule ``voe_readout``): pairwise accuracy from the learners' surprise.

For each clip, the surprise of the windows after its onset (``after_onset``, :mod:`.surprise`) is
aggregated by their mean and by their max. A pair is scored correct when its impossible clip is more
surprising than its possible clip (a tie counts one half); the pairwise accuracy is the fraction of
correct pairs, per property and over all pairs of a set. Chance is 0.5: a learner that cannot tell
the two clips apart is right on half the pairs. The untrained model need not sit at 0.5, because the
clips of a pair differ in their pixels after the onset (a vanished object leaves less to predict).

Rows come out in the readouts' long format (``readouts.EVAL_SCHEMA``): ``readout = "voe"``, metric
``pairwise_accuracy_mean`` or ``pairwise_accuracy_max`` (the aggregation over windows), benchmark
``<set>:<property>`` and ``<set>:overall``, for every run and stage, so ``summary.parquet`` holds them
next to the probes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from devcurriculum.eval.readouts import EVAL_SCHEMA, RUN_KEYS
from devcurriculum.utils.io import provenance, read_metadata, read_table, table_from_columns, write_table
from devcurriculum.utils.paths import PathLike
from devcurriculum.voe_onset import pair_problems

log = logging.getLogger("devcurriculum.eval.voe")

READOUT = "voe"
AGGREGATIONS = ("mean", "max")
CHANCE = 0.5
OVERALL = "overall"


def pairwise_accuracy(possible: np.ndarray, impossible: np.ndarray) -> float:
    """Fraction of pairs whose impossible clip is more surprising than its possible clip (ties: one half)."""
    possible, impossible = np.asarray(possible, float), np.asarray(impossible, float)
    if possible.shape != impossible.shape or not len(possible):
        raise ValueError(f"need matched, non-empty surprise arrays, got {possible.shape} and {impossible.shape}")
    return float(np.mean((impossible > possible) + 0.5 * (impossible == possible)))


def clip_surprise(windows: pd.DataFrame) -> pd.DataFrame:
    """Per (after_stage, step, voe, item_id): the mean and the max surprise over the windows after the onset."""
    after = windows[windows["after_onset"]]
    keys = ["after_stage", "step", "voe", "item_id"]
    missing = windows[keys].drop_duplicates().merge(after[keys].drop_duplicates(), how="left", indicator=True)
    missing = missing[missing["_merge"] == "left_only"]
    if len(missing):
        first = missing.iloc[0]
        raise ValueError(f"VoE clip {first.item_id!r} of {first.voe!r} has no window after its onset "
                         f"(after stage {first.after_stage})")
    return after.groupby(keys, sort=True)["surprise"].agg(list(AGGREGATIONS)).reset_index()


def set_items(name: str, table: PathLike) -> pd.DataFrame:
    """A prepared VoE set's items (voe, item_id, pair_id, property, possible), its pairs checked."""
    items = read_table(table, columns=["item_id", "pair_id", "property", "possible"]).to_pandas()
    problems = pair_problems(items)
    if problems:
        raise ValueError(f"VoE set {table}: " + "; ".join(problems))
    return items.assign(voe=name)


def pair_scores(clips: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """One row per (after_stage, step, voe, pair): property and each aggregation's (possible, impossible) surprise."""
    merged = clips.merge(items, on=["voe", "item_id"], how="right", validate="many_to_one")
    if merged[list(AGGREGATIONS)].isna().any().any():
        absent = merged.loc[merged["mean"].isna(), "item_id"].iloc[0]
        raise ValueError(f"VoE item {absent!r} has no surprise in the given tables")
    side = np.where(merged["possible"], "possible", "impossible")
    wide = merged.assign(side=side).pivot_table(
        index=["after_stage", "step", "voe", "pair_id", "property"], columns="side", values=list(AGGREGATIONS),
        aggfunc="first",
    )
    wide.columns = ["_".join(map(str, column)) for column in wide.columns]  # (mean, possible) -> mean_possible
    return wide.reset_index()


def accuracy_rows(pairs: pd.DataFrame) -> list[dict[str, Any]]:
    """``benchmark, after_stage, step, metric, value`` per property and overall, for each aggregation."""
    rows = []
    for _, stage in pairs.groupby(["after_stage", "step", "voe"], sort=True):
        first = stage.iloc[0]
        groups = [(f"{first.voe}:{prop}", part) for prop, part in stage.groupby("property", sort=True)]
        for benchmark, part in [*groups, (f"{first.voe}:{OVERALL}", stage)]:
            for agg in AGGREGATIONS:
                value = pairwise_accuracy(part[f"{agg}_possible"].to_numpy(), part[f"{agg}_impossible"].to_numpy())
                rows.append({"benchmark": benchmark, "after_stage": int(first.after_stage), "step": int(first.step),
                             "metric": f"pairwise_accuracy_{agg}", "value": value})
    return rows


def part_run(path: PathLike) -> tuple[str, str, int]:
    """(model, curriculum, seed) of a surprise table, from the ``run`` its job recorded in the metadata."""
    meta = read_metadata(path)
    try:
        run = json.loads(meta["devcurriculum.run"])
        return str(run["model"]), str(run["curriculum"]), int(run["seed"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"surprise table {path}: no run (model, curriculum, seed) in its metadata") from exc


def voe_readout(*, surprise_parts: Sequence[PathLike], sets: Mapping[str, PathLike], out_path: PathLike) -> int:
    """Pairwise accuracy of every run (its surprise tables, grouped by the run in their metadata) at every
    stage on every VoE set (``sets``: name -> item table); writes one table and returns its rows."""
    items = pd.concat([set_items(name, table) for name, table in sets.items()], ignore_index=True)
    runs: dict[tuple[str, str, int], list[PathLike]] = {}
    for part in surprise_parts:
        runs.setdefault(part_run(part), []).append(part)
    columns: dict[str, list] = {name: [] for name in EVAL_SCHEMA.names}
    for run, parts in runs.items():
        windows = pd.concat([read_table(p).to_pandas() for p in parts], ignore_index=True)
        for row in accuracy_rows(pair_scores(clip_surprise(windows), items)):
            for key, value in {**dict(zip(RUN_KEYS, run, strict=True)), **row, "readout": READOUT}.items():
                columns[key].append(value)
    table = table_from_columns(columns, EVAL_SCHEMA)
    meta = provenance("voe_readout", sets={name: str(t) for name, t in sets.items()}, chance=CHANCE, n_runs=len(runs))
    write_table(table, out_path, metadata=meta)
    log.info("VoE readout: %d rows for %d run(s) on %d set(s) -> %s", table.num_rows, len(runs), len(sets), out_path)
    return table.num_rows
