"""Rule gather_clips: one clip index per age group over its chunk shards (devcurriculum.datasets.clips)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.datasets.clips import gather_clip_index
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
with stage_log(sm.log[0], f"gather_clips[{sm.wildcards.group}]"):
    gather_clip_index(
        shard_tables=list(sm.input.tables),
        shard_caches=list(sm.input.caches),
        group=sm.wildcards.group,
        out_index=sm.output.index,
    )
exit_job()
