"""Violation of expectation through the real workflow: an IntPhys-style folder and the demo set, all three
learners, every stage incl. the untrained models (one more random init than the runs' seeds), the metric
suite, and what a VoE change reruns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from wfutil import dry_run_jobs, job_counts, snakemake, write_config

from devcurriculum.eval.voe_metrics import METRICS
from voe_fixtures import build_intphys

pytestmark = pytest.mark.workflow

LEARNERS = {
    "vjepa": {"objective": "vjepa", "hidden_size": 24, "num_hidden_layers": 1, "num_attention_heads": 2,
              "patch_size": 4, "tubelet_size": 2, "pred_hidden_size": 12, "pred_num_hidden_layers": 1,
              "pred_num_attention_heads": 2, "masks": {"min_keep": 4}},
    "simclr": {"objective": "simclr", "proj_hidden": 16, "proj_dim": 8, "gap": 2},
}
INTPHYS = {"source": "intphys", "frames": 8, "blocks": {"O1": "object_permanence", "O2": "shape_constancy"}}


def _overrides(workdir: Path, **more: object) -> dict:
    return {
        "models.vjepa": LEARNERS["vjepa"],
        "models.simclr": LEARNERS["simclr"],
        "runs": [{"models": ["videomae", "vjepa", "simclr"], "curricula": ["developmental"], "seeds": [0]}],
        "voe.sets.intphys": {**INTPHYS, "root": str(workdir / "intphys")},
        "voe.untrained_inits": 2,  # seed 0's baseline and one more random init per learner
        # one job per stage: sharding is the main workflow test's (tests/workflow/test_workflow.py)
        "data.chunk_shards": 1, "features.shards": 1, "evaluation.embed_shards": 1, "voe.shards": 1,
        **more,
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("voe_wf")
    build_intphys(workdir / "intphys", blocks=("O1", "O2"), scenes=2, n_frames=20, size=32, splice=9)
    write_config(workdir, _overrides(workdir))
    snakemake(workdir)
    return workdir


def test_voe_rows_for_every_learner_and_stage_incl_the_untrained(finished: Path) -> None:
    summary = pd.read_parquet(finished / "results/summary.parquet")
    voe = summary[summary["readout"] == "voe"]
    benchmarks = {f"demo_physics:{p}" for p in ("object_permanence", "continuity", "shape_constancy",
                                                 "colour_constancy", "overall")}
    benchmarks |= {"intphys:object_permanence", "intphys:shape_constancy", "intphys:overall"}
    assert set(voe["benchmark"]) == benchmarks
    # one context length (the half of the 4-frame window, 2 frames: no voe.context_frames), so one sweep row
    suite = {f"{m}{row}" for m in METRICS for row in ("", "_ctx2", "_filtered", "_best_row")}
    suite |= {"pairwise_accuracy_mean", "pairwise_accuracy_max"}
    effects = {f"hedges_g_{m}{row}" for m in METRICS for row in ("", "_best_row")}
    expected = {(model, stage, bench, metric) for model in ("videomae", "vjepa", "simclr") for stage in (0, 1, 2, 3)
                for bench in benchmarks for metric in suite | (effects if stage else set())}
    assert set(zip(voe["model"], voe["after_stage"], voe["benchmark"], voe["metric"], strict=True)) == expected
    # the second untrained init (seed 1) has no trained run: its rows stand alone, curriculum init
    extra = voe[voe["seed"] == 1]
    assert set(extra["curriculum"]) == {"init"} and set(extra["after_stage"]) == {0} and len(extra) == 3 * len(benchmarks) * len(suite)
    scored = voe[~voe["metric"].str.startswith(("hedges_g_", "absolute_accuracy_max"))]
    assert scored["value"].between(0, 1).all()
    # 2 and 4 pairs per property: too few for the reference's threshold (n >= 10); one seed: no spread for g
    assert voe.loc[voe["metric"].str.startswith(("absolute_accuracy_max", "hedges_g_")), "value"].isna().all()
    assert (finished / "results/plots/voe.png").stat().st_size > 1000
    comparisons = pd.read_parquet(finished / "results/comparisons.parquet")
    assert not comparisons["metric"].str.contains("_ctx|_filtered|hedges_g_").any()


def test_intphys_fixture_is_paired_and_scored_end_to_end(finished: Path) -> None:
    items = pd.read_parquet(finished / "results/voe/sets/intphys.parquet")
    assert len(items) == 16 and items["pair_id"].nunique() == 8
    # spliced at source frame 9, every 2nd frame stored: the pairs differ from stored frame 5 on
    assert set(items["onset_frame"]) == {5}
    windows = pd.read_parquet(finished / "results/voe/surprise/vjepa/init/seed0/part-0.parquet")
    mine = windows[windows["voe"] == "intphys"]
    # 8-frame clips, 4-frame windows at 0, 2, 4: only the window at 0 (frames 0-3) ends before the onset
    assert mine.groupby("window_start")["after_onset"].all().to_dict() == {0: False, 2: True, 4: True}


def test_rerun_is_a_no_op(finished: Path) -> None:
    assert dry_run_jobs(finished) == []


def _changed_jobs(workdir: Path, **more: object) -> list[tuple[str, dict[str, str]]]:
    folder = workdir / "changed"
    folder.mkdir(exist_ok=True)
    return dry_run_jobs(workdir, config=write_config(folder, _overrides(workdir, **more)))


@pytest.mark.parametrize("change", [{"voe.window_stride": 1}, {"voe.context_frames": [2]}])
def test_window_stride_and_context_frames_rescore_surprise_only(finished: Path, change: dict) -> None:
    counts = job_counts(_changed_jobs(finished, **change))
    assert counts["surprise"] == 9  # 3 trained runs + 2 untrained inits per learner, one shard each
    assert counts["voe_readout"] == 1 and counts["summarize"] == 1
    for rule in ("prepare_voe", "pretrain", "embed", "readout", "make_demo_videos", "init_model"):
        assert counts[rule] == 0, rule


def test_more_untrained_inits_score_only_the_new_ones(finished: Path) -> None:
    jobs = _changed_jobs(finished, **{"voe.untrained_inits": 3})
    counts = job_counts(jobs)
    assert sorted(w["model"] for rule, w in jobs if rule == "init_model") == ["simclr", "videomae", "vjepa"]
    assert {w["seed"] for rule, w in jobs if rule in ("init_model", "surprise")} == {"2"}
    assert counts["surprise"] == 3 and counts["voe_readout"] == 1
    for rule in ("prepare_voe", "pretrain", "embed", "readout"):
        assert counts[rule] == 0, rule


def test_changing_one_voe_set_reprepares_only_that_set(finished: Path) -> None:
    jobs = _changed_jobs(finished, **{"voe.sets.demo_physics": {"source": "demo", "pairs_per_property": 4, "frames": 8}})
    assert [w["voe"] for rule, w in jobs if rule == "prepare_voe"] == ["demo_physics"]
    counts = job_counts(jobs)
    assert counts["surprise"] == 9 and counts["embed"] == 0 and counts["pretrain"] == 0


def test_demo_videos_and_benchmark_changes_leave_the_voe_set_alone(finished: Path) -> None:
    jobs = _changed_jobs(finished, **{"demo.benchmark": {"clips_per_class": 3}, "demo.videos_per_subject": 2})
    counts = job_counts(jobs)
    assert counts["make_demo_videos"] == 1 and counts["prepare_voe"] == 0
