"""Rule few_shot: linear and kNN readouts on n labelled items per class, every stage, every benchmark (devcurriculum.eval.few_shot)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.config import EvaluationConfig, FewShotConfig
from devcurriculum.eval.few_shot import few_shot_run
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
readouts = EvaluationConfig.from_mapping(sm.params.evaluation)
with stage_log(sm.log[0], "few_shot"):
    few_shot_run(
        embeddings=list(sm.input.parts),
        benchmarks=dict(zip(sm.params.benchmarks, sm.input.tables, strict=True)),
        few_shot=FewShotConfig.from_mapping(sm.params.few_shot),
        linear=readouts.linear,
        knn=readouts.knn,
        out_path=sm.output.eval,
        run_info=sm.params.run,
        network=sm.params.model,  # each embedding shard must come from this network config
        model_key=f"models.{sm.wildcards.model}",
    )
exit_job()
