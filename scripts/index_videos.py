"""Rule index_videos: probe every manifest video (devcurriculum.datasets.video_index)."""

from devcurriculum.datasets.video_index import index_videos
from devcurriculum.utils.logging import stage_log

with stage_log(snakemake.log[0], "index_videos"):
    index_videos(snakemake.input.manifest, snakemake.output.videos, snakemake.params.age_groups)
