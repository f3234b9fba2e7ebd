"""Rule extract_features: one shard of ViT features from the clip cache (devcurriculum.features.extract)."""

from devcurriculum.features.extract import extract_shard
from devcurriculum.utils.logging import stage_log

sm = snakemake
with stage_log(sm.log[0], f"extract_features[{sm.wildcards.shard}]"):
    extract_shard(
        list(sm.input.tables),
        list(sm.input.caches),
        sm.params.model,
        sm.params.features,
        int(sm.wildcards.shard),
        sm.params.features["shards"],
        sm.output.part,
        threads=sm.threads,
    )
