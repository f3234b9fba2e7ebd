"""Rule embed: one shard of a run's benchmark embeddings (devcurriculum.eval.embed)."""

from devcurriculum.eval.embed import embed_shard
from devcurriculum.utils.logging import stage_log

sm = snakemake
with stage_log(sm.log[0], f"embed[{sm.wildcards.benchmark}:{sm.wildcards.shard}]"):
    embed_shard(
        sm.params.model,
        sm.params.clip,
        sm.input.weights,
        sm.input.table,
        sm.input.cache,
        int(sm.wildcards.shard),
        sm.params.shards,
        sm.output.part,
        batch_size=sm.params.batch_size,
        threads=sm.threads,
    )
