"""Rule measure_complexity: every clip's spatial and temporal complexity (devcurriculum.curriculum.controls)."""

from devcurriculum.curriculum.controls import measure_complexity
from devcurriculum.utils.logging import stage_log

sm = snakemake
with stage_log(sm.log[0], "measure_complexity"):
    measure_complexity(
        clip_tables=list(sm.input.tables),
        clip_caches=list(sm.input.caches),
        groups=list(sm.params.groups),
        out_path=sm.output.complexity,
    )
