"""Rule chunk_clips: decode one age group's videos once into the clip cache (devcurriculum.datasets.clips)."""

from devcurriculum.datasets.clips import chunk_group
from devcurriculum.utils.logging import stage_log

sm = snakemake
with stage_log(sm.log[0], f"chunk_clips[{sm.wildcards.group}]"):
    chunk_group(sm.input.videos, sm.wildcards.group, sm.params.clip, sm.output.table, sm.output.cache)
