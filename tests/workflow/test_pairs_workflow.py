"""A config with gap_seconds plans the pair cache (chunk_pairs, gather_pairs) and pretrains from it (dry run).

One dry run from scratch (no video is rendered or indexed: chunk_pairs jobs are planned from their outputs,
as chunk_clips jobs are before the index_videos checkpoint), with --printshellcmds so that the same output
gives the jobs, their inputs and the pretrain command.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from wfutil import job_counts, parse_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow

SIMCLR = {"objective": "simclr", "backbone": "resnet10", "proj_hidden": 16, "proj_dim": 8, "gap_seconds": [1.0, 0.3]}
VJEPA = {"objective": "vjepa", "hidden_size": 36, "num_hidden_layers": 1, "num_attention_heads": 3, "patch_size": 8,
         "pred_hidden_size": 24, "pred_num_hidden_layers": 1, "pred_num_attention_heads": 2, "mode": "pairs",
         "gap_seconds": 2.0}


def _inputs(text: str, rule: str, model: str) -> list[str]:
    """The ``input:`` line of every job of ``rule`` whose log names ``model``."""
    found = []
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:)", text):
        if block.startswith(f"rule {rule}:") and f"/{model}/" in block:
            found += [line.split(":", 1)[1] for line in block.splitlines() if line.strip().startswith("input:")]
    return found


def test_gap_seconds_plans_the_pair_cache(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"models.simclr": SIMCLR, "models.vjepa": VJEPA,
                                     "runs": [{"models": ["simclr", "vjepa"], "curricula": ["developmental"],
                                               "seeds": [0]}]})
    proc = snakemake(tmp_path, "--dry-run", "--printshellcmds", config=config)
    text = proc.stdout + proc.stderr
    jobs = parse_jobs(text)
    counts = job_counts(jobs)
    # 3 groups x 2 shards (data.chunk_shards), one index per group, for both models' gaps together;
    # the clip cache still feeds features
    assert counts["chunk_pairs"] == 6 and counts["gather_pairs"] == 3 and counts["chunk_clips"] == 6
    assert {(w["group"], w["shard"]) for r, w in jobs if r == "chunk_pairs"} == {
        (g, s) for g in ("g0", "g1", "g2") for s in ("0", "1")}
    assert sorted(w["model"] for r, w in jobs if r == "pretrain") == ["simclr", "vjepa"]
    pretrain = [line for line in text.splitlines() if "--spec-json" in line]
    assert len(pretrain) == 2
    for line in pretrain:
        assert "results/data/pairs/g0.parquet" in line and "results/data/clips/g0.parquet" not in line
    assert any('"gap_seconds": [1.0, 0.3]' in line for line in pretrain)
    assert any('"gap_seconds": 2.0' in line for line in pretrain)
    # V-JEPA's pair embedding reads each benchmark item's source fps (the status tables); SimCLR's does not
    vjepa_embeds, simclr_embeds = _inputs(text, "embed", "vjepa"), _inputs(text, "embed", "simclr")
    assert vjepa_embeds and simclr_embeds
    assert all("results/benchmarks/demo_objects.status.parquet" in line for line in vjepa_embeds)
    assert not any(".status.parquet" in line for line in simclr_embeds)
