"""The violation-of-expectation readout (rule ``voe_readout``): the metric suite of every run from its surprise.

Per run, stage and VoE set, the surprise table (:mod:`.surprise`: one row per clip, window and context
length) is read as the reference reads it (docs/voe.md "The readout"):

- one **row of the sweep** per context length ``C`` of ``voe.context_frames`` (metric suffix
  ``_ctx{C}``) and the **Filtered** row (``_filtered``: per clip and window the smallest surprise over
  the context lengths), each scored with :func:`~devcurriculum.eval.voe_metrics.voe_metrics` under the
  reference's protocol (``garrido2025``) per property, ``<set>:overall`` the unweighted mean over
  properties;
- the **pre-registered** row (no suffix): the context length ``voe.preregistered_context`` (default:
  the first listed), fixed before any surprise was seen — the headline;
- the **best row** (``_best_row``): per property and metric the maximum over all rows, as the paper
  selects it. It is chosen on the very pairs it is reported on, so it is optimistic: an untrained
  model's best row is above its pre-registered one by construction;
- the project's own reading at the pre-registered context (protocol ``devcurriculum``):
  ``pairwise_accuracy_mean`` / ``pairwise_accuracy_max`` — only windows after the onset, a tie one
  half, ``<set>:overall`` on all pairs pooled;
- **Hedges' g** against the untrained networks (``hedges_g_<metric>``, for the pre-registered and the
  best-row metrics): per learner, every trained (curriculum, stage) over its seeds against every
  untrained init of that learner (``{model}/init/seed*``, ``voe.untrained_inits`` of them at least),
  the figure notebook's formula (:func:`~devcurriculum.eval.voe_metrics.hedges_g`). A group value: each
  seed's row of the group carries it, so it is the same on every seed.

Rows come out in the readouts' long format (``readouts.EVAL_SCHEMA``, ``readout = "voe"``), so
``summary.parquet`` holds them next to the probes.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from devcurriculum.config import INIT
from devcurriculum.eval.readouts import EVAL_SCHEMA
from devcurriculum.eval.voe_metrics import METRICS, hedges_g, suite
from devcurriculum.utils.io import provenance, read_metadata, read_table, table_from_columns, write_table
from devcurriculum.utils.paths import PathLike
from devcurriculum.voe_onset import pair_problems

log = logging.getLogger("devcurriculum.eval.voe")

READOUT = "voe"
CHANCE = 0.5
OVERALL = "overall"
#: the project's protocol at the pre-registered context: metric name -> voe_metrics key
PAIRWISE = {"pairwise_accuracy_mean": "relative_accuracy_mean", "pairwise_accuracy_max": "relative_accuracy_max"}
BEST = "_best_row"
FILTERED = "filtered"
#: the metrics Hedges' g is reported for (pre-registered and best row)
EFFECT_METRICS = (*METRICS, *(f"{m}{BEST}" for m in METRICS))
EFFECT_PREFIX = "hedges_g_"
SWEEP_KEYS = ["after_stage", "step", "voe", "item_id", "window_start"]


def set_items(name: str, table: PathLike) -> pd.DataFrame:
    """A prepared VoE set's items (voe, item_id, pair_id, property, possible), its pairs checked."""
    items = read_table(table, columns=["item_id", "pair_id", "property", "possible"]).to_pandas()
    problems = pair_problems(items)
    if problems:
        raise ValueError(f"VoE set {table}: " + "; ".join(problems))
    return items.assign(voe=name)


def with_items(windows: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """The surprise rows with each clip's pair, property and side; every item of the sets must be scored."""
    merged = windows.merge(items, on=["voe", "item_id"], how="right", validate="many_to_one", indicator=True)
    absent = merged[merged["_merge"] == "right_only"]
    if len(absent):
        raise ValueError(f"VoE item {absent['item_id'].iloc[0]!r} of {absent['voe'].iloc[0]!r} has no surprise in the "
                         "given tables")
    return merged.drop(columns="_merge").rename(columns={"window_start": "window"})


def _rows(benchmark_of: str, metrics: Any, names: Mapping[str, str], overall: str = "mean") -> list[tuple[str, str, float]]:
    """(benchmark, metric, value) per property and overall of one voe_metrics result; ``names``: our name -> its key."""
    out = [(f"{benchmark_of}:{prop}", name, float(values[key]))
           for prop, values in metrics.by_property.items() for name, key in names.items()]
    whole = metrics.property_mean if overall == "mean" else metrics.pooled
    out += [(f"{benchmark_of}:{OVERALL}", name, float(whole[key])) for name, key in names.items()]
    return out


def _best(values: Sequence[float]) -> float:
    """The largest value; NaN when any is (too few pairs for the threshold: then every row of the property is)."""
    return math.nan if any(math.isnan(v) for v in values) else max(values)


def stage_rows(windows: pd.DataFrame, voe: str, preregistered: int | None) -> list[tuple[str, str, float]]:
    """Every metric of one (stage, set): the sweep rows, Filtered, the pre-registered and the best row, and
    the project's pairwise accuracy. ``windows``: its surprise rows with pair_id, property, possible."""
    contexts = sorted(int(c) for c in windows["context"].unique())
    if preregistered is None:
        if len(contexts) != 1:
            raise ValueError(f"VoE set {voe!r}: surprise at context lengths {contexts}; say which one is "
                             "pre-registered (voe.preregistered_context)")
        preregistered = int(contexts[0])
    if preregistered not in contexts:
        raise ValueError(f"VoE set {voe!r}: voe.preregistered_context {preregistered} is not among the context "
                         f"lengths scored ({contexts})")
    columns = ["pair_id", "possible", "window", "surprise", "property"]
    sweep: dict[str, pd.DataFrame] = {f"ctx{c}": windows.loc[windows["context"] == c, columns] for c in contexts}
    keys = ["pair_id", "possible", "window", "property"]
    sweep[FILTERED] = windows.groupby(keys)["surprise"].min().reset_index()
    scored = {row: suite(table, "garrido2025", pooled=False) for row, table in sweep.items()}
    out: list[tuple[str, str, float]] = []
    for row, metrics in scored.items():
        out += _rows(voe, metrics, {f"{m}_{row}": m for m in METRICS})
    out += _rows(voe, scored[f"ctx{preregistered}"], {m: m for m in METRICS})
    best = {prop: {m: _best([s.by_property[prop][m] for s in scored.values()]) for m in METRICS}
            for prop in scored[FILTERED].by_property}
    for prop, values in best.items():
        out += [(f"{voe}:{prop}", f"{m}{BEST}", float(values[m])) for m in METRICS]
    out += [(f"{voe}:{OVERALL}", f"{m}{BEST}", float(np.mean([v[m] for v in best.values()]))) for m in METRICS]
    project = windows[windows["context"] == preregistered]
    out += _rows(voe, suite(project, "devcurriculum", curves=False), PAIRWISE, overall="pooled")
    return out


def run_rows(windows: pd.DataFrame, items: pd.DataFrame, preregistered: int | None) -> list[dict[str, Any]]:
    """``benchmark, after_stage, step, metric, value`` of one run at every stage on every set."""
    if "context" not in windows.columns:
        raise ValueError("surprise table without a context column (written before the context sweep): rerun surprise")
    windows = with_items(windows, items)
    rows = []
    for (stage, step, voe), part in windows.groupby(["after_stage", "step", "voe"], sort=True):
        for benchmark, metric, value in stage_rows(part, str(voe), preregistered):
            rows.append({"benchmark": benchmark, "after_stage": int(stage), "step": int(step),  # type: ignore[call-overload]
                         "metric": metric, "value": value})
    return rows


def effect_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Hedges' g of every trained (model, curriculum, stage) over its seeds against the model's untrained inits,
    one row per seed of the group (the module docstring)."""
    scored = rows[rows["metric"].isin(EFFECT_METRICS)]
    untrained = scored[scored["curriculum"] == INIT]
    trained = scored[scored["curriculum"] != INIT]
    out = []
    keys = ["model", "benchmark", "metric"]
    base = {key: part["value"].to_numpy() for key, part in untrained.groupby(keys, sort=False)}
    for (model, benchmark, metric, _, _), group in trained.groupby([*keys, "curriculum", "after_stage"], sort=True):
        reference = base.get((model, benchmark, metric))
        if reference is None:
            continue
        g = hedges_g(group["value"].to_numpy(), reference)
        out.append(group.assign(metric=EFFECT_PREFIX + str(metric), value=g))
    return pd.concat(out, ignore_index=True) if out else rows.iloc[:0]


def compared(metric: str) -> bool:
    """Whether curricula are compared on a VoE metric: not on Hedges' g (one value per curriculum and stage,
    nothing to pair by seed) nor on the sweep's rows (``_ctx{C}``, ``_filtered``: the material of the
    pre-registered and best rows, which are compared)."""
    return not (metric.startswith(EFFECT_PREFIX) or metric.endswith(f"_{FILTERED}")
                or metric.rsplit("_", 1)[-1].removeprefix("ctx").isdigit())


def part_run(path: PathLike) -> tuple[str, str, int]:
    """(model, curriculum, seed) of a surprise table, from the ``run`` its job recorded in the metadata."""
    meta = read_metadata(path)
    try:
        run = json.loads(meta["devcurriculum.run"])
        return str(run["model"]), str(run["curriculum"]), int(run["seed"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"surprise table {path}: no run (model, curriculum, seed) in its metadata") from exc


def voe_readout(
    *, surprise_parts: Sequence[PathLike], sets: Mapping[str, PathLike], out_path: PathLike,
    preregistered_context: int | None = None,
) -> int:
    """The metric suite of every run (its surprise tables, grouped by the run in their metadata) at every
    stage on every VoE set (``sets``: name -> item table), and Hedges' g of the trained stages against the
    untrained inits; writes one table and returns its rows.

    ``preregistered_context``: the context length of the headline metrics (None: the only one scored).
    """
    items = pd.concat([set_items(name, table) for name, table in sets.items()], ignore_index=True)
    runs: dict[tuple[str, str, int], list[PathLike]] = {}
    for part in surprise_parts:
        runs.setdefault(part_run(part), []).append(part)
    frames = []
    for run, parts in runs.items():
        windows = pd.concat([read_table(p).to_pandas() for p in parts], ignore_index=True)
        frame = pd.DataFrame(run_rows(windows, items, preregistered_context))
        model, curriculum, seed = run
        frames.append(frame.assign(model=model, curriculum=curriculum, seed=seed))
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=EVAL_SCHEMA.names)
    rows = pd.concat([rows, effect_rows(rows)], ignore_index=True).assign(readout=READOUT)
    table = table_from_columns({name: rows[name].tolist() for name in EVAL_SCHEMA.names}, EVAL_SCHEMA)
    inits = rows[rows["curriculum"] == INIT].groupby("model")["seed"].nunique()
    n_init = {str(model): int(inits.get(model, 0)) for model in sorted(rows["model"].unique())}
    meta = provenance("voe_readout", sets={name: str(t) for name, t in sets.items()}, chance=CHANCE, n_runs=len(runs),
                      preregistered_context=preregistered_context, untrained_inits=n_init)
    write_table(table, out_path, metadata=meta)
    log.info("VoE readout: %d rows for %d run(s) on %d set(s), untrained inits per model %s -> %s", table.num_rows,
             len(runs), len(sets), n_init, out_path)
    return table.num_rows
