"""The whole DAG on the tiny .test config, the rerun contract, and the error paths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from wfutil import dry_run_jobs, job_counts, snakemake, write_config

from devcurriculum.utils.checksums import verify_checksum

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """One complete run of the workflow; the tests below read it or dry-run changes against it."""
    workdir = tmp_path_factory.mktemp("wf")
    write_config(workdir)
    snakemake(workdir)
    return workdir


def test_whole_dag_leaves_every_artifact(finished: Path) -> None:
    res = finished / "results"
    videos = pd.read_parquet(res / "data/videos.parquet")
    assert len(videos) == 6 and (videos["status"] == "ok").all()
    for group in ("g0", "g1", "g2"):
        clips = pd.read_parquet(res / f"data/clips/{group}.parquet")
        assert len(clips) > 0 and set(clips["age_group"]) == {group}
    summary = pd.read_parquet(res / "summary.parquet")
    assert list(summary.columns) == ["run", "model", "curriculum", "seed", "after_stage", "step", "benchmark",
                                     "readout", "metric", "value", "data_fraction", "hours", "fraction_budget",
                                     "shots", "ci_low", "ci_high"]
    assert set(summary["curriculum"]) == {"developmental", "prototype"}
    # 3 stages of 4 steps: after stage 0 (untrained) .. 3, for the mixed prototype run too
    assert sorted(set(zip(summary["after_stage"], summary["step"], strict=True))) == [(0, 0), (1, 4), (2, 8), (3, 12)]
    probes = summary[summary["readout"] != "voe"]
    assert set(probes["benchmark"]) == {"demo_objects", "digits"}
    voe = summary[summary["readout"] == "voe"]  # the .test VoE set, for every run and stage (tests/workflow/test_voe_workflow.py)
    assert set(voe["benchmark"]) >= {"demo_physics:overall"} and set(voe["after_stage"]) == {0, 1, 2, 3}
    # scores lie in [0, 1]; Hedges' g is an effect size (any real; NaN when its groups have no spread), and
    # the reference's absolute accuracy is NaN for 9 pairs or fewer (the .test VoE set has 2 per property)
    scores = summary[~summary["metric"].str.startswith("hedges_g_")]
    undefined = scores[scores["value"].isna()]
    assert undefined["metric"].str.startswith("absolute_accuracy").all(), undefined
    assert scores["value"].dropna().between(0, 1).all()
    comparisons = pd.read_parquet(res / "comparisons.parquet")
    assert set(comparisons["curriculum"]) == {"prototype"} and set(comparisons["reference"]) == {"developmental"}
    for name in ("stage_curves.png", "readouts.png", "loss_curves.png", "schedules.png", "voe.png"):
        assert (res / "plots" / name).stat().st_size > 1000
    run = res / "runs/videomae/developmental/seed0"
    metrics = pd.read_parquet(run / "metrics.parquet")
    assert list(metrics["step"]) == list(range(12))
    assert list(metrics["stage"].unique()) == [0, 1, 2]
    stages = sorted((run / "checkpoints").glob("after_stage*.safetensors"))
    assert [p.name for p in stages] == [f"after_stage{k}.safetensors" for k in (1, 2, 3)]
    assert all(verify_checksum(p) for p in stages)  # each with its sha256 sidecar, intact
    # config.json only as the guard that makes transformers' from_pretrained refuse the run folder
    assert json.loads((run / "config.json").read_text())["model_type"] == "devcurriculum_run"
    assert (run / "run_spec.json").exists() and "embedding" not in json.loads((run / "run_spec.json").read_text())["spec"]["model"]
    preview = pq.read_table(res / "curricula/prototype.parquet").to_pandas()
    assert preview["effective_fraction"].is_monotonic_increasing
    # every benchmark status table names the source frames of each clip: .test's 4 frames, 2 apart (padded
    # with the last decoded frame); the digits are still images, frame 0 repeated
    demo = pd.read_parquet(res / "benchmarks/demo_objects.status.parquet")
    assert (demo["status"] == "ok").all()
    for n, indices in zip(demo["n_frames"], demo["frame_indices"], strict=True):
        assert list(indices) == [min(2 * i, n - 1) for i in range(4)]
    digits = pd.read_parquet(res / "benchmarks/digits.status.parquet")
    assert [list(i) for i in digits["frame_indices"]] == [[0, 0, 0, 0]] * len(digits)


def test_rerun_is_a_no_op(finished: Path) -> None:
    assert dry_run_jobs(finished) == []


def test_report_renders(finished: Path) -> None:
    snakemake(finished, "--report", "results/report.html")
    html = (finished / "results/report.html").read_text(errors="replace")
    assert "loss_curves.png" in html and "readouts.png" in html


def _changed_jobs(workdir: Path, **overrides) -> list[tuple[str, dict[str, str]]]:
    cfg_dir = workdir / "changed"
    cfg_dir.mkdir(exist_ok=True)
    config = write_config(cfg_dir, overrides)
    return dry_run_jobs(workdir, config=config)


def test_k_range_change_reruns_difficulty_and_downstream_only(finished: Path) -> None:
    jobs = _changed_jobs(finished, **{"difficulty.k_range": [2, 3]})
    counts = job_counts(jobs)
    assert counts["score_difficulty"] == 1
    for upstream in ("make_demo_videos", "index_videos", "chunk_clips", "extract_features", "gather_features"):
        assert counts[upstream] == 0, upstream
    pretrained = {w["curriculum"] for rule, w in jobs if rule == "pretrain"}
    assert pretrained == {"prototype"}  # developmental does not read difficulty
    assert counts["summarize"] == 1


def test_steps_per_stage_change_reruns_pretraining_and_after_only(finished: Path) -> None:
    jobs = _changed_jobs(finished, **{"pretrain.steps_per_stage": 5})
    counts = job_counts(jobs)
    assert counts["pretrain"] == 2 and counts["summarize"] == 1 and counts["readout"] == 2
    for upstream in ("make_demo_videos", "index_videos", "chunk_clips", "extract_features", "score_difficulty"):
        assert counts[upstream] == 0, upstream
    assert counts["init_model"] == 0  # the untrained baseline does not depend on the schedule


@pytest.mark.parametrize(
    "change",
    [
        {"pretrain.threads": 2},
        {"pretrain.checkpoint_every": 1},
        {"pretrain.log_every": 1},
        {"pretrain.tensorboard": True},
        {"pretrain.nproc": 2},
        {"evaluation.embed_threads": 2},
        {"evaluation.embed_batch_size": 3},
        {"voe.batch_size": 3},
        {"voe.threads": 2},
        {"features.batch_size": 5},
        {"tracking": {"backend": "mlflow", "project": "lab"}},
        {"pretrain.loader_workers": 2},
        {"pretrain.loader_kind": "process"},
        {"evaluation.embed_loader_workers": 2},
        {"voe.loader_workers": 2},
        {"features.loader_workers": 2},
        {"warm_jobs": False},
    ],
    ids=lambda change: next(iter(change)),
)
def test_runtime_only_settings_plan_zero_jobs(finished: Path, change: dict) -> None:
    assert _changed_jobs(finished, **change) == []


def test_mask_ratio_change_reruns_that_models_training_not_its_baseline(finished: Path) -> None:
    jobs = _changed_jobs(finished, **{"models.videomae.mask_ratio": 0.6})
    counts = job_counts(jobs)
    assert {w["curriculum"] for rule, w in jobs if rule == "pretrain"} == {"developmental", "prototype"}
    assert counts["summarize"] == 1
    # the untrained baseline does not depend on the mask ratio: not re-initialised, not re-embedded
    assert counts["init_model"] == 0
    for rule, w in jobs:
        if rule in ("embed", "readout", "surprise"):
            assert w["curriculum"] != "init", (rule, w)
    for upstream in ("make_demo_videos", "index_videos", "chunk_clips", "extract_features", "score_difficulty",
                     "prepare_benchmark", "build_curriculum", "prepare_voe"):
        assert counts[upstream] == 0, upstream


def test_a_new_embedding_pooling_re_embeds_without_retraining(finished: Path) -> None:
    jobs = _changed_jobs(finished, **{"models.videomae.embedding": {"pooling": "grid", "grid": [2, 2, 2]}})
    assert {rule for rule, _ in jobs} == {"embed", "readout", "summarize", "all"}


def test_adding_a_seed_schedules_only_that_seeds_jobs_and_the_summary(finished: Path) -> None:
    runs = [{"models": ["videomae"], "curricula": ["developmental", "prototype"], "seeds": [0, 1]}]
    jobs = _changed_jobs(finished, runs=runs)
    per_run = {"init_model", "pretrain", "embed", "readout", "surprise"}
    assert {rule for rule, _ in jobs} == per_run | {"voe_readout", "summarize", "all"}
    assert all(w["seed"] == "1" for rule, w in jobs if rule in per_run), jobs
    counts = job_counts(jobs)
    assert counts["init_model"] == 1 and counts["pretrain"] == 2 and counts["readout"] == 3
    assert counts["embed"] == 3 * 2  # 3 runs (2 trained + the untrained baseline) x 2 shards
    assert counts["surprise"] == 3 * 2 and counts["voe_readout"] == 1


def test_bad_value_fails_at_parse_time_naming_the_key(tmp_path: Path) -> None:
    write_config(tmp_path, {"data.clip.frames": 0})
    proc = snakemake(tmp_path, "--dry-run", check=False)
    assert proc.returncode != 0
    assert "frames" in proc.stdout + proc.stderr


def test_unknown_curriculum_in_runs_names_the_key(tmp_path: Path) -> None:
    write_config(tmp_path, {"runs": [{"models": ["videomae"], "curricula": ["nope"], "seeds": [0]}]})
    proc = snakemake(tmp_path, "--dry-run", check=False)
    assert proc.returncode != 0
    assert "runs[0].curricula" in proc.stdout + proc.stderr


def test_corrupt_video_is_recorded_and_the_rest_is_chunked(finished: Path, tmp_path: Path) -> None:
    videos = sorted((finished / "results/demo/videos").glob("*.mp4"))
    manifest = pd.read_csv(finished / "results/demo/manifest.csv")
    data = tmp_path / "data"
    data.mkdir()
    for v in videos:
        shutil.copy(v, data / v.name)
    (data / "broken.mp4").write_bytes(b"\x00\x01 not a video " * 100)
    rows = manifest.assign(path=[Path(p).name for p in manifest["path"]])
    rows = pd.concat([rows, pd.DataFrame([{"path": "broken.mp4", "subject": "sX", "age_days": 50}])])
    rows[["path", "subject", "age_days"]].to_csv(data / "manifest.csv", index=False)
    write_config(tmp_path, {"data.source": "manifest", "data.manifest": str(data / "manifest.csv")})
    snakemake(tmp_path, "results/data/clips/g0.parquet", "results/data/clips/g1.parquet")
    table = pd.read_parquet(tmp_path / "results/data/videos.parquet")
    broken = table[table["path"].str.endswith("broken.mp4")]
    assert list(broken["status"]) == ["error"] and broken["error"].iloc[0]
    assert (table["status"] == "ok").sum() == len(videos)
    assert len(pd.read_parquet(tmp_path / "results/data/clips/g0.parquet")) > 0


def test_manifest_missing_column_fails_naming_it(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text("path,subject\na.mp4,s1\n")
    write_config(tmp_path, {"data.source": "manifest", "data.manifest": str(tmp_path / "manifest.csv")})
    proc = snakemake(tmp_path, "results/data/videos.parquet", check=False)
    assert proc.returncode != 0
    # checked when the DAG is built (issue 25, item 8): one line, no job started, no log written
    assert (f"manifest error: manifest {tmp_path / 'manifest.csv'}: missing required column(s) ['age_days']; "
            "found ['path', 'subject']") in (proc.stdout + proc.stderr).splitlines()
    assert not (tmp_path / "results").exists()


def test_a_learners_sampling_policy_prepares_a_benchmark_of_its_own(finished: Path) -> None:
    """The demo's clips as a lab's video_manifest, sampled for videomae as the seed study sampled SSv2."""
    from devcurriculum.evalsets.labelled.sampling import seed_frame_indices

    cfg_dir = finished / "policy"
    cfg_dir.mkdir()
    labels = finished / "results/demo/benchmark/labels.csv"
    videomae = yaml.safe_load((finished / "config.yaml").read_text())["models"]["videomae"]
    config = write_config(cfg_dir, {
        "benchmarks.shapes": {"source": "video_manifest", "manifest": str(labels), "label_column": "shape"},
        "models.videomae": {**videomae, "benchmark_sampling": {"video_manifest": {"policy": "ssv2_2023", "frame_rate": 4}}},
    })
    jobs = dry_run_jobs(finished, config=config)
    # only the new benchmark is prepared, in a folder of its own; the model is not retrained or re-initialised
    assert [w for rule, w in jobs if rule == "prepare_benchmark"] == [{"viewset": "@f4s2x16-ssv2_2023r4", "benchmark": "shapes"}]
    assert not [rule for rule, _ in jobs if rule in ("pretrain", "init_model", "chunk_clips")]
    snakemake(finished, "results/benchmarks@f4s2x16-ssv2_2023r4/shapes.parquet", config=config)
    status = pd.read_parquet(finished / "results/benchmarks@f4s2x16-ssv2_2023r4/shapes.status.parquet")
    assert (status["status"] == "ok").all()
    for n, indices in zip(status["n_frames"], status["frame_indices"], strict=True):  # ds = round(12 / 4) = 3
        assert list(indices) == seed_frame_indices("ssv2_2023", n_frames=int(n), fps=None, frames=4, frame_rate=4)


def test_a_model_with_its_own_clip_setting_adds_only_its_jobs_and_runs(finished: Path) -> None:
    """Last in the module: it runs (and adds a model to) the finished workflow.

    An unchanged config plans zero jobs (test_rerun_is_a_no_op); a new model with its own clip setting
    (models.<name>.clip) plans its own clip cache, benchmarks and VoE sets and its runs, and no job of
    data.clip's files or of the existing model.
    """
    cfg_dir = finished / "clipset"
    cfg_dir.mkdir()
    models = {"big": {**yaml.safe_load((finished / "config.yaml").read_text())["models"]["videomae"],
                      "clip": {"frames": 8, "size": 32}}}
    runs = [{"models": ["videomae"], "curricula": ["developmental", "prototype"], "seeds": [0]},
            {"models": ["big"], "curricula": ["developmental"], "seeds": [0]}]
    config = write_config(cfg_dir, {"models.big": models["big"], "runs": runs})
    jobs = dry_run_jobs(finished, config=config)
    per_model = {"init_model", "pretrain", "embed", "readout", "surprise"}
    assert all(w["model"] == "big" for rule, w in jobs if rule in per_model), jobs
    assert {w.get("clipset") for rule, w in jobs if rule in ("chunk_clips", "gather_clips")} == {"@f8s2x32r6"}
    assert {w.get("viewset") for rule, w in jobs if rule in ("prepare_benchmark", "prepare_voe")} == {"@f8s2x32"}
    # build_curriculum: developmental's preview gains big's block of rows (a preview per learner, seconds;
    # nothing trains from it, so no run reruns)
    assert job_counts(jobs) == {"chunk_clips": 6, "gather_clips": 3, "prepare_benchmark": 2, "prepare_voe": 1,
                                "init_model": 1, "pretrain": 1, "embed": 4, "readout": 2, "surprise": 4,
                                "voe_readout": 1, "summarize": 1, "build_curriculum": 1, "all": 1}
    # run the new setting's data, one evaluation of big, and its VoE set (not the whole new DAG: < 60 s)
    eval_file = "results/eval/big/developmental/seed0.parquet"
    snakemake(finished, eval_file, "results/voe/sets@f8s2x32/demo_physics.npy", config=config)
    res = finished / "results"
    # .test's data.clip: 4 frames of 16 px; big's: 8 frames of 32 px (frame_step and stride inherited)
    assert np.load(res / "benchmarks/demo_objects.npy", mmap_mode="r").shape[1:] == (4, 16, 16, 3)
    assert np.load(res / "benchmarks@f8s2x32/demo_objects.npy", mmap_mode="r").shape[1:] == (8, 32, 32, 3)
    assert np.load(res / "voe/sets@f8s2x32/demo_physics.npy", mmap_mode="r").shape[2:] == (32, 32, 3)
    assert np.load(res / "data/clips@f8s2x32r6/g0/shard-0-of-2.npy", mmap_mode="r").shape[1:] == (8, 32, 32, 3)
    pd.testing.assert_frame_equal(pd.read_parquet(res / "benchmarks/digits.parquet"),
                                  pd.read_parquet(res / "benchmarks@f8s2x32/digits.parquet"))
    evaluated = pd.read_parquet(finished / eval_file)
    assert set(evaluated["benchmark"]) == {"demo_objects", "digits"} and set(evaluated["after_stage"]) == {1, 2, 3}
    assert evaluated["value"].between(0, 1).all()
