"""Rule summarize: summary.parquet, comparisons and the plots (devcurriculum.eval.summarize)."""

from pathlib import Path

from devcurriculum.eval.summarize import summarize
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import stage_log

sm = snakemake
write_job_stamp(sm)
with stage_log(sm.log[0], "summarize"):
    summarize(
        eval_paths=list(sm.input.evals),
        metrics_paths=list(sm.input.metrics),
        videos_parquet=sm.input.videos,
        out_summary=sm.output.summary,
        out_comparisons=sm.output.comparisons,
        plot_dir=Path(sm.output.stage_curves).parent,
        reference_curriculum=sm.params.reference,
        voe_paths=list(sm.input.voe),
    )
