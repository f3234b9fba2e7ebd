"""Rule make_demo_videos: render the embedded demo world (devcurriculum.datasets.demo_world)."""

from pathlib import Path

from devcurriculum.datasets.demo_world import render_demo
from devcurriculum.utils.logging import stage_log

with stage_log(snakemake.log[0], "make_demo_videos"):
    out_dir = Path(snakemake.output.manifest).parent
    render_demo(snakemake.params.demo, snakemake.params.age_groups, out_dir)
