"""A model with its own clip setting (models.<name>.clip) gets its own clip cache, benchmarks and VoE sets (dry run).

One dry run from scratch with --printshellcmds (as tests/workflow/test_pairs_workflow.py): the jobs, their
wildcards and inputs, and each pretrain command. Against a finished run: tests/workflow/test_workflow.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from wfutil import REPO, job_counts, parse_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow

#: .test's data.clip is frames 4, frame_step 2, stride 6, size 16: "big" sets two keys, inherits the others
BIG_CLIP = {"frames": 8, "size": 32}


def _models() -> dict:
    videomae = yaml.safe_load((REPO / ".test/config.yaml").read_text())["models"]["videomae"]
    # "twin" has the same setting as "big": it shares big's files; "strided" differs in stride only
    return {"videomae": videomae, "big": {**videomae, "clip": BIG_CLIP}, "twin": {**videomae, "clip": dict(BIG_CLIP)},
            "strided": {**videomae, "clip": {"stride": 3}}}


def _blocks(text: str, rule: str, model: str) -> list[str]:
    """The dry-run block of every job of ``rule`` whose wildcards name ``model``."""
    return [block for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:)", text)
            if block.startswith(f"rule {rule}:") and re.search(rf"wildcards: model={model}\b", block)]


def _input(block: str) -> str:
    return next(line.split(":", 1)[1] for line in block.splitlines() if line.strip().startswith("input:"))


def test_a_model_clip_setting_gets_its_own_cache_benchmarks_and_voe_sets(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"models": _models(), "runs": [
        {"models": ["videomae"], "curricula": ["developmental", "prototype"], "seeds": [0]},
        {"models": ["big", "twin", "strided"], "curricula": ["developmental"], "seeds": [0]}]})
    proc = snakemake(tmp_path, "--dry-run", "--printshellcmds", config=config)
    text = proc.stdout + proc.stderr
    jobs = parse_jobs(text)
    counts = job_counts(jobs)
    # three clip caches (data.clip's, big's = twin's, strided's) x 3 groups x 2 shards
    assert {w["clipset"] for r, w in jobs if r == "chunk_clips"} == {"", "@f8s2x32r6", "@f4s2x16r3"}
    assert counts["chunk_clips"] == 18 and counts["gather_clips"] == 9
    # benchmarks and VoE sets twice: at data.clip (videomae, strided: stride does not shape them) and at big's
    assert sorted((w["viewset"], w["benchmark"]) for r, w in jobs if r == "prepare_benchmark") == [
        ("", "demo_objects"), ("", "digits"), ("@f8s2x32", "demo_objects"), ("@f8s2x32", "digits")]
    assert sorted(w["viewset"] for r, w in jobs if r == "prepare_voe") == ["", "@f8s2x32"]
    # features and difficulty read data.clip's cache only
    for rule in ("extract_features", "score_difficulty", "build_curriculum"):
        for block in [b for b in re.split(r"\n(?=rule )", text) if b.startswith(f"rule {rule}:")]:
            assert "results/data/clips/g0.parquet" in _input(block) and "@" not in _input(block), rule

    pretrain = {re.search(r'"model_name": "(\w+)"', line).group(1): line
                for line in text.splitlines() if "--spec-json" in line}
    assert sorted(pretrain) == ["big", "strided", "twin", "videomae"]
    for model, cache in (("videomae", "clips"), ("big", "clips@f8s2x32r6"), ("twin", "clips@f8s2x32r6"),
                         ("strided", "clips@f4s2x16r3")):
        line = pretrain[model]
        assert f"results/data/{cache}/g0.parquet" in line and f"results/data/{cache}/g2/shard-1-of-2.npy" in line
        assert len(re.findall(r"results/data/clips[@\w]*/g\d\.parquet", line)) == 3, model
    assert '"clip": {"frame_step": 2, "frames": 8, "size": 32, "stride": 6}' in pretrain["big"]
    assert '"clip": {"frame_step": 2, "frames": 4, "size": 16, "stride": 6}' in pretrain["videomae"]
    assert '"clip": {"frame_step": 2, "frames": 4, "size": 16, "stride": 3}' in pretrain["strided"]

    for model, folder in (("videomae", "benchmarks/"), ("strided", "benchmarks/"), ("big", "benchmarks@f8s2x32/"),
                          ("twin", "benchmarks@f8s2x32/")):
        embeds = _blocks(text, "embed", model)
        assert len(embeds) == (6 if model == "videomae" else 4), model  # (trained runs + init) x 2 shards
        for block in embeds:
            assert f"results/{folder}demo_objects.npy" in _input(block), (model, _input(block))
            assert f"results/{folder}digits.parquet" in _input(block)
        for block in _blocks(text, "readout", model):
            assert f"results/{folder}digits.parquet" in _input(block)
        surprises = _blocks(text, "surprise", model)
        assert surprises and all(f"results/voe/sets{folder.removeprefix('benchmarks').rstrip('/')}/demo_physics.npy"
                                 in _input(b) for b in surprises), model


def test_learners_with_their_own_sampling_policies_get_their_own_benchmark_files(tmp_path: Path) -> None:
    """A 4-frame and an 8-frame learner sample a video benchmark at different rates: two benchmark folders,
    each learner's embeddings reading its own; a benchmark without a policy keeps its files."""
    labels = "results/demo/benchmark/labels.csv"  # the demo's clips as a lab's video_manifest (made by the demo rule)
    models = _models()
    models["videomae"]["benchmark_sampling"] = {"video_manifest": {"policy": "toybox_2023", "frame_rate": 5}}
    models["big"]["benchmark_sampling"] = {"video_manifest": {"policy": "toybox_2023", "frame_rate": 2.5}}
    config = write_config(tmp_path, {
        "models": {"videomae": models["videomae"], "big": models["big"]},
        "benchmarks.shapes": {"source": "video_manifest", "manifest": labels, "label_column": "shape"},
        "runs": [{"models": ["videomae", "big"], "curricula": ["developmental"], "seeds": [0]}]})
    (tmp_path / labels).parent.mkdir(parents=True)
    (tmp_path / labels).write_text("path,shape\n")  # stands in for the demo's table (the dry run reads no rows)
    proc = snakemake(tmp_path, "--dry-run", config=config)
    text = proc.stdout + proc.stderr
    jobs = parse_jobs(text)
    assert sorted((w["viewset"], w["benchmark"]) for r, w in jobs if r == "prepare_benchmark") == [
        ("", "demo_objects"), ("", "digits"), ("@f4s2x16-toybox_2023r5", "shapes"),
        ("@f8s2x32", "demo_objects"), ("@f8s2x32", "digits"), ("@f8s2x32-toybox_2023r2p5", "shapes")]
    for model, folder in (("videomae", "benchmarks@f4s2x16-toybox_2023r5/"), ("big", "benchmarks@f8s2x32-toybox_2023r2p5/")):
        for block in _blocks(text, "embed", model) + _blocks(text, "readout", model):
            assert f"results/{folder}shapes.parquet" in _input(block), (model, _input(block))
