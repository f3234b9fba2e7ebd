"""The seed study's data per stage (stage_data: seed_folds) and a complexity control, run by the workflow on .test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from wfutil import dry_run_jobs, job_counts, snakemake, write_config

from devcurriculum.curriculum.folds import stage_fold

pytestmark = pytest.mark.workflow

CURRICULA = {
    # .test's demo: 3 s videos at 10 fps, clips every 0.6 s: half-second segments put clips in every fold
    "dev_folds": {"order": ["g0", "g1", "g2"], "stage_data": "seed_folds", "segment_seconds": 0.5},
    "matched_static": {"order": ["g0", "g1", "g2"], "control": {"match": "spatial", "bins": 2, "frames": "static"}},
}


def test_seed_folds_and_a_control_train_through_the_workflow(tmp_path: Path) -> None:
    write_config(tmp_path, {"curricula": CURRICULA,
                            "runs": [{"models": ["videomae"], "curricula": list(CURRICULA), "seeds": [1]}]})
    jobs = job_counts(dry_run_jobs(tmp_path))
    assert jobs["assign_folds"] == 1 and jobs["measure_complexity"] == 1 and jobs["pretrain"] == 2
    runs = "results/runs/videomae/{}/seed1/model.safetensors"
    snakemake(tmp_path, "results/curricula/dev_folds.parquet", "results/curricula/matched_static.parquet",
              *(runs.format(c) for c in CURRICULA))
    res = tmp_path / "results"

    folds = pd.read_parquet(res / "curricula/dev_folds.folds.parquet")
    clips = pd.concat([pd.read_parquet(res / f"data/clips/{g}.parquet") for g in ("g0", "g1", "g2")])
    assert sorted(folds["clip_id"]) == sorted(clips["clip_id"])
    assert folds.groupby("age_group")["fold"].nunique().eq(3).all()
    preview = pd.read_parquet(res / "curricula/dev_folds.parquet")
    # seed 1 of a VideoMAE (rotating): stage k on fold (1 + k + 1) % 3, the preview's fold_rotating[1]
    for row in preview.itertuples():
        assert row.fold_rotating[1] == stage_fold("rotating", 1, row.stage)
    log = (res / "logs/pretrain/videomae/dev_folds/seed1.log").read_text()
    assert "seed_folds (rotating rule, seed 1, 0.5 s segments): folds per stage [2, 0, 1]" in log

    complexity = pd.read_parquet(res / "complexity.parquet")
    assert len(complexity) == len(clips) and complexity["spatial"].between(0, 1).all()
    control = pd.read_parquet(res / "curricula/matched_static.parquet")
    assert control["static_frames"].all() and (control.groupby("stage")["control_clips"].first() > 0).all()
    assert control.loc[control["stage"] == 0, "control_ks"].eq(0.0).all()  # g0 is the target, whole
    control_log = (res / "logs/pretrain/videomae/matched_static/seed1.log").read_text()
    assert "static frames: every training clip is its first frame repeated" in control_log
    for curriculum in CURRICULA:
        metrics = pd.read_parquet(res / f"runs/videomae/{curriculum}/seed1/metrics.parquet")
        assert np.isfinite(metrics["loss"]).all() and sorted(set(metrics["stage"])) == [0, 1, 2]
