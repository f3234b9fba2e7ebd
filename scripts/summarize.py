"""Rule summarize: summary.parquet and plots (devcurriculum.eval.summarize)."""

from pathlib import Path

from devcurriculum.eval.summarize import summarize
from devcurriculum.utils.logging import stage_log

sm = snakemake
with stage_log(sm.log[0], "summarize"):
    summarize(list(sm.input.evals), list(sm.input.metrics), sm.input.videos, sm.output.summary, Path(sm.output.loss).parent)
