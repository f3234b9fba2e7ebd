"""Rule build_curriculum: the per-step preview of one curriculum (devcurriculum.curriculum.preview)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.config import CurriculumConfig
from devcurriculum.curriculum.preview import build_preview
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
name = sm.wildcards.curriculum
with stage_log(sm.log[0], f"build_curriculum[{name}]"):
    build_preview(
        name=name,
        curriculum=CurriculumConfig.from_mapping(sm.params.curriculum, where=f"curricula.{name}"),
        groups=list(sm.params.groups),
        clip_tables=list(sm.input.tables),
        difficulty=sm.input.get("difficulty"),
        steps_per_stage=sm.params.schedule["steps_per_stage"],
        bucket_steps=sm.params.schedule["bucket_steps"],
        out_table=sm.output.table,
        out_plot=sm.output.plot,
        folds=sm.input.get("folds"),
        complexity=sm.input.get("complexity"),
        learners=sm.params.learners,  # each learner's own steps_per_stage / bucket_steps
    )
exit_job()
