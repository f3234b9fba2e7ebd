"""One table, the seed statistics and the figures of the whole study (rule ``summarize``).

``summary.parquet`` holds one row per (run, after_stage, benchmark, readout, metric). ``after_stage``
0 is the untrained model: the readouts of ``{model}/init/seed{s}`` appear in every curriculum's curve
of that (model, seed), because every run of that pair starts from those weights; an untrained network
of a seed no run trains (``voe.untrained_inits``) keeps its own rows (curriculum ``init``). ``comparisons.parquet``
compares each curriculum with the reference curriculum, paired by seed, with Holm-adjusted p-values per
learner (``eval.statistics``). The
number of source videos skipped as unreadable (``videos.parquet`` rows with ``status == "error"``)
travels in the schema metadata as ``devcurriculum.skipped_videos``, so nothing is silently dropped.

Columns after ``value`` (docs/evaluation.md "The summary"): ``data_fraction`` (the fraction of the
corpus the run trained on, 1.0 for the whole corpus; read from the eval tables' ``run`` metadata),
``hours`` (the hours of video in that subset, from ``videos.parquet``; null without a video index
that has durations), ``fraction_budget`` (``steps`` or ``epochs``; ``steps`` for whole-corpus runs),
``shots`` (labelled items per class of a few-shot readout, null for every other row) and ``ci_low`` /
``ci_high`` (a few-shot value's interval over its draws, null otherwise). The comparisons pair
curricula within each (data_fraction, fraction_budget, shots).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pyarrow as pa

from devcurriculum.config import BASELINE, INIT
from devcurriculum.config.runs import run_name
from devcurriculum.datasets.fractions import fraction_hours, fraction_key, usable_videos
from devcurriculum.eval import plots
from devcurriculum.eval.readouts import POINT_KEYS, RUN_KEYS
from devcurriculum.eval.statistics import FAMILY_KEYS, compare_curricula
from devcurriculum.eval.voe import READOUT as VOE_READOUT
from devcurriculum.eval.voe import compared as voe_compared
from devcurriculum.utils.atomic import atomic_path
from devcurriculum.utils.io import provenance, read_metadata, read_schema, read_table, table_from_columns, write_table
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.eval.summarize")

SUMMARY_SCHEMA = pa.schema(
    [
        pa.field("run", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("curriculum", pa.string(), nullable=False),
        # null only in an outside model's rows (curriculum "baseline"): no seed of ours, no stages
        pa.field("seed", pa.int64(), nullable=True),
        pa.field("after_stage", pa.int64(), nullable=True),
        pa.field("step", pa.int64(), nullable=True),
        pa.field("benchmark", pa.string(), nullable=False),
        pa.field("readout", pa.string(), nullable=False),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("data_fraction", pa.float64(), nullable=False),
        pa.field("hours", pa.float64()),
        pa.field("fraction_budget", pa.string(), nullable=False),
        pa.field("shots", pa.int64()),
        pa.field("ci_low", pa.float64()),
        pa.field("ci_high", pa.float64()),
    ]
)
COMPARISON_SCHEMA = pa.schema(
    [
        pa.field("model", pa.string(), nullable=False),
        pa.field("benchmark", pa.string(), nullable=False),
        pa.field("readout", pa.string(), nullable=False),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("after_stage", pa.int64(), nullable=False),
        pa.field("curriculum", pa.string(), nullable=False),
        pa.field("reference", pa.string(), nullable=False),
        pa.field("n_seeds", pa.int64(), nullable=False),
        pa.field("mean_diff", pa.float64(), nullable=False),
        pa.field("ci_low", pa.float64()),
        pa.field("ci_high", pa.float64()),
        pa.field("p_value", pa.float64()),
        pa.field("p_holm", pa.float64()),
        pa.field("n_tests", pa.int64(), nullable=False),
        pa.field("data_fraction", pa.float64(), nullable=False),
        pa.field("fraction_budget", pa.string(), nullable=False),
        pa.field("shots", pa.int64()),
    ]
)
PLOT_NAMES = ("stage_curves.png", "readouts.png", "loss_curves.png", "schedules.png", "voe.png")
EVAL_KEYS = (*RUN_KEYS, *POINT_KEYS, "readout", "metric")
#: what tells two runs of one (model, curriculum, seed) apart, and a few-shot row from another
SUBSET_KEYS = ("data_fraction", "fraction_budget")
#: columns some eval tables carry (few-shot readouts); null in the others' rows
OPTIONAL_COLUMNS = ("shots", "ci_low", "ci_high")


def _run_meta(path: PathLike, meta: dict[str, str]) -> dict:
    """The ``run`` a readout job recorded (model, curriculum, seed, and a fraction run's data_fraction)."""
    try:
        run = json.loads(meta.get("devcurriculum.run", "{}"))
    except json.JSONDecodeError:
        raise ValueError(f"eval table {path}: its devcurriculum.run metadata is not JSON") from None
    return run if isinstance(run, dict) else {}


def load_evals(eval_paths: Sequence[PathLike]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Every readout row, plus each benchmark's majority-class chance level from the tables' metadata.

    Each row gains ``data_fraction`` and ``fraction_budget`` from its table's ``run`` metadata (1.0 and
    ``steps`` when absent: the whole corpus) and the few-shot columns (null where a table has none).
    """
    needed = [*EVAL_KEYS, "value"]
    frames, chance = [], {}
    for path in eval_paths:
        frame = read_table(path).to_pandas()
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(f"eval table {path} lacks columns {missing}")
        meta = read_metadata(path)
        run = _run_meta(path, meta)
        frame = frame[needed + [c for c in OPTIONAL_COLUMNS if c in frame.columns]].assign(
            data_fraction=float(run.get("data_fraction", 1.0)), fraction_budget=str(run.get("fraction_budget", "steps"))
        )
        frames.append(frame)
        if "devcurriculum.chance_top1" in meta:
            chance.update({str(k): float(v) for k, v in json.loads(meta["devcurriculum.chance_top1"]).items()})
    columns = [*needed, *SUBSET_KEYS, *OPTIONAL_COLUMNS]
    if not frames:
        return pd.DataFrame(columns=columns), chance
    evals = pd.concat(frames, ignore_index=True).reindex(columns=columns)
    evals["shots"] = evals["shots"].astype("Int64")
    evals[["ci_low", "ci_high"]] = evals[["ci_low", "ci_high"]].astype("float64")
    dup = evals.duplicated(subset=[*EVAL_KEYS, *SUBSET_KEYS, "shots"], keep=False)
    if dup.any():
        first = evals[dup].iloc[0]
        shots = "" if pd.isna(first.shots) else f" at {first.shots} shots"
        raise ValueError(
            f"the same readout appears twice: {_run_label(first)} "
            f"{first.benchmark} after stage {first.after_stage} {first.readout}/{first.metric}{shots}"
        )
    return evals, chance


def _run_label(row: pd.Series) -> str:
    return run_name(row.model, row.curriculum, row.seed, fraction_key(row.data_fraction, row.fraction_budget))


def with_voe_rows(evals: pd.DataFrame, voe_paths: Sequence[PathLike]) -> pd.DataFrame:
    """The probes' rows plus the VoE readout's (``readout == "voe"``, ``eval.voe``), checked like them."""
    if not voe_paths:
        return evals
    voe, _ = load_evals(voe_paths)
    return pd.concat([evals, voe], ignore_index=True)


def stage_curves(evals: pd.DataFrame) -> pd.DataFrame:
    """Each trained run's readouts with its untrained model's as after_stage 0 (step 0).

    A trained run without its untrained baseline among ``evals`` keeps only its own stages; a readout
    of the baseline that the run lacks (say, few-shot rows read on the whole corpus only) is not added.
    """
    baseline = evals[evals["curriculum"] == INIT]
    trained = evals[evals["curriculum"] != INIT]
    starts = []
    keys = ["model", "curriculum", "seed", *SUBSET_KEYS]
    point = ["benchmark", "readout", "metric", "shots"]
    for (model, curriculum, seed, fraction, budget), run in trained.groupby(keys, sort=False):
        base = baseline[(baseline["model"] == model) & (baseline["seed"] == seed)]
        # only the readouts the run has (a fraction run may skip some that its untrained model has)
        has = pd.MultiIndex.from_frame(run[point].drop_duplicates())
        base = base[pd.MultiIndex.from_frame(base[point]).isin(has)]
        starts.append(base.assign(curriculum=str(curriculum), after_stage=0, step=0, data_fraction=float(fraction),  # type: ignore[arg-type]
                                  fraction_budget=str(budget)))
    # untrained networks of seeds no run trains (voe.untrained_inits beyond the runs' seeds) stay as they are
    seeds = set(zip(trained["model"], trained["seed"], strict=True))
    alone = baseline[[(m, s) not in seeds for m, s in zip(baseline["model"], baseline["seed"], strict=True)]]
    curves = pd.concat([*starts, alone, trained], ignore_index=True) if starts or len(alone) else trained.copy()
    curves.insert(0, "run", [_run_label(row) for _, row in curves.iterrows()])
    order = ["model", "curriculum", *SUBSET_KEYS, "seed", "benchmark", "after_stage", "readout", "metric", "shots"]
    return curves.sort_values(order, kind="stable", ignore_index=True)


def run_hours(videos_parquet: PathLike | None, runs: pd.DataFrame) -> dict[tuple[float, int], float]:
    """Hours of video per (data_fraction, seed) of ``runs`` (:func:`~devcurriculum.datasets.fractions.fraction_hours`);
    empty without a video index that has ``age_group`` and ``duration_s``."""
    if videos_parquet is None:
        return {}
    needed = ["video_id", "age_group", "duration_s", "status"]
    if not set(needed) <= set(read_schema(videos_parquet).names):
        return {}
    videos = usable_videos(read_table(videos_parquet, columns=needed).to_pandas())
    pairs = runs[["data_fraction", "seed"]].drop_duplicates().itertuples(index=False)
    return {(float(f), int(s)): fraction_hours(videos, float(f), int(s)) for f, s in pairs}


def baseline_rows(baseline_paths: Sequence[PathLike]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Outside models' readout and VoE rows as summary rows: ``run = baseline/<name>``, ``curriculum =
    baseline``, seed, after_stage and step null (trained elsewhere: no seed of ours, no stages)."""
    evals, chance = load_evals(baseline_paths)
    rows = evals.assign(run=[f"{BASELINE}/{m}" for m in evals["model"]], curriculum=BASELINE)
    for column in ("seed", "after_stage", "step"):
        rows[column] = pd.array([pd.NA] * len(rows), dtype="Int64")
    return rows.sort_values(["model", "benchmark", "readout", "metric"], kind="stable", ignore_index=True), chance


def run_identity(path: PathLike, frame: pd.DataFrame) -> tuple[str, str, int]:
    """(model, curriculum, seed) of a metrics table: its columns, else its provenance metadata, else its path.

    The path ``.../{model}/{curriculum}/seed{seed}/metrics.parquet`` is the workflow's layout and only
    the last resort, so tables moved or written by a user's own loop still summarise correctly.
    """
    if all(k in frame.columns for k in ("model", "curriculum", "seed")) and len(frame):
        row = frame.iloc[0]
        return str(row["model"]), str(row["curriculum"]), int(row["seed"])
    meta = read_metadata(path)
    found = {k: meta.get(f"devcurriculum.{k}") for k in ("model", "curriculum", "seed")}
    if "devcurriculum.run" in meta:
        try:
            run = json.loads(meta["devcurriculum.run"])
            if isinstance(run, dict):
                found = {k: found[k] or run.get(k) for k in found}
        except json.JSONDecodeError:
            pass
    if all(v is not None for v in found.values()):
        return str(_unquote(found["model"])), str(_unquote(found["curriculum"])), int(str(_unquote(found["seed"])))
    parts = Path(path).parts
    if len(parts) >= 4 and parts[-2].startswith("seed") and parts[-2][4:].isdigit():
        return parts[-4], parts[-3], int(parts[-2][4:])
    raise ValueError(f"cannot tell which run {path} belongs to: no model/curriculum/seed columns, metadata or run folder")


def load_metrics(metrics_paths: Sequence[PathLike]) -> pd.DataFrame:
    """All training metrics with model, curriculum and seed columns added."""
    frames = []
    for path in metrics_paths:
        frame = read_table(path).to_pandas()
        missing = [c for c in ("step", "loss") if c not in frame.columns]
        if missing:
            raise ValueError(f"metrics table {path} lacks columns {missing}")
        model, curriculum, seed = run_identity(path, frame)
        frame = frame.assign(model=model, curriculum=curriculum, seed=seed)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["model", "curriculum", "seed", "step", "loss"])
    return pd.concat(frames, ignore_index=True)


def init_sources(metrics_paths: Sequence[PathLike]) -> dict[str, object]:
    """``models.<name>.init_from`` of every learner whose runs started from given weights (model -> value).

    Read from the run spec each ``metrics.parquet`` carries in its metadata; a learner started from
    random init is absent. It says what after_stage 0 of that learner is (the given weights).
    """
    found: dict[str, object] = {}
    for path in metrics_paths:
        try:
            spec = json.loads(read_metadata(path).get("devcurriculum.config", "{}"))
        except json.JSONDecodeError:
            continue
        init = spec.get("model", {}).get("init_from") if isinstance(spec, dict) else None
        if init is not None:
            found[str(spec.get("model_name"))] = init
    return found


def count_skipped_videos(videos_parquet: PathLike | None) -> int:
    """Rows of ``videos.parquet`` whose status is ``error`` (0 when no index is given)."""
    if videos_parquet is None:
        return 0
    videos = read_table(videos_parquet, columns=["status"]).column("status").to_pylist()
    return sum(status == "error" for status in videos)


def summarize(
    *,
    eval_paths: Sequence[PathLike],
    metrics_paths: Sequence[PathLike],
    videos_parquet: PathLike | None,
    out_summary: PathLike,
    out_comparisons: PathLike,
    plot_dir: PathLike,
    reference_curriculum: str,
    voe_paths: Sequence[PathLike] = (),
    figure_style: str | None = None,
    baseline_paths: Sequence[PathLike] = (),
) -> dict[str, Path]:
    """Write ``summary.parquet``, ``comparisons.parquet`` (+ ``.csv``) and the figures; returns what was written.

    ``voe_paths``: the VoE readout tables (``eval.voe``); their rows join the summary and the comparisons,
    and have their own figure (``voe.png``). ``figure_style``: a matplotlib style (name or ``.mplstyle``
    file, ``evaluation.figure_style``) the figures are drawn in. ``baseline_paths``: the readout and VoE
    tables of outside models (``baselines``); their rows join the summary (:func:`baseline_rows`) and
    are reference lines in the stage curves and the VoE figure, never part of a comparison.
    """
    evals, chance = load_evals(eval_paths)
    evals = with_voe_rows(evals, voe_paths)
    metrics = load_metrics(metrics_paths)
    skipped = count_skipped_videos(videos_parquet)
    curves = stage_curves(evals)
    hours = run_hours(videos_parquet, curves)
    curves["hours"] = [hours.get((float(f), int(s))) for f, s in zip(curves["data_fraction"], curves["seed"], strict=True)]
    outside, outside_chance = baseline_rows(baseline_paths)
    chance = {**outside_chance, **chance}
    rows = pd.concat([curves, outside.assign(hours=None)[curves.columns]], ignore_index=True) if len(outside) else curves
    table = table_from_columns({name: _nullable(rows[name], name in NULL_WHEN_NAN) for name in SUMMARY_SCHEMA.names},
                               SUMMARY_SCHEMA)
    meta = provenance(
        "summarize",
        skipped_videos=str(skipped),
        chance_top1=chance,
        n_eval_tables=len(eval_paths),
        n_training_runs=len(metrics_paths),
        init_from=init_sources(metrics_paths),  # learners whose after_stage 0 is given weights, not random
    )
    write_table(table, out_summary, metadata=meta)
    if skipped:
        log.warning("%d source videos were unreadable and skipped (status=error in %s)", skipped, videos_parquet)
    # VoE: Hedges' g is one value per (curriculum, stage) on every seed's row (nothing to pair by seed), and
    # the context sweep's rows are the material of the pre-registered and best rows, compared themselves
    comparable = ~((curves["readout"] == VOE_READOUT) & curves["metric"].map(voe_compared).eq(False))
    comparisons = write_comparisons(curves[comparable], reference_curriculum, out_comparisons)

    plot_dir = Path(plot_dir)
    is_voe = curves["readout"] == VOE_READOUT
    voe = curves[is_voe]
    # the stage figures show the whole-corpus runs' full probes; fractions, few-shot and OCP rows have
    # their own figures (eval.sweep_plots, rules plot_scaling / plot_few_shot / plot_ocp)
    curves = curves[~is_voe & (curves["data_fraction"] == 1.0) & curves["shots"].isna() & (curves["readout"] != "ocp")]
    # a fraction run's metrics table names its curriculum with the fraction (its folder): not in these figures
    metrics = metrics[~metrics["curriculum"].astype(str).str.contains("@", regex=False)]
    outside_voe = outside[outside["readout"] == VOE_READOUT] if len(outside) else None
    outside_probes = outside[outside["readout"] != VOE_READOUT] if len(outside) else None
    final = curves[curves["after_stage"] == curves.groupby("run")["after_stage"].transform("max")]
    written: dict[str, Path] = {"summary": Path(out_summary), "comparisons": Path(out_comparisons)}
    with plots.figure_style(figure_style):
        written |= {
            "stage_curves": plots.plot_stage_curves(curves, plot_dir / "stage_curves.png", chance=chance,
                                                    baselines=outside_probes),
            "readouts": plots.plot_readouts(final, plot_dir / "readouts.png", chance=chance,
                                            baseline=curves[curves["after_stage"] == 0]),
            "voe": plots.plot_voe(voe, plot_dir / "voe.png", baselines=outside_voe),
            "loss_curves": plots.plot_loss_curves(metrics, plot_dir / "loss_curves.png"),
            "schedules": plots.plot_schedules(metrics, plot_dir / "schedules.png"),
        }
    log.info("summary: %d rows from %d eval tables, %d runs, %d comparisons; plots in %s", table.num_rows,
             len(eval_paths), len(metrics_paths), len(comparisons), plot_dir)
    return written


def write_comparisons(curves: pd.DataFrame, reference: str, out_path: PathLike) -> pd.DataFrame:
    """``comparisons.parquet`` (typed) and a CSV copy beside it for the report.

    Curricula are compared within each (data_fraction, fraction_budget, shots): a curriculum at a
    fraction of the corpus against the reference at the same fraction.
    """
    parts = []
    for key, part in curves.groupby([*SUBSET_KEYS, "shots"], dropna=False, sort=True):
        fraction, budget, shots = cast(tuple[Any, Any, Any], key)  # three group keys
        compared = compare_curricula(part, reference=reference)
        shots_value = None if pd.isna(shots) else int(shots)
        parts.append(compared.assign(data_fraction=float(fraction), fraction_budget=str(budget),
                                     shots=pd.Series([shots_value] * len(compared), dtype="Int64", index=compared.index)))
    columns = list(COMPARISON_SCHEMA.names)
    comparisons = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    table = table_from_columns({n: _nullable(comparisons[n]) for n in columns}, COMPARISON_SCHEMA)
    meta = provenance("summarize", reference_curriculum=reference, confidence=0.95,
                      p_adjust={"method": "holm", "family": [*FAMILY_KEYS, *SUBSET_KEYS, "shots"],
                                "tests": "after_stage >= 1, p_value not NaN"})
    write_table(table, out_path, metadata=meta)
    with atomic_path(Path(out_path).with_suffix(".csv")) as tmp:
        comparisons.round(4).to_csv(tmp, index=False)
    if comparisons.empty:
        log.warning("no comparisons: no curriculum shares seeds with the reference curriculum %r", reference)
    return comparisons


#: summary columns whose NaN means "not applicable" (null in the table), not a computed NaN
NULL_WHEN_NAN = frozenset({"hours", "ci_low", "ci_high"})


def _nullable(column: pd.Series, nan_is_null: bool = False) -> list:
    """A column as a list for pyarrow: pandas' NA as None, and NaN too when ``nan_is_null``."""
    return [None if v is pd.NA or v is None or (nan_is_null and isinstance(v, float) and v != v) else v
            for v in column.tolist()]


def _unquote(value: object) -> object:
    """Metadata values written by ``provenance`` are JSON for non-strings; accept both forms."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
