"""Rule make_demo_videos: render the embedded demo world (devcurriculum.demo)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from pathlib import Path

from devcurriculum.config import DemoConfig
from devcurriculum.demo import render_demo
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
with stage_log(sm.log[0], "make_demo_videos"):
    render_demo(
        demo=DemoConfig.from_mapping(sm.params.demo),
        age_groups=sm.params.age_groups,
        out_dir=Path(sm.output.manifest).parent,
    )
exit_job()
