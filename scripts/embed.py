"""Rule embed: one shard of a run's embeddings, every stage checkpoint x every benchmark (devcurriculum.eval.embed)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from pathlib import Path

from devcurriculum.config import ClipConfig, EvaluationConfig, model_config
from devcurriculum.eval.batches import Loading
from devcurriculum.eval.embed import BenchmarkFiles, embed_run, stage_weights
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
evaluation = EvaluationConfig.from_mapping(sm.config["evaluation"])  # runtime-only: shards, batch size, loader
checkpoints = stage_weights(sm.input.get("checkpoints"), sm.input.get("weights"))  # init: its one weights file
# status tables (each item's source fps) only for an embedding in seconds (V-JEPA pairs with gap_seconds)
statuses = sm.input.get("statuses") or [None] * len(sm.params.benchmarks)
benchmarks = [
    BenchmarkFiles(name, Path(table), Path(cache), None if status is None else Path(status))
    for name, table, cache, status in zip(sm.params.benchmarks, sm.input.tables, sm.input.caches, statuses, strict=True)
]
with stage_log(sm.log[0], f"embed[{sm.wildcards.model}/{sm.wildcards.curriculum}/seed{sm.wildcards.seed}:{sm.wildcards.shard}]"):
    embed_run(
        model=model_config(sm.params.model, where=f"models.{sm.wildcards.model}"),
        clip=ClipConfig.from_mapping(sm.params.clip),
        checkpoints=checkpoints,
        benchmarks=benchmarks,
        shard=int(sm.wildcards.shard),
        n_shards=evaluation.embed_shards,
        out_path=sm.output.part,
        batch_size=evaluation.embed_batch_size,
        threads=sm.threads,
        run_spec=sm.input.get("spec"),  # trained runs only: checked against params.model
        model_key=f"models.{sm.wildcards.model}",
        loading=Loading(evaluation.embed_loader_workers),
        precision=sm.params.precision,
    )
exit_job()
