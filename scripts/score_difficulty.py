"""Rule score_difficulty: k-means difficulty of every clip (devcurriculum.difficulty.stage)."""

from devcurriculum.difficulty.stage import run_score_difficulty
from devcurriculum.utils.logging import stage_log

sm = snakemake
with stage_log(sm.log[0], "score_difficulty"):
    run_score_difficulty(
        sm.input.features, list(sm.input.tables), sm.params.difficulty, sm.output.difficulty, sm.output.k_table
    )
