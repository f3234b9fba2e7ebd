"""Rule readout_baseline: linear and kNN readouts of an outside model's embeddings (devcurriculum.eval.readouts)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.config import EvaluationConfig
from devcurriculum.eval.readouts import evaluate_run
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
readouts = EvaluationConfig.from_mapping(sm.params.evaluation)
with stage_log(sm.log[0], f"readout_baseline[{sm.wildcards.baseline}]"):
    evaluate_run(
        embeddings=[sm.input.parts],
        benchmarks=dict(zip(sm.params.benchmarks, sm.input.tables, strict=True)),
        linear=readouts.linear,
        knn=readouts.knn,
        out_path=sm.output.eval,
        run_info=sm.params.run,
    )
exit_job()
