"""Rule measure_complexity: every clip's spatial and temporal complexity (devcurriculum.curriculum.controls)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.curriculum.controls import measure_complexity
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
with stage_log(sm.log[0], "measure_complexity"):
    measure_complexity(
        clip_tables=list(sm.input.tables),
        clip_caches=list(sm.input.caches),
        groups=list(sm.params.groups),
        out_path=sm.output.complexity,
    )
exit_job()
