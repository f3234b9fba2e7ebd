"""One table and a few figures for the whole study (rule ``summarize``).

``summary.parquet`` is the long-format concatenation of every readout table, one row per
(run, benchmark, readout, metric). The curriculum ``init`` is the untrained baseline: each model's
initial weights evaluated as "step 0" of its runs. The number of source videos skipped as unreadable
(``videos.parquet`` rows with ``status == "error"``) travels in the schema metadata as
``devcurriculum.skipped_videos``, so nothing is silently dropped (DESIGN §9).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from devcurriculum.eval import plots
from devcurriculum.eval.readouts import RUN_KEYS
from devcurriculum.utils.io import PathLike, provenance, read_metadata, table_from_columns, write_table

log = logging.getLogger("devcurriculum.eval.summarize")

SUMMARY_SCHEMA = pa.schema(
    [
        pa.field("run", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("curriculum", pa.string(), nullable=False),
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("benchmark", pa.string(), nullable=False),
        pa.field("readout", pa.string(), nullable=False),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
    ]
)
PLOT_NAMES = ("loss_curves.png", "readouts.png", "schedules.png")


def run_name(model: str, curriculum: str, seed: int) -> str:
    """The run's id, identical to its folder under ``results/runs``."""
    return f"{model}/{curriculum}/seed{int(seed)}"


def load_evals(eval_paths: Sequence[PathLike]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Every readout row, plus each benchmark's majority-class chance level from the tables' metadata."""
    needed = ["readout", "metric", "value", *RUN_KEYS]
    frames, chance = [], {}
    for path in eval_paths:
        frame = pq.read_table(path).to_pandas()
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(f"eval table {path} lacks columns {missing}")
        frames.append(frame[needed])
        meta = read_metadata(path)
        if "devcurriculum.chance_top1" in meta and len(frame):
            chance[str(frame["benchmark"].iloc[0])] = float(json.loads(meta["devcurriculum.chance_top1"]))
    if not frames:
        return pd.DataFrame(columns=needed), chance
    evals = pd.concat(frames, ignore_index=True)
    dup = evals.duplicated(subset=[*RUN_KEYS, "readout", "metric"], keep=False)
    if dup.any():
        first = evals[dup].iloc[0]
        raise ValueError(
            f"the same readout appears in several eval tables: {run_name(first.model, first.curriculum, first.seed)} "
            f"{first.benchmark} {first.readout}/{first.metric}"
        )
    return evals, chance


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
        frame = pq.read_table(path).to_pandas()
        missing = [c for c in ("step", "loss") if c not in frame.columns]
        if missing:
            raise ValueError(f"metrics table {path} lacks columns {missing}")
        model, curriculum, seed = run_identity(path, frame)
        frame = frame.assign(model=model, curriculum=curriculum, seed=seed)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["model", "curriculum", "seed", "step", "loss"])
    return pd.concat(frames, ignore_index=True)


def count_skipped_videos(videos_parquet: PathLike | None) -> int:
    """Rows of ``videos.parquet`` whose status is ``error`` (0 when no index is given)."""
    if videos_parquet is None:
        return 0
    videos = pq.read_table(videos_parquet, columns=["status"]).column("status").to_pylist()
    return sum(status == "error" for status in videos)


def summarize(
    *,
    eval_paths: Sequence[PathLike],
    metrics_paths: Sequence[PathLike],
    videos_parquet: PathLike | None,
    out_summary: PathLike,
    plot_dir: PathLike,
) -> dict[str, Path]:
    """Write ``summary.parquet`` and the figures; returns ``{name: path}`` of everything written."""
    evals, chance = load_evals(eval_paths)
    metrics = load_metrics(metrics_paths)
    skipped = count_skipped_videos(videos_parquet)

    evals = evals.sort_values([*RUN_KEYS, "readout", "metric"], kind="stable", ignore_index=True)
    runs = [run_name(m, c, s) for m, c, s in zip(evals["model"], evals["curriculum"], evals["seed"], strict=True)]
    table = table_from_columns(
        {
            "run": runs,
            "model": evals["model"].astype(str).tolist(),
            "curriculum": evals["curriculum"].astype(str).tolist(),
            "seed": [int(s) for s in evals["seed"]],
            "benchmark": evals["benchmark"].astype(str).tolist(),
            "readout": evals["readout"].astype(str).tolist(),
            "metric": evals["metric"].astype(str).tolist(),
            "value": [float(v) for v in evals["value"]],
        },
        SUMMARY_SCHEMA,
    )
    meta = provenance(
        "summarize",
        skipped_videos=str(skipped),
        chance_top1=chance,
        n_eval_tables=len(eval_paths),
        n_training_runs=len(metrics_paths),
    )
    write_table(table, out_summary, metadata=meta)
    if skipped:
        log.warning("%d source videos were unreadable and skipped (status=error in %s)", skipped, videos_parquet)

    plot_dir = Path(plot_dir)
    written = {
        "summary": Path(out_summary),
        "loss_curves": plots.plot_loss_curves(metrics, plot_dir / "loss_curves.png"),
        "readouts": plots.plot_readouts(table.to_pandas(), plot_dir / "readouts.png", chance=chance),
        "schedules": plots.plot_schedules(metrics, plot_dir / "schedules.png"),
    }
    log.info("summary: %d rows from %d eval tables, %d runs; plots in %s", table.num_rows, len(eval_paths), len(metrics_paths), plot_dir)
    return written


def _unquote(value: object) -> object:
    """Metadata values written by ``provenance`` are JSON for non-strings; accept both forms."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
