"""A config with gap_seconds plans the pair cache (chunk_pairs, gather_pairs) and pretrains from it (dry run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from wfutil import dry_run_jobs, job_counts, snakemake, write_config

pytestmark = pytest.mark.workflow

SIMCLR = {"objective": "simclr", "backbone": "resnet10", "proj_hidden": 16, "proj_dim": 8, "gap_seconds": [1.0, 0.3]}


def test_gap_seconds_plans_the_pair_cache(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"models.simclr": SIMCLR,
                                     "runs": [{"models": ["simclr"], "curricula": ["developmental"], "seeds": [0]}]})
    snakemake(tmp_path, "results/data/videos.parquet", config=config)  # past the index_videos checkpoint
    jobs = dry_run_jobs(tmp_path, config=config)
    counts = job_counts(jobs)
    # 3 groups x 2 shards (data.chunk_shards), one index per group; the clip cache still feeds features
    assert counts["chunk_pairs"] == 6 and counts["gather_pairs"] == 3
    assert {(w["group"], w["shard"]) for r, w in jobs if r == "chunk_pairs"} == {
        (g, s) for g in ("g0", "g1", "g2") for s in ("0", "1")}
    assert [w for r, w in jobs if r == "pretrain"] == [{"model": "simclr", "curriculum": "developmental", "seed": "0"}]
    shell = snakemake(tmp_path, "--dry-run", "--printshellcmds", config=config).stdout
    pretrain = next(line for line in shell.splitlines() if "--spec-json" in line)
    assert "results/data/pairs/g0.parquet" in pretrain and "results/data/clips/g0.parquet" not in pretrain
    assert '"gap_seconds": [1.0, 0.3]' in pretrain
