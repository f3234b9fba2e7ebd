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
from devcurriculum.eval.statistics import holm_adjust
from devcurriculum.eval.summarize import SUMMARY_SCHEMA, run_identity, summarize
from devcurriculum.utils.io import provenance, read_metadata, table_from_columns, write_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CURRICULA = ["developmental", "anti_developmental"]


def _eval_table(path: Path, model: str, curriculum: str, seed: int, accs: dict[int, float]) -> Path:
    """One run's readouts: for each after_stage in ``accs``, on two benchmarks, three metrics."""
    columns: dict[str, list] = {name: [] for name in EVAL_SCHEMA.names}
    for stage, acc in accs.items():
        for bench in ("digits", "demo_objects"):
            for readout, metric, value in (("linear", "top1_accuracy", acc), ("knn", "top1_hit_rate", acc - 0.05),
                                           ("knn", "top5_hit_rate", acc + 0.1)):
                row = {"model": model, "curriculum": curriculum, "seed": seed, "benchmark": bench,
                       "after_stage": stage, "step": 20 * stage, "readout": readout, "metric": metric, "value": value}
                for key, v in row.items():
                    columns[key].append(v)
    write_table(table_from_columns(columns, EVAL_SCHEMA), path,
                metadata=provenance("readout", chance_top1={"digits": 0.1, "demo_objects": 0.25}))
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
    for seed in (0, 1, 2):
        for cur, final in zip(CURRICULA, (0.8, 0.7), strict=True):
            run = tmp_path / "runs" / "videomae" / cur / f"seed{seed}"
            metrics.append(_metrics_table(run / "metrics.parquet", stages=3, seed=seed))
            accs = {stage: 0.5 + (final - 0.5) * stage / 3 + 0.02 * seed for stage in (1, 2, 3)}
            evals.append(_eval_table(tmp_path / "eval" / "videomae" / cur / f"seed{seed}.parquet",
                                     "videomae", cur, seed, accs))
        evals.append(_eval_table(tmp_path / "eval" / "videomae" / "init" / f"seed{seed}.parquet",
                                 "videomae", "init", seed, {0: 0.5 + 0.02 * seed}))
    videos = tmp_path / "videos.parquet"
    pq.write_table(pa.table({"video_id": ["a", "b", "c", "d"], "status": ["ok", "error", "ok", "error"]}), videos)
    return {"evals": evals, "metrics": metrics, "videos": videos}


def _summarize(study: dict, tmp_path: Path, **overrides) -> dict[str, Path]:
    kwargs = {"eval_paths": study["evals"], "metrics_paths": study["metrics"], "videos_parquet": study["videos"],
              "out_summary": tmp_path / "summary.parquet", "out_comparisons": tmp_path / "comparisons.parquet",
              "plot_dir": tmp_path / "plots", "reference_curriculum": "anti_developmental"}
    return summarize(**{**kwargs, **overrides})


def test_summary_table_and_plots(study, tmp_path: Path) -> None:
    written = _summarize(study, tmp_path)
    table = pq.read_table(tmp_path / "summary.parquet")
    assert table.schema.names == SUMMARY_SCHEMA.names
    assert table.schema.equals(SUMMARY_SCHEMA, check_metadata=False)
    df = table.to_pandas()
    # 2 curricula x 3 seeds x 4 points (after stage 0..3) x 2 benchmarks x 3 metrics
    assert len(df) == 2 * 3 * 4 * 2 * 3
    assert set(df["curriculum"]) == set(CURRICULA) and set(df["after_stage"]) == {0, 1, 2, 3}
    assert set(df["run"]) == {f"videomae/{c}/seed{s}" for c in CURRICULA for s in (0, 1, 2)}
    # after stage 0 is the untrained model of that seed, the same in every curriculum's curve, at step 0
    start = df[(df["after_stage"] == 0) & (df["metric"] == "top1_accuracy") & (df["benchmark"] == "digits")]
    assert start.groupby("seed")["value"].nunique().eq(1).all() and (start["step"] == 0).all()
    one = df[(df["run"] == "videomae/developmental/seed1") & (df["benchmark"] == "digits")
             & (df["metric"] == "top1_accuracy") & (df["after_stage"] == 3)]
    assert one["value"].tolist() == pytest.approx([0.82]) and one["step"].tolist() == [60]
    meta = read_metadata(tmp_path / "summary.parquet")
    assert meta["devcurriculum.skipped_videos"] == "2"
    assert json.loads(meta["devcurriculum.chance_top1"]) == {"digits": 0.1, "demo_objects": 0.25}
    for name in ("stage_curves", "readouts", "loss_curves", "schedules"):
        png = written[name]
        assert png.parent == tmp_path / "plots" and png.stat().st_size > 5000
        assert png.read_bytes()[:8] == PNG_MAGIC
    assert not list((tmp_path / "plots").glob(".*")), "no temp files left behind"


def test_comparisons_are_paired_by_seed(study, tmp_path: Path) -> None:
    _summarize(study, tmp_path)
    comp = pq.read_table(tmp_path / "comparisons.parquet").to_pandas()
    assert set(comp["curriculum"]) == {"developmental"} and set(comp["reference"]) == {"anti_developmental"}
    final = comp[(comp["after_stage"] == 3) & (comp["metric"] == "top1_accuracy") & (comp["benchmark"] == "digits")]
    assert final["n_seeds"].tolist() == [3]
    assert final["mean_diff"].tolist() == pytest.approx([0.1])  # 0.8 vs 0.7, the same seed shift on both
    with_ci = comp.dropna(subset=["ci_low"])
    assert ((with_ci["ci_low"] <= with_ci["mean_diff"]) & (with_ci["mean_diff"] <= with_ci["ci_high"])).all()
    assert (tmp_path / "comparisons.csv").read_text().startswith("model,benchmark,readout,metric,after_stage")
    # Holm within the learner's family: every comparison after a trained stage, all benchmarks and metrics
    tested = comp[comp["after_stage"] > 0]
    assert (tested["n_tests"] == len(tested)).all() and len(tested) == 3 * 2 * 3
    assert tested["p_holm"].to_numpy() == pytest.approx(holm_adjust(tested["p_value"].to_numpy()), nan_ok=True)
    assert comp[comp["after_stage"] == 0]["p_holm"].isna().all()
    assert "p_holm" in (tmp_path / "comparisons.csv").read_text().splitlines()[0]
    assert json.loads(read_metadata(tmp_path / "comparisons.parquet")["devcurriculum.p_adjust"])["method"] == "holm"


def test_summary_without_training_metrics_or_video_index(study, tmp_path: Path) -> None:
    # only the untrained baseline evaluated: the figures still render (with "no training runs")
    init_only = [p for p in study["evals"] if "/init/" in str(p)]
    written = _summarize(study, tmp_path, eval_paths=init_only, metrics_paths=[], videos_parquet=None)
    assert read_metadata(tmp_path / "summary.parquet")["devcurriculum.skipped_videos"] == "0"
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in written.values() if p.suffix == ".png")


def test_duplicate_readouts_are_an_error(study, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="videomae/init/seed2 digits after stage 0 linear/top1_accuracy"):
        _summarize(study, tmp_path, eval_paths=study["evals"] + study["evals"][-1:])


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
