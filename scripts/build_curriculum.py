"""Rule build_curriculum: the per-step preview of one curriculum (devcurriculum.curriculum.preview)."""

from devcurriculum.curriculum.preview import build_preview
from devcurriculum.utils.logging import stage_log

sm = snakemake
with stage_log(sm.log[0], f"build_curriculum[{sm.wildcards.curriculum}]"):
    build_preview(
        sm.wildcards.curriculum,
        sm.params.curriculum,
        sm.params.groups,
        list(sm.input.tables),
        sm.input.get("difficulty"),
        sm.params.schedule,
        sm.output.table,
        sm.output.plot,
    )
