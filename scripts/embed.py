"""Rule embed: one shard of a run's benchmark embeddings (devcurriculum.eval.embed)."""

from devcurriculum.config import ClipConfig, EvaluationConfig, model_config
from devcurriculum.eval.embed import embed_shard
from devcurriculum.utils.logging import stage_log

sm = snakemake
evaluation = EvaluationConfig.from_mapping(sm.config["evaluation"])  # runtime-only: shards, batch size
with stage_log(sm.log[0], f"embed[{sm.wildcards.benchmark}:{sm.wildcards.shard}]"):
    embed_shard(
        model=model_config(sm.params.model, where=f"models.{sm.wildcards.model}"),
        clip=ClipConfig.from_mapping(sm.params.clip),
        weights=sm.input.weights,
        bench_table=sm.input.table,
        bench_cache=sm.input.cache,
        shard=int(sm.wildcards.shard),
        n_shards=evaluation.embed_shards,
        out_path=sm.output.part,
        batch_size=evaluation.embed_batch_size,
        threads=sm.threads,
    )
