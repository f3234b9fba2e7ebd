"""Rule chunk_clips: decode one shard of an age group's videos into the clip cache (devcurriculum.datasets.clips)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.config import CacheConfig, ClipConfig
from devcurriculum.datasets.clips import chunk_shard
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
where = f"group {sm.wildcards.group!r} shard {sm.wildcards.shard}"
with stage_log(sm.log[0], f"chunk_clips[{sm.wildcards.group}, shard {sm.wildcards.shard}]"):
    chunk_shard(
        videos=sm.params.videos,
        group=sm.wildcards.group,
        clip=ClipConfig.from_mapping(sm.params.clip),
        cache=CacheConfig.from_mapping(sm.params.cache),
        out_table=sm.output.table,
        out_cache=sm.output.cache,
        where=where,
    )
exit_job()
