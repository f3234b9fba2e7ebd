"""Rule summarize: summary.parquet, comparisons and the plots (devcurriculum.eval.summarize); with tracking
on (a runtime-only setting, read from the config), every run's readouts into its W&B / MLflow run."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from pathlib import Path

from devcurriculum.config import TrackingConfig
from devcurriculum.eval.summarize import summarize
from devcurriculum.stamps import write_job_stamp
from devcurriculum.train.tracking import log_readouts
from devcurriculum.utils.io import read_table
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
tracking = TrackingConfig.from_mapping(sm.config.get("tracking", {}))
with stage_log(sm.log[0], "summarize"):
    summarize(
        eval_paths=list(sm.input.evals),
        metrics_paths=list(sm.input.metrics),
        videos_parquet=sm.input.videos,
        out_summary=sm.output.summary,
        out_comparisons=sm.output.comparisons,
        plot_dir=Path(sm.output.stage_curves).parent,
        reference_curriculum=sm.params.reference,
        figure_style=sm.params.figure_style,
        baseline_paths=list(sm.input.baselines),
        voe_paths=list(sm.input.voe),
    )
    if tracking.enabled:
        log_readouts(tracking, results=sm.config["results"], summary=read_table(sm.output.summary).to_pandas())
exit_job()
