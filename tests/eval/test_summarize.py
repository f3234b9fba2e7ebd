"""summary.parquet, the skipped-video count, run identity of metrics tables, and the figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devcurriculum.eval.plots import stage_boundaries
from devcurriculum.eval.readouts import EVAL_SCHEMA
from devcurriculum.eval.summarize import SUMMARY_SCHEMA, run_identity, summarize
from devcurriculum.utils.io import provenance, read_metadata, table_from_columns, write_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CURRICULA = ["developmental", "anti_developmental"]


def _eval_table(path: Path, model: str, curriculum: str, seed: int, benchmark: str, acc: float) -> Path:
    rows = [("linear", "top1_accuracy", acc), ("knn", "top1_hit_rate", acc - 0.05), ("knn", "top5_hit_rate", acc + 0.1)]
    table = table_from_columns(
        {
            "readout": [r[0] for r in rows],
            "metric": [r[1] for r in rows],
            "value": [r[2] for r in rows],
            "model": [model] * 3,
            "curriculum": [curriculum] * 3,
            "seed": [seed] * 3,
            "benchmark": [benchmark] * 3,
        },
        EVAL_SCHEMA,
    )
    write_table(table, path, metadata=provenance("evaluate", chance_top1=0.25))
    return path


def _metrics_table(path: Path, stages: int, seed: int) -> Path:
    steps = np.arange(60)
    rng = np.random.default_rng(seed)
    stage = (steps * stages // 60).astype(np.int32)
    table = pa.table(
        {
            "step": pa.array(steps, pa.int64()),
            "loss": 2.0 * np.exp(-steps / 30) + rng.normal(0, 0.05, 60),
            "lr": np.minimum(1e-3, 1e-4 * (steps + 1)),
            "stage": pa.array(stage, pa.int32()),
            "effective_fraction": np.minimum(0.632, 0.2 + steps / 60),
            "blur_sigma": np.maximum(0.0, 2.0 - steps / 15),
        }
    )
    write_table(table, path)
    return path


@pytest.fixture
def study(tmp_path: Path) -> dict[str, list[Path] | Path]:
    evals, metrics = [], []
    for seed in (0, 1):
        for cur, acc in zip(CURRICULA, (0.8, 0.7), strict=True):
            run = tmp_path / "runs" / "videomae" / cur / f"seed{seed}"
            metrics.append(_metrics_table(run / "metrics.parquet", stages=3, seed=seed))
            for bench in ("digits", "demo_objects"):
                evals.append(_eval_table(tmp_path / "eval" / "videomae" / cur / f"seed{seed}" / f"{bench}.parquet",
                                         "videomae", cur, seed, bench, acc + 0.02 * seed))
        for bench in ("digits", "demo_objects"):
            evals.append(_eval_table(tmp_path / "eval" / "videomae" / "init" / f"seed{seed}" / f"{bench}.parquet",
                                     "videomae", "init", seed, bench, 0.5))
    videos = tmp_path / "videos.parquet"
    pq.write_table(pa.table({"video_id": ["a", "b", "c", "d"], "status": ["ok", "error", "ok", "error"]}), videos)
    return {"evals": evals, "metrics": metrics, "videos": videos}


def test_summary_table_and_plots(study, tmp_path: Path) -> None:
    out = tmp_path / "summary.parquet"
    written = summarize(eval_paths=study["evals"], metrics_paths=study["metrics"], videos_parquet=study["videos"], out_summary=out, plot_dir=tmp_path / "plots")
    table = pq.read_table(out)
    assert table.schema.names == SUMMARY_SCHEMA.names
    assert table.schema.equals(SUMMARY_SCHEMA, check_metadata=False)
    df = table.to_pandas()
    assert len(df) == 12 * 3  # (2 curricula + init) x 2 seeds x 2 benchmarks, 3 metrics each
    assert set(df["curriculum"]) == {"developmental", "anti_developmental", "init"}
    assert set(df["run"]) == {f"videomae/{c}/seed{s}" for c in [*CURRICULA, "init"] for s in (0, 1)}
    one = df[(df["run"] == "videomae/developmental/seed1") & (df["benchmark"] == "digits") & (df["metric"] == "top1_accuracy")]
    assert one["value"].tolist() == pytest.approx([0.82])
    meta = read_metadata(out)
    assert meta["devcurriculum.skipped_videos"] == "2"
    assert json.loads(meta["devcurriculum.chance_top1"]) == {"digits": 0.25, "demo_objects": 0.25}
    for name in ("loss_curves", "readouts", "schedules"):
        png = written[name]
        assert png.parent == tmp_path / "plots" and png.stat().st_size > 5000
        assert png.read_bytes()[:8] == PNG_MAGIC
    assert not list((tmp_path / "plots").glob(".*")), "no temp files left behind"


def test_summary_without_training_metrics_or_video_index(study, tmp_path: Path) -> None:
    # only the untrained baseline evaluated: the figures still render (with "no training runs")
    init_only = [p for p in study["evals"] if "/init/" in str(p)]
    written = summarize(eval_paths=init_only, metrics_paths=[], videos_parquet=None, out_summary=tmp_path / "s.parquet", plot_dir=tmp_path / "p")
    assert read_metadata(tmp_path / "s.parquet")["devcurriculum.skipped_videos"] == "0"
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in written.values() if p.suffix == ".png")


def test_duplicate_readouts_are_an_error(study, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="videomae/init/seed1 digits linear/top1_accuracy"):
        summarize(eval_paths=study["evals"] + study["evals"][-2:], metrics_paths=[], videos_parquet=None, out_summary=tmp_path / "s.parquet", plot_dir=tmp_path / "p")


def test_run_identity_prefers_columns_then_metadata_then_path(tmp_path: Path) -> None:
    by_path = tmp_path / "runs" / "simclr" / "mixed" / "seed7" / "metrics.parquet"
    write_table(pa.table({"step": [0], "loss": [1.0]}), by_path)
    assert run_identity(by_path, pd.DataFrame({"step": [0]})) == ("simclr", "mixed", 7)
    cols = pd.DataFrame({"step": [0], "model": ["vjepa"], "curriculum": ["prototype"], "seed": [2]})
    assert run_identity(by_path, cols) == ("vjepa", "prototype", 2)
    elsewhere = tmp_path / "my_metrics.parquet"
    write_table(pa.table({"step": [0], "loss": [1.0]}), elsewhere,
                metadata=provenance("pretrain", run={"model": "videomae", "curriculum": "hybrid", "seed": 4}))
    assert run_identity(elsewhere, pd.DataFrame({"step": [0]})) == ("videomae", "hybrid", 4)
    write_table(pa.table({"step": [0], "loss": [1.0]}), tmp_path / "bare.parquet")
    with pytest.raises(ValueError, match=r"cannot tell which run .*bare\.parquet"):
        run_identity(tmp_path / "bare.parquet", pd.DataFrame({"step": [0]}))


def test_stage_boundaries() -> None:
    steps = np.array([4, 0, 1, 2, 3, 5])
    stages = np.array([2, 0, 0, 1, 1, 2])
    assert stage_boundaries(steps, stages) == [2.0, 4.0]
    assert stage_boundaries(np.arange(5), np.zeros(5)) == []
