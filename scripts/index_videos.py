"""Rule index_videos: probe every manifest video (devcurriculum.datasets.video_index)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.datasets.video_index import index_videos
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
with stage_log(sm.log[0], "index_videos"):
    index_videos(
        manifest=sm.input.manifest,
        out_path=sm.output.videos,
        age_groups=sm.params.age_groups,
    )
exit_job()
