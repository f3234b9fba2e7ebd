"""Rule index_videos: probe every manifest video (devcurriculum.datasets.video_index)."""

from devcurriculum.datasets.video_index import index_videos
from devcurriculum.utils.logging import stage_log

sm = snakemake
with stage_log(sm.log[0], "index_videos"):
    index_videos(
        manifest=sm.input.manifest,
        out_path=sm.output.videos,
        age_groups=sm.params.age_groups,
    )
