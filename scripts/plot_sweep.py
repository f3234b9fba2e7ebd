"""Rule plot_sweep: the figure of one sweep (scaling, few_shot, ocp) from summary.parquet (devcurriculum.eval.sweep_plots)."""

from devcurriculum.eval.sweep_plots import plot_sweep
from devcurriculum.utils.logging import stage_log

sm = snakemake
with stage_log(sm.log[0], f"plot_sweep[{sm.wildcards.sweep}]"):
    plot_sweep(sm.wildcards.sweep, sm.input.summary, sm.output.plot)
