"""Rule plot_sweep: the figure of one sweep (scaling, few_shot, ocp) from summary.parquet (devcurriculum.eval.sweep_plots)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.eval.sweep_plots import plot_sweep
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
with stage_log(sm.log[0], f"plot_sweep[{sm.wildcards.sweep}]"):
    plot_sweep(sm.wildcards.sweep, sm.input.summary, sm.output.plot)
exit_job()
