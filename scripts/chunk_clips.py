"""Rule chunk_clips: decode one age group's videos once into the clip cache (devcurriculum.datasets.clips)."""

from devcurriculum.config import ClipConfig
from devcurriculum.datasets.clips import chunk_group
from devcurriculum.utils.logging import stage_log

sm = snakemake
with stage_log(sm.log[0], f"chunk_clips[{sm.wildcards.group}]"):
    chunk_group(
        videos=sm.input.videos,
        group=sm.wildcards.group,
        clip=ClipConfig.from_mapping(sm.params.clip),
        out_table=sm.output.table,
        out_cache=sm.output.cache,
    )
