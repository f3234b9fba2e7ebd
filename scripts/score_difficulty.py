"""Rule score_difficulty: k-means difficulty of every clip (devcurriculum.difficulty.stage)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.config import DifficultyConfig
from devcurriculum.difficulty.stage import run_score_difficulty
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
with stage_log(sm.log[0], "score_difficulty"):
    run_score_difficulty(
        features=sm.input.features,
        clip_tables=list(sm.input.tables),
        cfg=DifficultyConfig.from_mapping(sm.params.difficulty),
        out_difficulty=sm.output.difficulty,
        out_k_table=sm.output.k_table,
        threads=sm.threads,
    )
exit_job()
