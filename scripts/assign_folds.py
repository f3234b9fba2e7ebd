"""Rule assign_folds: every clip's segment and fold for a seed_folds curriculum (devcurriculum.curriculum.folds)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.curriculum.folds import write_fold_table
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
name = sm.wildcards.curriculum
with stage_log(sm.log[0], f"assign_folds[{name}]"):
    write_fold_table(
        clip_tables=list(sm.input.tables),
        videos_parquet=sm.input.videos,
        segment_seconds=float(sm.params.folds["segment_seconds"]),
        curriculum=name,
        out_path=sm.output.folds,
    )
exit_job()
