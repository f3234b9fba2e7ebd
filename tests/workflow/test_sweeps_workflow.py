"""The sweeps through the real workflow: a corpus fraction, few-shot readouts and a demo OCP set on the
.test config, and what adding a fraction plans (only its runs' jobs and the summary's)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pandas as pd
import pytest
from wfutil import dry_run_jobs, job_counts, snakemake, write_config

from devcurriculum.datasets.fractions import fraction_videos

pytestmark = pytest.mark.workflow

RUNS = [{"models": ["videomae"], "curricula": ["developmental"], "seeds": [0], "data_fractions": ["1/2", 1]}]
SWEEPS = {
    "runs": RUNS,
    "evaluation.few_shot": {"shots": [1, 2], "repeats": 2},
    "ocp.sets": {"demo_ocp": {"source": "demo", "items_per_scenario": 8}},
    "voe.sets": {},  # VoE reads whole-corpus runs only (checked on a dry run below), not needed here
}
PER_RUN = {"pretrain", "embed", "readout", "few_shot", "ocp_readout"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("sweeps_wf")
    write_config(workdir, SWEEPS)
    snakemake(workdir)
    return workdir


def test_the_sweeps_leave_their_rows_and_figures(finished: Path) -> None:
    res = finished / "results"
    summary = pd.read_parquet(res / "summary.parquet")
    assert set(summary["run"]) == {"videomae/developmental/seed0", "videomae/developmental@frac0.5/seed0"}
    assert set(summary["data_fraction"]) == {0.5, 1.0} and summary["hours"].notna().all()
    half, whole = (summary[summary["data_fraction"] == f] for f in (0.5, 1.0))
    assert half["hours"].iloc[0] == pytest.approx(whole["hours"].iloc[0] / 2)  # 1 of 2 equal videos per group
    few = summary[summary["readout"].isin(["linear_few_shot", "knn_few_shot"])]
    assert set(few["shots"]) == {1, 2} and set(few["benchmark"]) == {"demo_objects", "digits"}
    assert set(few["after_stage"]) == {0, 1, 2, 3} and (few["ci_low"] <= few["value"]).all()
    ocp = summary[summary["readout"] == "ocp"]
    assert set(ocp["benchmark"]) == {"demo_ocp:aim", "demo_ocp:speed", "demo_ocp:overall"}
    assert set(ocp["data_fraction"]) == {0.5, 1.0} and ocp["value"].between(0, 1).all()
    for name in ("scaling", "few_shot", "ocp", "stage_curves"):
        assert (res / "plots" / f"{name}.png").stat().st_size > 1000
    items = pd.read_parquet(res / "ocp/sets/demo_ocp.parquet")
    assert len(items) == 16 and items.groupby("scenario")["label"].mean().tolist() == [0.5, 0.5]
    assert (res / "runs/videomae/developmental@frac0.5/seed0/checkpoints").is_dir()


def test_a_fraction_run_trains_on_the_clips_of_its_videos(finished: Path) -> None:
    res = finished / "results"
    videos = pd.read_parquet(res / "data/videos.parquet")
    chosen = set(fraction_videos(videos, 0.5, seed=0)["video_id"])
    expected = {}
    for group in ("g0", "g1", "g2"):
        clips = pd.read_parquet(res / f"data/clips/{group}.parquet")
        expected[group] = int(clips["video_id"].isin(chosen).sum())
        assert 0 < expected[group] < len(clips)
    log = (res / "logs/pretrain/videomae/developmental@frac0.5/seed0.log").read_text()
    counts = re.search(r"data fraction 0\.5 \(seed 0\): (\{[^}]*\}) of", log)
    assert counts and ast.literal_eval(counts.group(1)) == expected
    spec = (res / "runs/videomae/developmental@frac0.5/seed0/run_spec.json").read_text()
    assert '"data_fraction": 0.5' in spec
    assert '"data_fraction"' not in (res / "runs/videomae/developmental/seed0/run_spec.json").read_text()


def test_a_rerun_plans_nothing(finished: Path) -> None:
    assert dry_run_jobs(finished) == []


def test_adding_a_fraction_plans_only_its_runs_jobs_and_the_summary(finished: Path) -> None:
    cfg_dir = finished / "more"
    cfg_dir.mkdir(exist_ok=True)
    runs = [{**RUNS[0], "data_fractions": ["1/4", "1/2", 1]}]
    jobs = dry_run_jobs(finished, config=write_config(cfg_dir, {**SWEEPS, "runs": runs}))
    assert {rule for rule, _ in jobs} == PER_RUN | {"summarize", "plot_sweep", "all"}
    assert all(w["fraction"] == "@frac0.25" for rule, w in jobs if rule in PER_RUN), jobs
    counts = job_counts(jobs)
    assert counts["pretrain"] == 1 and counts["embed"] == 2 and counts["plot_sweep"] == 3


def test_voe_surprise_is_planned_for_whole_corpus_runs_only(tmp_path: Path) -> None:
    write_config(tmp_path, {**SWEEPS, "voe.sets": {"demo_physics": {"source": "demo", "pairs_per_property": 2,
                                                                    "frames": 8}}})
    jobs = dry_run_jobs(tmp_path)
    surprise = [w for rule, w in jobs if rule == "surprise"]
    assert surprise and all(w["fraction"] == "" for w in surprise)
    assert {w["curriculum"] for w in surprise} == {"developmental", "init"}
    assert any(w.get("fraction") == "@frac0.5" for rule, w in jobs if rule == "pretrain")
