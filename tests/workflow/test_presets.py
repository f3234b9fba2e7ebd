"""configs/presets/: every paper-scale preset validates over config.yaml, builds its whole DAG, and its
pretrain job goes out through profiles/slurm with the profile's resources (fake sbatch, no cluster).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from snakemake.utils import update_config
from test_slurm_profile import SLURM, _fake_bin, has, opt, rule_of
from wfutil import REPO, job_counts, parse_jobs, snakemake_env

from devcurriculum.config import (
    CurriculumConfig,
    DataConfig,
    DifficultyConfig,
    EvaluationConfig,
    FeaturesConfig,
    PretrainConfig,
    WorkflowConfig,
    expand_runs,
    model_config,
)
from devcurriculum.config.block import _plain
from devcurriculum.datasets.video_index import VIDEO_SCHEMA
from devcurriculum.workflow import drop_null_entries

PRESETS_DIR = REPO / "configs" / "presets"
#: each preset and the files laid over config.yaml to use it, in order
PRESETS = {
    "sheybani2023_videomae": ["sheybani2023_videomae"],
    "sheybani2023_vjepa": ["sheybani2023_vjepa"],
    "sheybani2023_simclr": ["sheybani2023_simclr"],
    "lin2025_prototype": ["sheybani2023_videomae", "lin2025_prototype"],
}


def preset_files(preset: str) -> list[Path]:
    return [PRESETS_DIR / f"{name}.yaml" for name in PRESETS[preset]]


def merged_config(preset: str) -> dict:
    """config.yaml with the preset's files laid over it, as Snakemake merges --configfile (key by key)."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for path in preset_files(preset):
        update_config(cfg, yaml.safe_load(path.read_text()))
    drop_null_entries(cfg)  # as the Snakefile does: `name: null` removes an entry
    return cfg


def test_every_preset_file_is_listed() -> None:
    assert {p.stem for p in PRESETS_DIR.glob("*.yaml")} == {name for files in PRESETS.values() for name in files}


@pytest.mark.parametrize("preset", list(PRESETS))
def test_preset_validates_and_states_its_whole_model(preset: str) -> None:
    cfg = WorkflowConfig.from_mapping(merged_config(preset))
    own = {}
    for path in preset_files(preset):
        own.update(yaml.safe_load(path.read_text()).get("models", {}))
    own = {name: block for name, block in own.items() if block is not None}
    trained = {run.model for run in expand_runs(cfg)}
    assert trained and trained <= set(own), "a preset trains only the models it defines"
    assert set(cfg.models) == set(own), "config.yaml's demo learners are removed"
    for name in own:
        # nothing of the demo's models leaks in: the preset's block is every key the model has
        assert cfg.models[name].to_dict() == type(cfg.models[name]).from_mapping(own[name]).to_dict()
        assert set(own[name]["pretrain"]) == set(cfg.pretrain.to_dict()) - set(cfg.pretrain.runtime_keys()), name


def _snakemake(workdir: Path, preset: str, *args: str) -> subprocess.CompletedProcess:
    (workdir / "config.yaml").write_text((REPO / "config.yaml").read_text())
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", "config.yaml", *map(str, preset_files(preset)), *args]
    return subprocess.run(cmd, cwd=workdir, env=snakemake_env(), capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_preset_dry_run_builds_the_whole_dag(preset: str, tmp_path: Path) -> None:
    proc = _snakemake(tmp_path, preset, "--dry-run", "--printshellcmds", "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-4000:]
    jobs = []
    for line in proc.stdout.splitlines():
        if line.startswith(("rule ", "localrule ")):
            jobs.append((line.split()[1].rstrip(":"), {}))
    counts = job_counts(jobs)
    cfg = WorkflowConfig.from_mapping(merged_config(preset))
    runs = expand_runs(cfg)
    assert counts["pretrain"] == len(runs)
    assert counts["readout"] == len(runs) + len({(r.model, r.seed) for r in runs})  # + the untrained baselines
    assert counts["summarize"] == 1
    # V-JEPA and SimCLR train on frame pairs across a video (gap_seconds): the pair cache, per group and shard
    pairs = bool(cfg.pair_gaps)
    assert pairs == (preset in {"sheybani2023_vjepa", "sheybani2023_simclr"})
    assert counts.get("chunk_pairs", 0) == (len(cfg.groups) * cfg.data.chunk_shards if pairs else 0)
    assert counts.get("gather_pairs", 0) == (len(cfg.groups) if pairs else 0)
    # the seed study's data per stage: every trained curriculum of the sheybani2023 presets has its fold table
    folds = {r.curriculum for r in runs if cfg.curricula[r.curriculum].stage_data == "seed_folds"}
    assert counts.get("assign_folds", 0) == len(folds)
    assert bool(folds) == preset.startswith("sheybani2023")
    assert "--videos results_" in proc.stdout or not folds  # pretrain places its rows in folds from the video index


CONTROLS = ("matched_spatial", "matched_spatiotemporal", "static", "matched_temporal")


def test_videomae_preset_complexity_controls_plan_their_jobs(tmp_path: Path) -> None:
    # the seed study's complexity-control study: its four conditions, one seed (316), named in a runs entry
    overlay = tmp_path / "controls.yaml"
    overlay.write_text(yaml.safe_dump({"runs": [{"models": ["sheybani2023_videomae"], "curricula": list(CONTROLS),
                                                 "seeds": [316]}]}))
    proc = _snakemake(tmp_path, "sheybani2023_videomae", str(overlay), "--dry-run", "--printshellcmds", "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-4000:]
    jobs = [(line.split()[1].rstrip(":"), {}) for line in proc.stdout.splitlines()
            if line.startswith(("rule ", "localrule "))]
    counts = job_counts(jobs)
    # one complexity table for every matched control, one fold table per curriculum (seed mod 3 at every stage)
    assert counts["measure_complexity"] == 1 and counts["assign_folds"] == 4 and counts["pretrain"] == 4
    assert proc.stdout.count("--complexity results_") == 3  # the three with a match; static needs none
    merged = merged_config("sheybani2023_videomae")
    update_config(merged, yaml.safe_load(overlay.read_text()))
    curricula = WorkflowConfig.from_mapping(merged).curricula
    assert {c: (curricula[c].control.match, curricula[c].control.frames) for c in CONTROLS} == {
        "matched_spatial": ("spatial", "clip"), "matched_spatiotemporal": ("spatial", "static"),
        "static": (None, "static"), "matched_temporal": ("temporal", "clip")}
    assert all(curricula[c].fold_rule == "fixed" for c in CONTROLS)


# ---- the seed study's benchmark sampling: a preset over configs/own_data.yaml plans it -------------------

#: the seed study's four benchmarks at a lab's paths, as a lab adds them to its copy of own_data.yaml
SEED_BENCHMARKS = {
    "ssv2": {"source": "ssv2", "root": "/data/ssv2", "classes": ["Pushing something from left to right",
                                                                 "Pushing something from right to left"]},
    "toybox": {"source": "toybox", "root": "/data/toybox"},
    "toybox_transformation": {"source": "toybox", "root": "/data/toybox", "task": "transformation",
                              "split": "stratified"},
    "ucf": {"source": "ucf101", "root": "/data/UCF-101"},
    "cifar": {"source": "cifar10", "root": "/data/cifar-10-batches-bin"},
}
#: the seed's (policy, frame rate) per learner and benchmark source (docs/algorithms.md §A, "Benchmark sampling")
SEED_TABLE = {
    "videomae": {"ssv2": ("ssv2_2023", 6), "toybox": ("toybox_2023", 5), "ucf101": ("ucf101_2023", 10)},
    "vjepa": {"ssv2": ("ssv2_2023", 1), "toybox": ("toybox_2023", 2), "ucf101": ("ucf101_2023", 3)},
    # the seed study ran SimCLR on ToyBox (and CIFAR-10) only; SSv2 and UCF-101 at V-JEPA's 2-frame rates
    "simclr": {"ssv2": ("ssv2_2023", 1), "toybox": ("toybox_2023", 2), "ucf101": ("ucf101_2023", 3)},
}
#: each preset's learner and benchmark clip setting (frames, frame step, size)
PRESET_LEARNER = {
    "sheybani2023_videomae": ("videomae", "f16s1x224"),
    "sheybani2023_vjepa": ("vjepa", "f2s300x224"),
    "sheybani2023_simclr": ("simclr", "f2s1x224"),
    "lin2025_prototype": ("videomae", "f16s1x224"),
}


def _tiny_video(path: Path, n_frames: int = 8) -> None:
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(n_frames):
            frame = np.full((32, 32, 3), 10 * i, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_a_preset_over_own_data_samples_the_seed_benchmarks_as_the_seed_did(preset: str, tmp_path: Path) -> None:
    # the workflow checks the manifest when it plans: three real (tiny) videos, one per age group
    rows = ["path,subject,age_days"]
    for i, age in enumerate((90, 270, 540)):
        _tiny_video(tmp_path / f"v{i}.mp4")
        rows.append(f"v{i}.mp4,s{i},{age}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    own = REPO / "configs" / "own_data.yaml"
    lab = tmp_path / "lab.yaml"  # the lab's manifest and its copies of the seed study's benchmarks
    lab.write_text(yaml.safe_dump({"data": {"manifest": str(tmp_path / "manifest.csv")}, "benchmarks": SEED_BENCHMARKS}))
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", "config.yaml", str(own), str(lab), *map(str, preset_files(preset)), "--dry-run",
           "--cores", "1"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=snakemake_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    planned = {w["benchmark"]: w.get("viewset", "") for rule, w in parse_jobs(proc.stdout + proc.stderr)
               if rule == "prepare_benchmark"}
    learner, clip = PRESET_LEARNER[preset]
    sources = {name: bench["source"] for name, bench in SEED_BENCHMARKS.items()}
    expected = {"digits": ""}  # own_data.yaml's digits and CIFAR-10: images, repeated over the clip's frames
    for name, source in sources.items():
        policy = SEED_TABLE[learner].get(source)
        expected[name] = f"@{clip}-{policy[0]}r{policy[1]}" if policy else ""
    assert planned == expected
    # and what the job is given: the policy, and none of the benchmark's own placement keys
    cfg = WorkflowConfig.from_mapping(_merged(own, lab, *preset_files(preset)))
    for name, viewset in expected.items():
        if viewset:
            _, bench = cfg.benchmark_at(viewset.removeprefix("@"), name)
            policy, rate = SEED_TABLE[learner][sources[name]]
            assert bench.shaping()["sampling"] == {"policy": policy, "frame_rate": float(rate)}
    assert cfg.evaluation.knn.k == (1, 5, 10)  # the seed study's top-1, top-5 and top-10


def _merged(*overlays: Path) -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for path in overlays:
        update_config(cfg, yaml.safe_load(path.read_text()))
    drop_null_entries(cfg)
    return cfg


def _create_upstream_outputs(workdir: Path, preset: str, target: str) -> None:
    """Every output the target's upstream jobs would write, as empty files / folders of one mtime."""
    proc = _snakemake(workdir, preset, "--dry-run", "--cores", "1", target)
    assert proc.returncode == 0, proc.stderr[-4000:]
    rule, paths = "", []
    for line in proc.stdout.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif line.strip().startswith("output:") and rule != "pretrain":
            paths += [p.strip() for p in line.split(":", 1)[1].split(",")]
    stamp = time.time() - 3600
    for rel in paths:
        path = workdir / rel
        if path.name == "videos.parquet":  # the index_videos checkpoint: the chunk plans read it
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(VIDEO_SCHEMA.empty_table(), path)
        elif path.suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:  # directory() outputs (demo videos, models) have no suffix
            path.mkdir(parents=True, exist_ok=True)
        os.utime(path, (stamp, stamp))


def _submit_pretrain(workdir: Path, preset: str, target: str) -> list[str]:
    """Snakemake with profiles/slurm and fake SLURM tools; the sbatch argv of the target's pretrain job."""
    fake = workdir.parent / "fake"
    fake.mkdir()
    env = snakemake_env()
    env.update(PATH=f"{_fake_bin(fake)}{os.pathsep}{env['PATH']}", FAKE_SLURM_DIR=str(fake))
    env.pop("SLURM_JOB_ID", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--configfile", "config.yaml", *map(str, preset_files(preset)), "--profile", str(SLURM), "--retries", "0",
         "--rerun-triggers", "mtime", "--slurm-init-seconds-before-status-checks", "1", target],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list((fake / "calls").glob("*.argv")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
        out = proc.communicate(timeout=60)[0]
    calls = sorted((fake / "calls").glob("*.argv"))
    assert len(calls) == 1, f"expected the pretrain job alone, got {len(calls)} sbatch calls:\n{out[-6000:]}"
    return calls[0].read_bytes().decode().split("\0")


@pytest.mark.parametrize("preset", list(PRESETS))
def test_preset_pretrain_job_goes_out_with_the_slurm_profile(preset: str, tmp_path: Path) -> None:
    cfg = WorkflowConfig.from_mapping(merged_config(preset))
    run = expand_runs(cfg)[0]
    target = f"{run.folder(cfg.results)}/model.safetensors"
    workdir = tmp_path / "wf"
    workdir.mkdir()
    _create_upstream_outputs(workdir, preset, target)
    argv = _submit_pretrain(workdir, preset, target)
    assert rule_of(argv) == "pretrain"
    # profiles/slurm's pretrain request: one GPU, 8 CPUs (= its threads), 64 GB, 12 h at attempt 1
    assert opt(argv, "--gpus") == "1" and opt(argv, "--cpus-per-task") == "8"
    assert opt(argv, "--mem") == "64000" and opt(argv, "-t") == "720"
    assert not has(argv, "--ntasks-per-gpu") and not has(argv, "--nodes")
    # the job runs with the preset laid over config.yaml
    wrap = opt(argv, "--wrap") or ""
    assert all(path.name in wrap for path in preset_files(preset)), wrap


# ---- docs/models.md: the preset tables say what the schema and the preset files say -------------------

DOCS = REPO / "docs" / "models.md"
TOP_BLOCKS = {"data": DataConfig, "features": FeaturesConfig, "difficulty": DifficultyConfig, "evaluation": EvaluationConfig}


def docs_tables() -> dict[str, list[list[str]]]:
    """``### `configs/presets/<name>.yaml` ...`` -> the rows of the table under it (cells stripped)."""
    tables: dict[str, list[list[str]]] = {}
    current = None
    for line in DOCS.read_text().splitlines():
        heading = re.match(r"^### `configs/presets/(\w+)\.yaml`", line)
        if heading:
            current = heading.group(1)
            tables[current] = []
        elif line.startswith("#"):
            current = None
        elif current and line.startswith("|") and not line.startswith("|---"):
            tables[current].append([cell.strip() for cell in line.strip("|").split("|")])
    return {name: rows[1:] for name, rows in tables.items()}  # without the header row


def _walk(node: object, dotted: str) -> object:
    for part in dotted.split("."):
        if node is None:  # a key inside an absent (null) block: null too
            return None
        assert isinstance(node, dict) and part in node, f"no key {part!r} in {dotted!r}"
        node = node[part]
    return node


def _attr(block: object, dotted: str) -> object:
    """A block's value at ``dotted``, read by attribute or mapping key (so opt-in keys left out of its dict at
    their default are found), as YAML."""
    node = block
    for part in dotted.split("."):
        if node is None:  # a key inside an absent (null) block: null too
            return None
        if isinstance(node, Mapping):
            assert part in node, f"no key {part!r} in {dotted!r}"
            node = node[part]
        else:
            assert hasattr(node, part), f"no key {part!r} in {dotted!r}"
            node = getattr(node, part)
    return _plain(node)


def _cell(text: str) -> object:
    assert text.startswith("`") and text.endswith("`"), f"value cells are `yaml`, got {text!r}"
    return yaml.safe_load(text.strip("`"))


def _default(cfg: WorkflowConfig, key: str) -> object:
    """The schema default of ``key`` (``models.<m>.pretrain.*`` falls back on the pretrain block's)."""
    block, _, rest = key.partition(".")
    if block == "models":
        name, _, rest = rest.partition(".")
        if rest.startswith("pretrain."):
            return _walk(PretrainConfig().to_dict(), rest.removeprefix("pretrain."))
        # opt-in keys left out of the dicts while at their default (gap_seconds, masks.predictor) are read
        # from the block itself
        return _attr(model_config({"objective": cfg.models[name].objective}), rest)
    if block == "curricula":
        name, _, rest = rest.partition(".")
        given = cfg.curricula[name]
        bare = {"order": given.to_dict()["order"], **{b: {} for b in ("weighting", "blur", "lerac") if getattr(given, b)}}
        return _attr(CurriculumConfig.from_mapping(bare), rest)
    return _walk(TOP_BLOCKS[block]().to_dict(), rest)


def test_docs_have_a_table_for_every_preset() -> None:
    assert set(docs_tables()) == set(PRESETS)
    # every row states the reference's value (or that the reference did not run it)
    assert [(name, row[0]) for name, rows in docs_tables().items() for row in rows if row[1] in ("", "—")] == []


@pytest.mark.parametrize("preset", list(PRESETS))
def test_docs_table_matches_the_schema_and_the_preset(preset: str) -> None:
    cfg = WorkflowConfig.from_mapping(merged_config(preset))
    model = {k: v for k, v in yaml.safe_load(preset_files(preset)[-1].read_text()).get("models", {}).items() if v}
    rows = docs_tables()[preset]
    checked = 0
    for setting, _reference, default, value, key, _where in rows:
        if key == "—":
            continue
        dotted = key.strip("`").replace("<m>", f"models.{next(iter(model), '')}")
        assert _attr(cfg, dotted) == _cell(value), f"{preset}: {setting} ({dotted})"
        assert _default(cfg, dotted) == _cell(default), f"{preset}: default of {setting} ({dotted})"
        checked += 1
    assert checked >= 10
