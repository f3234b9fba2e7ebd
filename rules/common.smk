# Named helpers for every rule: input functions, params, targets. No logic in rules themselves.
import json
import os

from devcurriculum.workflow import INIT, check_config, expand_runs, needs_difficulty

check_config(config)

RESULTS = config["results"]
LOGS = "logs"
ENV = "../envs/devcurriculum.yaml"
# Absolute, so that `shell:` rules work with --directory elsewhere (tests, cluster scratch).
PRETRAIN_SCRIPT = os.path.join(workflow.basedir, "scripts", "pretrain.py")
GROUPS = list(config["data"]["age_groups"])
EXTRACTOR = config["features"]["extractor"]
RUNS = expand_runs(config)
BENCHMARKS = list(config["benchmarks"])
NOT_INIT = rf"(?!{INIT}(?![A-Za-z0-9_-]))[A-Za-z0-9_-]+"
RUN_DIR = f"{RESULTS}/runs/{{model}}/{{curriculum}}/seed{{seed}}"


wildcard_constraints:
    group="|".join(GROUPS) if GROUPS else "^$",
    seed=r"\d+",
    shard=r"\d+",
    model=r"[A-Za-z0-9_-]+",
    curriculum=r"[A-Za-z0-9_-]+",
    benchmark=r"[A-Za-z0-9_-]+",
    extractor=r"[A-Za-z0-9_.-]+",


# ---- data -------------------------------------------------------------------------------------


def manifest_path():
    if config["data"]["source"] == "demo":
        return f"{RESULTS}/demo/manifest.csv"
    return config["data"]["manifest"]


def clip_tables():
    return expand(f"{RESULTS}/data/clips/{{group}}.parquet", group=GROUPS)


def clip_caches():
    return expand(f"{RESULTS}/data/clips/{{group}}.npy", group=GROUPS)


def demo_benchmark_dir():
    return f"{RESULTS}/demo/benchmark"


# ---- features and difficulty ------------------------------------------------------------------


def feature_model(wildcards):
    if wildcards.extractor == "vit-random":
        return {"model": f"{RESULTS}/models/vit-random"}
    return {}


def feature_model_ref(wildcards, input):
    """The local model directory built here, or the configured local dir / hub id."""
    if wildcards.extractor == "vit-random":
        return input.model
    return config["features"]["model"]


def feature_shards(wildcards):
    return expand(
        f"{RESULTS}/features/{wildcards.extractor}/part-{{shard}}.parquet",
        shard=range(config["features"]["shards"]),
    )


def difficulty_table():
    return f"{RESULTS}/difficulty/{EXTRACTOR}.parquet"


# ---- curricula and pretraining ----------------------------------------------------------------


def curriculum_cfg(wildcards):
    return config["curricula"][wildcards.curriculum]


def curriculum_inputs(wildcards):
    inputs = {"tables": clip_tables()}
    if needs_difficulty(config["curricula"][wildcards.curriculum]):
        inputs["difficulty"] = difficulty_table()
    return inputs


def schedule_cfg():
    """The part of pretrain: that shapes the curriculum preview (not lr, batch, ...)."""
    p = config["pretrain"]
    return {"steps_per_stage": p["steps_per_stage"], "bucket_steps": p["bucket_steps"]}


def pretrain_inputs(wildcards):
    inputs = curriculum_inputs(wildcards)
    inputs["caches"] = clip_caches()
    inputs["init"] = (
        f"{RESULTS}/runs/{wildcards.model}/{INIT}/seed{wildcards.seed}/model.safetensors"
    )
    return inputs


def pretrain_spec(wildcards):
    """Everything a run depends on, as one JSON string for the torchrun entry point."""
    spec = {
        "model_name": wildcards.model,
        "model": config["models"][wildcards.model],
        "curriculum_name": wildcards.curriculum,
        "curriculum": config["curricula"][wildcards.curriculum],
        "pretrain": config["pretrain"],
        "seed": int(wildcards.seed),
        "groups": GROUPS,
        "clip": config["data"]["clip"],
    }
    return json.dumps(spec, sort_keys=True)


def pretrain_difficulty_arg(wildcards, input):
    return f"--difficulty {input.difficulty}" if "difficulty" in input.keys() else ""


def gpus_per_node(resources):
    """GPUs per node from `gpu` (single node) or `gres: gpu[:type]:N` (multi-node; per node)."""
    gpus = int(resources.get("gpu", 0) or 0)
    gres = str(resources.get("gres", "") or "")
    if not gpus and gres.startswith("gpu"):
        gpus = int(gres.rsplit(":", 1)[-1]) if ":" in gres else 1
    return gpus


def nproc_per_node(wildcards, resources):
    """GPUs when the profile grants them (clusters), else config pretrain.nproc CPU processes (gloo)."""
    gpus = gpus_per_node(resources)
    return gpus if gpus > 0 else config["pretrain"]["nproc"]


def torchrun_launcher(wildcards, resources):
    """`torchrun --standalone` on one node; `srun torchrun` with a c10d rendezvous across nodes.

    Inside an `mpi` job the SLURM executor strips SLURM_* variables from the shell, so the node
    count comes from the job's resources and the rendezvous host is the batch node itself.
    """
    nproc = nproc_per_node(wildcards, resources)
    if not resources.get("mpi"):
        return f"torchrun --standalone --nproc_per_node {nproc}"
    nodes = int(resources.get("nodes", 1))
    return (
        f"{resources.mpi} --nodes {nodes} --ntasks {nodes} --ntasks-per-node 1"
        f" --cpus-per-task {resources.cpus_per_task}"
        f" torchrun --nnodes {nodes} --nproc_per_node {nproc}"
        " --rdzv_id $SLURM_JOB_ID --rdzv_backend c10d --rdzv_endpoint $(hostname):29500"
    )


def threads_per_proc(wildcards, threads, resources):
    return max(1, threads // nproc_per_node(wildcards, resources))


def resume_dir(wildcards):
    # Undeclared on purpose: Snakemake deletes declared outputs of failed jobs (DESIGN §3).
    return f"{RESULTS}/runs/{wildcards.model}/{wildcards.curriculum}/seed{wildcards.seed}/resume"


def model_cfg(wildcards):
    return config["models"][wildcards.model]


# ---- evaluation -------------------------------------------------------------------------------


def run_weights(wildcards):
    return f"{RESULTS}/runs/{wildcards.model}/{wildcards.curriculum}/seed{wildcards.seed}/model.safetensors"


def embed_shards(wildcards):
    return expand(
        f"{RESULTS}/embeddings/{wildcards.model}/{wildcards.curriculum}/seed{wildcards.seed}/"
        f"{wildcards.benchmark}/part-{{shard}}.parquet",
        shard=range(config["evaluation"]["embed_shards"]),
    )


def embeddings_for_eval(wildcards):
    """The gathered embeddings, or the single shard itself when there is one (no copy job)."""
    parts = embed_shards(wildcards)
    if len(parts) == 1:
        return parts[0]
    return (
        f"{RESULTS}/embeddings/{wildcards.model}/{wildcards.curriculum}/seed{wildcards.seed}/"
        f"{wildcards.benchmark}.parquet"
    )


def benchmark_inputs(wildcards):
    bench = config["benchmarks"][wildcards.benchmark]
    return {"demo_dir": demo_benchmark_dir()} if bench["source"] == "demo" else {}


def benchmark_demo_dir(wildcards, input):
    return input.get("demo_dir")


def readout_cfg(wildcards):
    """The readout blocks of `evaluation` (what evaluate's result depends on)."""
    return {k: config["evaluation"][k] for k in ("linear", "knn")}


def run_info(wildcards):
    return {
        "model": wildcards.model,
        "curriculum": wildcards.curriculum,
        "seed": int(wildcards.seed),
        "benchmark": wildcards.benchmark,
    }


def evaluated_runs():
    """Every trained run plus the untrained (init) baseline of each (model, seed)."""
    runs = [(r.model, r.curriculum, r.seed) for r in RUNS]
    for model, seed in sorted({(r.model, r.seed) for r in RUNS}):
        runs.append((model, INIT, seed))
    return runs


def eval_files():
    return [
        f"{RESULTS}/eval/{m}/{c}/seed{s}/{b}.parquet"
        for m, c, s in evaluated_runs()
        for b in BENCHMARKS
    ]


def metrics_files():
    return [f"{RESULTS}/runs/{r.name}/metrics.parquet" for r in RUNS]


def all_targets():
    return [
        f"{RESULTS}/summary.parquet",
        *expand(
            f"{RESULTS}/curricula/{{c}}.parquet", c=sorted({r.curriculum for r in RUNS})
        ),
    ]


def benchmark_cfg(wildcards):
    return config["benchmarks"][wildcards.benchmark]
