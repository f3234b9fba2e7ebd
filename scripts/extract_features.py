"""Rule extract_features: one shard of ViT features from the clip cache (devcurriculum.features.extract)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

import dataclasses

from devcurriculum.config import FeaturesConfig
from devcurriculum.eval.batches import Loading
from devcurriculum.features.extract import extract_shard
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
# The rule's params hold the keys that shape the features; batch size, shard count and loader are runtime-only.
runtime = FeaturesConfig.from_mapping(sm.config["features"])
features = dataclasses.replace(FeaturesConfig.from_mapping(sm.params.features), batch_size=runtime.batch_size)
with stage_log(sm.log[0], f"extract_features[{sm.wildcards.shard}]"):
    extract_shard(
        clip_tables=list(sm.input.tables),
        clip_caches=list(sm.input.caches),
        model_dir=sm.params.model,
        features=features,
        shard=int(sm.wildcards.shard),
        n_shards=runtime.shards,
        out_path=sm.output.part,
        threads=sm.threads,
        loading=Loading(runtime.loader_workers),
    )
exit_job()
