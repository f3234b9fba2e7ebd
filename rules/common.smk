# Named helpers for every rule: paths, input functions, params, targets. No logic in rules themselves.
#
# Params: a rule receives only the `.shaping()` dict of the config block(s) it uses, i.e. the keys that
# change its result (src/devcurriculum/config/block.py declares the runtime-only ones once). Runtime-only
# values (threads, process counts, checkpoint cadence, inference batch sizes) reach jobs through
# `threads:`, scripts reading `snakemake.config`, or params functions that take `resources`: Snakemake
# treats those as derived and never reruns a job because they changed
# (tests/workflow/test_workflow.py::test_runtime_only_settings_plan_zero_jobs).
import functools
import json
import os
import shlex
import sys

from devcurriculum import launch
from devcurriculum.utils import warm_jobs
from devcurriculum.config import (
    INIT,
    VJEPAModelConfig,
    baseline_runs,
    expand_runs,
    surprise_keys,
    untrained_runs,
)
from devcurriculum.config.runs import RUN_NAME, run_folder
from devcurriculum.datasets.clip_store import SUFFIX
from devcurriculum.datasets.clips import assign_shards, group_videos
from devcurriculum.workflow import register_report_types
from devcurriculum.datasets.fractions import epoch_steps, parse_fraction_key
from devcurriculum.datasets.video_paths import rebase_video_paths, recorded_manifest_dir
from devcurriculum.workflow_checks import check_interpreter_path, refuse_if_training

# Snakemake writes the interpreter unquoted into every script rule's command: refuse an unsafe path now.
check_interpreter_path(sys.executable)

RESULTS = CFG.results


def local_executor(workflow):
    """True when Snakemake runs the jobs itself on this machine (not a cluster executor, not a remote job, not --touch)."""
    plugin = workflow.executor_plugin
    name = "local" if plugin is None else plugin.cli_prefix
    return bool(workflow.local_exec and not workflow.remote_exec and name == "local")


LOGS = f"{RESULTS}/logs"
TIMINGS = f"{RESULTS}/timings"
ENV = "../envs/devcurriculum.yaml"
# Absolute, so that `shell:` rules work with --directory elsewhere (tests, cluster scratch); it reaches
# the pretrain command through an untracked params function (pretrain_script).
PRETRAIN_SCRIPT = os.path.join(workflow.basedir, "scripts", "pretrain.py")
# The workflow's own interpreter, so that pretraining never depends on a `torchrun` found on PATH.
PYTHON = sys.executable
GROUPS = CFG.groups
EXTRACTOR = CFG.features.extractor
CHUNK_SHARDS = CFG.data.chunk_shards
CACHE_SUFFIX = SUFFIX[CFG.data.cache.format]
RUNS = expand_runs(CFG)
BENCHMARKS = list(CFG.benchmarks)
VOE_SETS = list(CFG.voe.sets)
OCP_SETS = list(CFG.ocp.sets)
NOT_INIT = rf"(?!{INIT}(?![A-Za-z0-9_-]))[A-Za-z0-9_-]+"
#: one run's folder; every per-run path is built from it. `{fraction}` is empty for a run on the whole
#: corpus (so those paths never change) and `@frac0.125` (`-epochs`) for runs[].data_fractions
RUN = run_folder(RESULTS, "{model}", "{curriculum}", "{seed}", "{fraction}")
#: the untrained model's folder (init_model writes its weights there); it trains on no data: no fraction
INIT_RUN = run_folder(RESULTS, "{model}", INIT, "{seed}")
RUN_ID = RUN_NAME
# summary.parquet in the report: a Parquet download, not text/plain
register_report_types()


wildcard_constraints:
    group="|".join(GROUPS) if GROUPS else "^$",
    seed=r"\d+",
    shard=r"\d+",
    model=r"[A-Za-z0-9_-]+",
    curriculum=r"[A-Za-z0-9_-]+",
    # empty (the whole corpus) or a corpus fraction: @frac0.125, @frac0.125-epochs
    fraction=r"(@frac(0\.[0-9]+)(-epochs)?)?",
    benchmark=r"[A-Za-z0-9_-]+",
    voe=r"[A-Za-z0-9_-]+",
    ocp=r"[A-Za-z0-9_-]+",
    extractor=r"[A-Za-z0-9_.-]+",
    # empty (data.clip: the paths of a config without models.<name>.clip) or @ and a clip setting key
    clipset=r"(@[A-Za-z0-9]+)?",
    # the same for benchmarks and VoE sets; a benchmark with a sampling policy adds it: @f16s1x224-ssv2_2023r6
    viewset=r"(@[A-Za-z0-9_-]+)?",


# ---- data -------------------------------------------------------------------------------------


def manifest_path():
    if CFG.data.source == "demo":
        return f"{RESULTS}/demo/manifest.csv"
    return CFG.data.manifest


def manifest_videos_fingerprint(wildcards):
    """Size + mtime of every manifest video, so a video fixed in place re-runs index_videos.

    Empty for the demo: the workflow writes those videos itself (make_demo_videos is their rule).
    """
    if CFG.data.source == "demo":
        return ""
    # imported here: the module loads the video decoders, which most invocations never need
    from devcurriculum.datasets.video_index import video_fingerprint

    return video_fingerprint(CFG.data.manifest)


# ---- clip settings (models.<name>.clip over data.clip; docs/config.md) -------------------------
# data.clip's files keep their paths (`data/clips/`, `benchmarks/`, `voe/sets/`); a model with its own
# setting reads `data/clips@{clip_key}/` (cut at its whole setting) and `benchmarks@{view_key}/`,
# `voe/sets@{view_key}/` (its frames, frame_step and size): each built once, shared by equal settings.
# A benchmark with a sampling policy (benchmarks.<b>.sampling, models.<name>.benchmark_sampling) goes to
# `benchmarks@{clip key}-{policy}r{rate}/` (WorkflowConfig.benchmark_key), also without a clip setting.


def at(key):
    """The `{clipset}` / `{viewset}` part of a path: empty for data.clip, else @ and the key."""
    return f"@{key}" if key else ""


def clip_key(model=None):
    """The clip cache a model trains on ("" = data.clip's; the features stage always reads that one)."""
    return CFG.clip_key(model) if model else ""


def view_key(model=None):
    """The benchmarks and VoE sets a model is evaluated on ("" = those at data.clip)."""
    return CFG.view_key(model) if model else ""


def run_models():
    return sorted({run.model for run in RUNS})


def clip_tables(model=None):
    """The clip index of every age group (what downstream rules read rows from), of a model's clip cache."""
    return expand(
        f"{RESULTS}/data/clips{at(clip_key(model))}/{{group}}.parquet", group=GROUPS
    )


def shard_file(group, shard, suffix, clipset=""):
    """`clips{clipset}/{group}/shard-{i}-of-{n}{suffix}`: the shard count is in the name, so changing it starts afresh."""
    return (
        f"{RESULTS}/data/clips{clipset}/{group}/shard-{shard}-of-{CHUNK_SHARDS}{suffix}"
    )


def clip_caches(model=None):
    """Every shard file of every group's clip cache (a model's own when it has a clip setting)."""
    clipset = at(clip_key(model))
    return [
        shard_file(g, i, CACHE_SUFFIX, clipset)
        for g in GROUPS
        for i in range(CHUNK_SHARDS)
    ]


def all_clip_data():
    """Every clip cache of the config: data.clip's and each run model's own."""
    models = [None, *(m for m in run_models() if clip_key(m))]
    return [f for m in models for f in (*clip_tables(m), *clip_caches(m))]


def group_shard_tables(wildcards):
    return [
        shard_file(wildcards.group, i, ".parquet", wildcards.clipset)
        for i in range(CHUNK_SHARDS)
    ]


def group_shard_caches(wildcards):
    return [
        shard_file(wildcards.group, i, CACHE_SUFFIX, wildcards.clipset)
        for i in range(CHUNK_SHARDS)
    ]


def cache_clip_cfg(wildcards):
    """The clip a clip cache is cut at (its `{clipset}`)."""
    return CFG.cache_clip(wildcards.clipset.removeprefix("@")).shaping()


def view_clip_cfg(wildcards):
    """The clip VoE sets are prepared at (their `{viewset}`; benchmarks: benchmark_clip_cfg)."""
    return CFG.view_clip(wildcards.viewset.removeprefix("@")).shaping()


def model_clip_cfg(wildcards):
    """A model's clip (models.<name>.clip over data.clip): its network's input shape."""
    return CFG.clip_for(wildcards.model).shaping()


def portable_videos(videos_parquet, videos):
    """Videos next to the manifest, named under its folder as configured now (datasets.video_paths):
    a moved project keeps its chunk params and inputs."""
    return rebase_video_paths(
        videos,
        recorded_manifest_dir(videos_parquet),
        os.path.dirname(manifest_path()),
    )


@functools.lru_cache(maxsize=8)
def _chunk_plan(videos_parquet, mtime_ns, group):
    """Each shard's videos of one group (datasets.clips.assign_shards), read once per table version."""
    videos = portable_videos(videos_parquet, group_videos(videos_parquet, group))
    return assign_shards(videos, CHUNK_SHARDS)


def chunk_shard_plan(wildcards):
    """The rows of videos.parquet that one chunk shard decodes (its params: a change reruns it)."""
    videos = checkpoints.index_videos.get().output.videos
    plan = _chunk_plan(videos, os.stat(videos).st_mtime_ns, wildcards.group)
    return [dict(v) for v in plan[int(wildcards.shard)]]


def chunk_shard_inputs(wildcards):
    """The video files of one chunk shard (a file changed in place reruns its shard)."""
    return [v["path"] for v in chunk_shard_plan(wildcards)]


def cache_cfg():
    return CFG.data.cache.shaping()


# ---- the frame-pair cache of models with gap_seconds (datasets.pairs) --------------------------


def pair_shard_file(group, shard, suffix):
    """`pairs/{group}/shard-{i}-of-{n}{suffix}`, sharded like the clip cache."""
    return f"{RESULTS}/data/pairs/{group}/shard-{shard}-of-{CHUNK_SHARDS}{suffix}"


def pair_tables():
    return expand(f"{RESULTS}/data/pairs/{{group}}.parquet", group=GROUPS)


def pair_caches():
    return [
        pair_shard_file(g, i, CACHE_SUFFIX) for g in GROUPS for i in range(CHUNK_SHARDS)
    ]


def group_pair_tables(wildcards):
    return [
        pair_shard_file(wildcards.group, i, ".parquet") for i in range(CHUNK_SHARDS)
    ]


def group_pair_caches(wildcards):
    return [
        pair_shard_file(wildcards.group, i, CACHE_SUFFIX) for i in range(CHUNK_SHARDS)
    ]


@functools.lru_cache(maxsize=8)
def _pair_plan(videos_parquet, mtime_ns, group):
    """Each pair shard's videos of one group, with their fps (same shard assignment as the clips)."""
    videos = group_videos(videos_parquet, group, extra=("fps",))
    return assign_shards(portable_videos(videos_parquet, videos), CHUNK_SHARDS)


def pair_shard_plan(wildcards):
    videos = checkpoints.index_videos.get().output.videos
    plan = _pair_plan(videos, os.stat(videos).st_mtime_ns, wildcards.group)
    return [dict(v) for v in plan[int(wildcards.shard)]]


def pair_shard_inputs(wildcards):
    return [v["path"] for v in pair_shard_plan(wildcards)]


def pair_cfg():
    """What the pair cache depends on: every distinct gap_seconds of the models, data.pairs, the frame size."""
    return {
        "gaps": list(CFG.pair_gaps),
        "pairs": CFG.data.pairs.shaping(),
        "size": CFG.data.clip.size,
    }


def uses_pairs(model):
    """Whether a model trains on frame pairs across a video (models.<name>.gap_seconds)."""
    return CFG.models[model].pairs_across_video


def demo_benchmark_dir():
    return f"{RESULTS}/demo/benchmark"


def age_groups():
    return {name: list(bounds) for name, bounds in CFG.data.age_groups.items()}


# ---- features and difficulty ------------------------------------------------------------------


def feature_model(wildcards):
    """The extractor's model folder when the workflow builds it (vit-random, dinov2-s14-imgfocus)."""
    if CFG.features.built_here:
        return {"model": f"{RESULTS}/models/{wildcards.extractor}"}
    return {}


def feature_model_ref(wildcards, input):
    """The local model directory built here, or the configured local dir / hub id."""
    if CFG.features.built_here:
        return input.model
    return CFG.features.model


def feature_shards(wildcards):
    return expand(
        f"{RESULTS}/features/{wildcards.extractor}/part-{{shard}}.parquet",
        shard=range(CFG.features.shards),
    )


def difficulty_table():
    return f"{RESULTS}/difficulty/{EXTRACTOR}.parquet"


# ---- curricula and pretraining ----------------------------------------------------------------


def curriculum_cfg(wildcards):
    return CFG.curricula[wildcards.curriculum].shaping()


def curriculum_inputs(wildcards):
    inputs = {"tables": clip_tables()}
    if CFG.curricula[wildcards.curriculum].needs_difficulty:
        inputs["difficulty"] = difficulty_table()
    if uses_folds(wildcards.curriculum):
        inputs["folds"] = f"{RESULTS}/curricula/{wildcards.curriculum}.folds.parquet"
    if CFG.curricula[wildcards.curriculum].needs_complexity:
        inputs["complexity"] = complexity_table()
    return inputs


def complexity_table():
    """Every clip's spatial and temporal complexity, written by measure_complexity; control.match matches on it."""
    return f"{RESULTS}/complexity.parquet"


def uses_folds(curriculum):
    """Whether a curriculum trains each stage on a fold of its groups (stage_data: seed_folds)."""
    return CFG.curricula[curriculum].stage_data == "seed_folds"


def fold_cfg(wildcards):
    """What a curriculum's fold table depends on: its segment length (the video index is an input)."""
    return {"segment_seconds": CFG.curricula[wildcards.curriculum].segment_seconds}


def schedule_cfg():
    """The part of pretrain: that shapes the curriculum preview (not lr, batch, ...)."""
    return {
        "steps_per_stage": CFG.pretrain.steps_per_stage,
        "bucket_steps": CFG.pretrain.bucket_steps,
    }


def learner_schedules(wildcards):
    """Each run model's own schedule (models.<name>.pretrain over pretrain) for a curriculum's preview."""
    models = dict.fromkeys(
        r.model for r in RUNS if r.curriculum == wildcards.curriculum
    )
    return {
        m: {
            "steps_per_stage": CFG.pretrain_for(m).steps_per_stage,
            "bucket_steps": CFG.pretrain_for(m).bucket_steps,
        }
        for m in models
    }


def pretrain_inputs(wildcards):
    # a run another trainer is training now: refused before Snakemake would delete its live outputs
    refuse_if_training(run_dir(wildcards))
    inputs = curriculum_inputs(wildcards)
    if uses_pairs(
        wildcards.model
    ):  # frame pairs across a video: the pair cache, not the clips
        inputs["tables"] = pair_tables()
        inputs["caches"] = pair_caches()
    else:  # the model's clip cache (data.clip's unless models.<name>.clip)
        inputs["tables"] = clip_tables(wildcards.model)
        inputs["caches"] = clip_caches(wildcards.model)
    inputs["init"] = (
        f"{run_folder(RESULTS, wildcards.model, INIT, wildcards.seed)}/model.safetensors"
    )
    # seed_folds: the trainer places its own rows (clips or pairs) in folds from the video index;
    # a fraction of the corpus: its videos are drawn from the video index
    if inputs.pop("folds", None) or wildcards.fraction:
        inputs["videos"] = f"{RESULTS}/data/videos.parquet"
    return inputs


def pretrain_spec(wildcards):
    """What a run's result depends on (run-shaping keys only), one JSON string for the entry point."""
    spec = {
        "model_name": wildcards.model,
        "model": CFG.models[wildcards.model].training(),
        "curriculum_name": wildcards.curriculum,
        "curriculum": CFG.curricula[wildcards.curriculum].shaping(),
        "pretrain": CFG.pretrain_for(wildcards.model).shaping(),
        "seed": int(wildcards.seed),
        "groups": GROUPS,
        "clip": CFG.clip_for(wildcards.model).shaping(),
    }
    fraction, budget = parse_fraction_key(wildcards.fraction)
    # only fraction runs carry the key: whole-corpus runs keep their spec
    if fraction < 1.0:
        spec["data_fraction"] = fraction
        # epochs: as many passes over the fraction as the whole corpus gets
        if budget == "epochs":
            steps = spec["pretrain"]["steps_per_stage"]
            spec["pretrain"]["steps_per_stage"] = epoch_steps(steps, fraction)
    return json.dumps(spec, sort_keys=True)


def pretrain_table_args(wildcards, input):
    """The tables a run's curriculum reads besides the clips, as flags of the entry point.

    Difficulty (weighting), the video index (stage_data: seed_folds), the complexity (control.match);
    empty when it needs none.
    """
    flags = {
        "difficulty": "--difficulty",
        "videos": "--videos",
        "complexity": "--complexity",
    }
    return " ".join(
        f"{flag} {shlex.quote(input[name])}"
        for name, flag in flags.items()
        if name in input.keys()
    )


def nproc_per_node(wildcards, resources):
    """GPUs when the profile grants them (clusters), else config pretrain.nproc CPU processes (gloo)."""
    return launch.nproc_per_node(
        resources, cpu_processes=CFG.pretrain_for(wildcards.model).nproc
    )


def torchrun_launcher(wildcards, resources):
    """torchrun on one node, `srun` + c10d across nodes (`mpi` resource): devcurriculum.launch.

    A params function of `resources`: Snakemake does not rerun a job when it changes (runtime only).
    """
    return launch.torchrun_launcher(
        resources, python=PYTHON, cpu_processes=CFG.pretrain_for(wildcards.model).nproc
    )


def pretrain_runtime_args(wildcards, threads, resources):
    """Runtime-only flags of the entry point (threads per process, checkpoint and log cadence, TensorBoard,
    loader workers).

    A params function of `threads`/`resources`, so Snakemake never reruns training when they change.
    """
    per_proc = max(1, threads // nproc_per_node(wildcards, resources))
    pretrain = CFG.pretrain_for(wildcards.model)
    # the readout pooling, for export/README.md only (never part of the run spec)
    embedding = getattr(CFG.models[wildcards.model], "embedding", None)
    flags = [
        f"--threads {per_proc}",
        f"--checkpoint-every {pretrain.checkpoint_every}",
        f"--log-every {pretrain.log_every}",
    ]
    if pretrain.tensorboard:
        flags.append("--tensorboard")
    if pretrain.loader_workers:
        flags.append(f"--loader-workers {pretrain.loader_workers}")
        flags.append(f"--loader-kind {pretrain.loader_kind}")
    if embedding is not None:
        flags.append(f"--embedding-json {shlex.quote(json.dumps(embedding.to_dict()))}")
    return " ".join(flags) + tracking_arg()


def tracking_arg():
    """``--tracking-json`` with tracking.dir resolved (W&B / MLflow; runtime-only), or nothing when off."""
    if not CFG.tracking.enabled:
        return ""
    from devcurriculum.train.tracking import tracking_dir

    block = {**CFG.tracking.to_dict(), "dir": str(tracking_dir(CFG.tracking, RESULTS))}
    return f" --tracking-json {shlex.quote(json.dumps(block))}"


def pretrain_script(wildcards, resources):
    """The entry point's absolute path, as a params function of `resources`: Snakemake does not record
    it, so a moved or renamed checkout (home to scratch) does not retrain every run."""
    return PRETRAIN_SCRIPT


def pretrain_threads(wildcards):
    """``pretrain.threads`` of this model (``models.<name>.pretrain`` may override it)."""
    return CFG.pretrain_for(wildcards.model).threads


def run_id(wildcards):
    """``{model}/{curriculum}{fraction}/seed{seed}`` of a job's wildcards (the run's folder below runs/)."""
    return RUN_ID.format(
        model=wildcards.model,
        curriculum=wildcards.curriculum,
        fraction=wildcards.fraction,
        seed=wildcards.seed,
    )


def run_dir(wildcards):
    return run_folder(
        RESULTS,
        wildcards.model,
        wildcards.curriculum,
        wildcards.seed,
        wildcards.fraction,
    )


def resume_dir(wildcards):
    # Undeclared on purpose: Snakemake deletes declared outputs of failed jobs (docs/training.md "Resume contract").
    return f"{run_dir(wildcards)}/resume"


def model_network(wildcards):
    """The keys that define the network's weights (not its pretext task): what init_model depends on."""
    return CFG.models[wildcards.model].network()


def init_from_files(wildcards):
    """The weights files models.<name>.init_from reads (none for random init): a replaced file reruns init_model."""
    init = CFG.models[wildcards.model].init_source
    if (
        init is None
    ):  # random init: no need to import torch (train.init_from) while planning
        return []
    from devcurriculum.train.init_from import init_weights_files

    return init_weights_files(init)


def model_readout(wildcards):
    """The network plus how its weights are read out (embedding pooling): what embed depends on."""
    return CFG.models[wildcards.model].network(readout=True)


def model_precision(wildcards):
    """The model's pretrain.precision: embed and surprise run under bf16 autocast on a GPU where it trains so."""
    return CFG.pretrain_for(wildcards.model).precision


# ---- evaluation -------------------------------------------------------------------------------


def run_weights(wildcards):
    """The run's stage checkpoints and its run spec; for the untrained model, its one weights file."""
    if wildcards.curriculum == INIT:
        return {"weights": f"{run_dir(wildcards)}/model.safetensors"}
    return {
        "checkpoints": f"{run_dir(wildcards)}/checkpoints",
        # checked against the network config: another workflow may share the results folder
        "spec": f"{run_dir(wildcards)}/run_spec.json",
    }


def embed_inputs(wildcards):
    """The run's weights (run_weights) and every benchmark (with its status table when the embedding
    pairs frames gap_seconds apart: it holds each item's source fps)."""
    files = benchmark_files(wildcards.model)
    inputs = {
        "tables": files["tables"],
        "caches": files["caches"],
        **run_weights(wildcards),
    }
    if embeds_in_seconds(wildcards.model):
        inputs["statuses"] = files["statuses"]
    return inputs


def embeds_in_seconds(model):
    """Whether a model's embedding pairs frames gap_seconds apart (V-JEPA in pairs mode with gap_seconds)."""
    cfg = CFG.models[model]
    return (
        isinstance(cfg, VJEPAModelConfig)
        and cfg.mode == "pairs"
        and cfg.pairs_across_video
    )


def benchmark_files(model=None):
    """Every benchmark's table, cache and status table as a model sees it (benchmark_key)."""
    folders = [
        f"{RESULTS}/benchmarks{at(CFG.benchmark_key(model, b))}/{b}" for b in BENCHMARKS
    ]
    return {
        kind: [f"{folder}{suffix}" for folder in folders]
        for kind, suffix in (
            ("tables", ".parquet"),
            ("caches", ".npy"),
            ("statuses", ".status.parquet"),
        )
    }


def embed_parts(wildcards):
    return expand(
        f"{RESULTS}/embeddings/{run_id(wildcards)}/part-{{shard}}.parquet",
        shard=range(CFG.evaluation.embed_shards),
    )


def readout_tables(wildcards):
    """The benchmark tables of the run's model (its clip setting's)."""
    return benchmark_files(wildcards.model)["tables"]


def benchmark_inputs(wildcards):
    """The demo's labelled clips, or a manifest file (a folder of videos is not tracked: --forcerun)."""
    bench = CFG.benchmarks[wildcards.benchmark]
    if bench.source == "demo":
        return {"demo_dir": demo_benchmark_dir()}
    manifest = getattr(bench, "manifest", None)
    return {"manifest": manifest} if manifest else {}


def benchmark_demo_dir(wildcards, input):
    return input.get("demo_dir")


def benchmark_cfg(wildcards):
    """The benchmark block its files at `{viewset}` are prepared with (a model's sampling policy laid over it)."""
    key = wildcards.viewset.removeprefix("@")
    return CFG.benchmark_at(key, wildcards.benchmark)[1].shaping()


def benchmark_clip_cfg(wildcards):
    """The clip a benchmark's files at `{viewset}` are prepared at."""
    key = wildcards.viewset.removeprefix("@")
    return CFG.benchmark_at(key, wildcards.benchmark)[0].shaping()


def readout_cfg(wildcards):
    """The readout blocks of `evaluation` (what evaluate's result depends on)."""
    return {
        "linear": CFG.evaluation.linear.shaping(),
        "knn": CFG.evaluation.knn.shaping(),
    }


def run_info(wildcards):
    """The run's identity for its tables; a fraction run adds data_fraction and fraction_budget."""
    info = {
        "model": wildcards.model,
        "curriculum": wildcards.curriculum,
        "seed": int(wildcards.seed),
    }
    fraction, budget = parse_fraction_key(wildcards.fraction)
    if fraction < 1.0:  # whole-corpus runs keep their params
        info.update(data_fraction=fraction, fraction_budget=budget)
    return info


def evaluated_runs():
    """Every trained run plus the untrained (init) baseline of each (model, seed)."""
    return [*RUNS, *baseline_runs(RUNS)]


def eval_files():
    """Every readout table of every run: the probes', and the few-shot and OCP readouts' when configured
    (summarize reads them all as one list)."""
    probes = [f"{RESULTS}/eval/{run.name}.parquet" for run in evaluated_runs()]
    return probes + few_shot_files() + ocp_files()


def metrics_files():
    return [f"{run.folder(RESULTS)}/metrics.parquet" for run in RUNS]


def curriculum_previews():
    return expand(
        f"{RESULTS}/curricula/{{c}}.parquet", c=sorted({r.curriculum for r in RUNS})
    )


# ---- violation of expectation (rules/voe.smk) ------------------------------------------------


def voe_set_cfg(wildcards):
    return CFG.voe.sets[wildcards.voe].shaping()


def voe_inputs(wildcards):
    """A manifest set's manifest, an IntPhys-style set's folder; nothing for demo sets (rendered here)."""
    voe_set = CFG.voe.sets[wildcards.voe]
    if voe_set.source == "manifest":
        return {"manifest": voe_set.manifest}
    return {"root": voe_set.root} if voe_set.source == "intphys" else {}


def voe_demo_cfg(wildcards):
    """Only what a demo set's pixels depend on: the world, frame size and rate (not the training videos)."""
    if CFG.voe.sets[wildcards.voe].source != "demo":
        return None
    return {key: CFG.demo.shaping()[key] for key in ("world", "size", "fps")}


def voe_age_groups(wildcards):
    """The age span of the demo world (only demo sets render at an age)."""
    return age_groups() if CFG.voe.sets[wildcards.voe].source == "demo" else None


def voe_tables(model=None):
    """Every VoE set's table, prepared at a model's clip setting (view_key)."""
    return expand(f"{RESULTS}/voe/sets{at(view_key(model))}/{{v}}.parquet", v=VOE_SETS)


def voe_readout_tables():
    """The VoE tables voe_readout reads the pairs from (the same rows at every clip setting): data.clip's,
    or the first run model's setting when no run model has data.clip's."""
    keys = {view_key(m): m for m in reversed(run_models())}
    return voe_tables(None if "" in keys or not keys else keys[min(keys)])


def surprise_inputs(wildcards):
    """The run's weights (run_weights) and every VoE set, at the model's clip setting."""
    sets = f"{RESULTS}/voe/sets{at(view_key(wildcards.model))}"
    return {
        "tables": voe_tables(wildcards.model),
        "caches": expand(f"{sets}/{{v}}.npy", v=VOE_SETS),
        **run_weights(wildcards),
    }


def surprise_model_cfg(wildcards):
    """The network and the pretext keys the surprise reads (a new mask ratio does not re-score init)."""
    return surprise_keys(CFG.models[wildcards.model])


def voe_runs():
    """Every whole-corpus run plus voe.untrained_inits untrained networks per model (the runs' baselines
    first). VoE is not part of the corpus-fraction sweep: its readout groups runs by model, curriculum and seed.
    """
    whole = [run for run in RUNS if not run.on_fraction]
    return [*whole, *untrained_runs(whole, CFG.voe.untrained_inits)]


def voe_context_frames():
    """The context lengths of the sweep (None: each model's earlier half of the window)."""
    frames = CFG.voe.context_frames
    return list(frames) if frames else None


def surprise_parts():
    """Surprise of the whole-corpus runs (VoE is not part of the corpus-fraction sweep: its readout
    groups runs by model, curriculum and seed)."""
    return [
        f"{RESULTS}/voe/surprise/{run.name}/part-{shard}.parquet"
        for run in voe_runs()
        for shard in range(CFG.voe.shards)
    ]


def voe_evals():
    """The VoE readout of every run, when there are VoE sets (an input of summarize)."""
    return [f"{RESULTS}/voe/eval.parquet"] if VOE_SETS else []


# ---- the sweeps: corpus fractions, few-shot readouts, object contact prediction -----------------


def few_shot_cfg():
    """evaluation.few_shot (what a few_shot job's result depends on); None when it is off."""
    few_shot = CFG.evaluation.few_shot
    return None if few_shot is None else few_shot.shaping()


def few_shot_files():
    """The few-shot readout of every run, when evaluation.few_shot is set."""
    if CFG.evaluation.few_shot is None:
        return []
    return [f"{RESULTS}/few_shot/{run.name}.parquet" for run in evaluated_runs()]


def ocp_set_cfg(wildcards):
    return CFG.ocp.sets[wildcards.ocp].shaping()


def ocp_set_inputs(wildcards):
    """A Physion set's folder; nothing for demo sets (rendered here)."""
    ocp_set = CFG.ocp.sets[wildcards.ocp]
    return {"root": ocp_set.root} if ocp_set.source == "physion" else {}


def ocp_demo_cfg(wildcards):
    """Only what a demo set's pixels depend on: the world, frame size and rate."""
    if CFG.ocp.sets[wildcards.ocp].source != "demo":
        return None
    return {key: CFG.demo.shaping()[key] for key in ("world", "size", "fps")}


def ocp_age_groups(wildcards):
    return age_groups() if CFG.ocp.sets[wildcards.ocp].source == "demo" else None


def ocp_inputs(wildcards):
    """The run's weights (run_weights) and every OCP set, at the model's clip setting (view_key)."""
    sets = f"{RESULTS}/ocp/sets{at(view_key(wildcards.model))}"
    return {
        "tables": expand(f"{sets}/{{o}}.parquet", o=OCP_SETS),
        "caches": expand(f"{sets}/{{o}}.npy", o=OCP_SETS),
        **run_weights(wildcards),
    }


def ocp_readout_cfg():
    return CFG.ocp.readout.shaping()


def ocp_files():
    """The OCP readout of every run, when there are OCP sets."""
    if not OCP_SETS:
        return []
    return [f"{RESULTS}/ocp/eval/{run.name}.parquet" for run in evaluated_runs()]


def sweep_plots():
    """The sweeps' figures a config asks for: scaling (corpus fractions), few_shot, ocp."""
    sweeps = [
        ("scaling", any(run.on_fraction for run in RUNS)),
        ("few_shot", CFG.evaluation.few_shot is not None),
        ("ocp", bool(OCP_SETS)),
    ]
    return [f"{RESULTS}/plots/{name}.png" for name, wanted in sweeps if wanted]


def all_targets():
    return [f"{RESULTS}/summary.parquet", *curriculum_previews(), *sweep_plots()]


# ---- outside models as baselines (rules/baselines.smk) ---------------------------------------

BASELINES = list(CFG.baselines)


def baseline_cfg(wildcards):
    return CFG.baselines[wildcards.baseline].shaping()


def baseline_model(wildcards):
    """The outside model's files: the imported DINOv2 folder (built here) or the configured path."""
    baseline = CFG.baselines[wildcards.baseline]
    if baseline.source == "dinov2-s14-imgfocus":
        return {"model": f"{RESULTS}/models/dinov2-s14-imgfocus"}
    return {"model": baseline.path}


def baseline_run(wildcards):
    return {"model": wildcards.baseline, "curriculum": "baseline", "seed": 0}


def baseline_evals():
    """Every outside model's readout table, and their VoE readout when there are VoE sets (summarize)."""
    evals = [f"{RESULTS}/baselines/{b}/eval.parquet" for b in BASELINES]
    if BASELINES and VOE_SETS:
        evals.append(f"{RESULTS}/baselines/voe_eval.parquet")
    return evals


def baseline_surprise_parts():
    return [f"{RESULTS}/baselines/{b}/surprise.parquet" for b in BASELINES]
