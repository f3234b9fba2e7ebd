"""The sweeps in the summary: fraction runs, few-shot and OCP rows, their columns, comparisons and figures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_summarize import PNG_MAGIC, _eval_table

from devcurriculum.datasets.fractions import fraction_hours
from devcurriculum.eval.few_shot import FEW_SHOT_SCHEMA
from devcurriculum.eval.readouts import EVAL_SCHEMA
from devcurriculum.eval.summarize import SUMMARY_SCHEMA, summarize
from devcurriculum.eval.sweep_plots import plot_sweep
from devcurriculum.utils.io import provenance, read_metadata, table_from_columns, write_table

CURRICULA = ("developmental", "mixed")
FRACTION = 0.5


def _with_run(path: Path, run: dict) -> Path:
    """Rewrite an eval table with ``run`` in its metadata, as the readout job records it."""
    table = pq.read_table(path)
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    write_table(table.replace_schema_metadata(None), path, metadata={**meta, **provenance("readout", run=run)})
    return path


def _few_shot_table(path: Path, model: str, curriculum: str, seed: int, stages: dict[int, float], run: dict) -> Path:
    columns: dict[str, list] = {name: [] for name in FEW_SHOT_SCHEMA.names}
    for stage, base in stages.items():
        for shots in (1, 5):
            row = {"model": model, "curriculum": curriculum, "seed": seed, "benchmark": "digits", "after_stage": stage,
                   "step": 20 * stage, "readout": "linear_few_shot", "metric": "top1_accuracy", "shots": shots,
                   "value": base + 0.02 * shots, "ci_low": base, "ci_high": base + 0.05 * shots}
            for key, value in row.items():
                columns[key].append(value)
    write_table(table_from_columns(columns, FEW_SHOT_SCHEMA), path, metadata=provenance("few_shot", run=run))
    return path


def _ocp_table(path: Path, model: str, curriculum: str, seed: int, stages: dict[int, float], run: dict) -> Path:
    columns: dict[str, list] = {name: [] for name in EVAL_SCHEMA.names}
    for stage, acc in stages.items():
        for bench, value in (("demo_ocp:aim", acc), ("demo_ocp:speed", acc - 0.1), ("demo_ocp:overall", acc - 0.05)):
            row = {"model": model, "curriculum": curriculum, "seed": seed, "benchmark": bench, "after_stage": stage,
                   "step": 20 * stage, "readout": "ocp", "metric": "accuracy", "value": value}
            for key, v in row.items():
                columns[key].append(v)
    chance = {"demo_ocp:aim": 0.5, "demo_ocp:speed": 0.5, "demo_ocp:overall": 0.5}
    write_table(table_from_columns(columns, EVAL_SCHEMA), path, metadata=provenance("ocp", run=run, chance_top1=chance))
    return path


@pytest.fixture
def sweep(tmp_path: Path) -> dict:
    evals = []
    for seed in (0, 1):
        init = {"model": "vjepa", "curriculum": "init", "seed": seed}
        evals.append(_eval_table(tmp_path / f"eval/init{seed}.parquet", "vjepa", "init", seed, {0: 0.4}))
        evals.append(_few_shot_table(tmp_path / f"fs/init{seed}.parquet", "vjepa", "init", seed, {0: 0.3}, init))
        evals.append(_ocp_table(tmp_path / f"ocp/init{seed}.parquet", "vjepa", "init", seed, {0: 0.5}, init))
        for cur, gain in zip(CURRICULA, (0.3, 0.2), strict=True):
            for fraction in (FRACTION, 1.0):
                run = {"model": "vjepa", "curriculum": cur, "seed": seed}
                if fraction < 1:
                    run.update(data_fraction=fraction, fraction_budget="steps")
                accs = {k: 0.4 + gain * fraction * k / 3 + 0.01 * seed for k in (1, 2, 3)}
                name = f"{cur}{fraction}{seed}"
                evals.append(_with_run(_eval_table(tmp_path / f"eval/{name}.parquet", "vjepa", cur, seed, accs), run))
                if fraction == 1:
                    evals.append(_few_shot_table(tmp_path / f"fs/{name}.parquet", "vjepa", cur, seed, accs, run))
                    evals.append(_ocp_table(tmp_path / f"ocp/{name}.parquet", "vjepa", cur, seed, accs, run))
    videos = tmp_path / "videos.parquet"
    pq.write_table(pa.table({
        "video_id": [f"v{i}" for i in range(9)], "age_group": ["g0", "g0", "g0", "g0", "g1", "g1", "g1", "g1", None],
        "duration_s": [360.0 * (i + 1) for i in range(9)], "status": ["ok"] * 8 + ["ok"],
    }), videos)
    out = {"summary": tmp_path / "summary.parquet", "comparisons": tmp_path / "comparisons.parquet"}
    summarize(eval_paths=evals, metrics_paths=[], videos_parquet=videos, out_summary=out["summary"],
              out_comparisons=out["comparisons"], plot_dir=tmp_path / "plots", reference_curriculum="mixed")
    return {**out, "videos": videos, "plots": tmp_path / "plots"}


def test_the_summary_has_the_sweep_columns(sweep: dict) -> None:
    table = pq.read_table(sweep["summary"])
    assert table.schema.equals(SUMMARY_SCHEMA, check_metadata=False)
    assert table.schema.names[-6:] == ["data_fraction", "hours", "fraction_budget", "shots", "ci_low", "ci_high"]
    s = table.to_pandas()
    half = s[s["data_fraction"] == FRACTION]
    assert set(half["run"]) == {f"vjepa/{c}@frac0.5/seed{seed}" for c in CURRICULA for seed in (0, 1)}
    assert set(half["readout"]) == {"linear", "knn"}  # few-shot and OCP were only read on the whole corpus here
    # the fraction run starts from the same untrained model, at its own fraction
    start = half[(half["after_stage"] == 0) & (half["benchmark"] == "digits") & (half["metric"] == "top1_accuracy")]
    assert start["value"].tolist() == pytest.approx([0.4] * 4)
    videos = pd.read_parquet(sweep["videos"])
    for (fraction, seed), rows in s.groupby(["data_fraction", "seed"]):
        assert rows["hours"].nunique() == 1
        assert rows["hours"].iloc[0] == pytest.approx(fraction_hours(videos, fraction, seed))
    assert s.loc[s["data_fraction"] == 1.0, "hours"].iloc[0] == pytest.approx(360 * 36 / 3600)  # the 8 usable videos
    few = s[s["readout"] == "linear_few_shot"]
    assert set(few["shots"]) == {1, 5} and s.loc[s["readout"] != "linear_few_shot", "shots"].isna().all()
    assert (few["ci_low"] <= few["value"]).all() and s.loc[s["shots"].isna(), "ci_low"].isna().all()
    assert set(s.loc[s["readout"] == "ocp", "benchmark"]) == {"demo_ocp:aim", "demo_ocp:speed", "demo_ocp:overall"}
    assert (s["fraction_budget"] == "steps").all()
    assert json.loads(read_metadata(sweep["summary"])["devcurriculum.chance_top1"])["demo_ocp:aim"] == 0.5


def test_comparisons_pair_curricula_within_a_fraction_and_a_number_of_shots(sweep: dict) -> None:
    comp = pq.read_table(sweep["comparisons"]).to_pandas()
    assert set(comp["data_fraction"]) == {FRACTION, 1.0}
    final = comp[(comp["after_stage"] == 3) & (comp["benchmark"] == "digits") & (comp["readout"] == "linear")]
    by_fraction = dict(zip(final["data_fraction"], final["mean_diff"], strict=True))
    assert by_fraction[1.0] == pytest.approx(0.1) and by_fraction[FRACTION] == pytest.approx(0.05)
    few = comp[comp["readout"] == "linear_few_shot"]
    assert set(few["shots"]) == {1, 5} and (few["n_seeds"] == 2).all()


@pytest.mark.parametrize("sweep_name", ["scaling", "few_shot", "ocp"])
def test_each_sweep_figure_is_drawn_from_the_summary(sweep: dict, sweep_name: str) -> None:
    png = plot_sweep(sweep_name, sweep["summary"], sweep["plots"] / f"{sweep_name}.png")
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000
    with pytest.raises(ValueError, match="unknown sweep figure 'hours'"):
        plot_sweep("hours", sweep["summary"], sweep["plots"] / "x.png")
