"""Rule evaluate: linear and kNN readouts of one (run, benchmark) (devcurriculum.eval.readouts)."""

from devcurriculum.config import EvaluationConfig
from devcurriculum.eval.readouts import evaluate_embeddings
from devcurriculum.utils.logging import stage_log

sm = snakemake
readouts = EvaluationConfig.from_mapping(sm.params.evaluation)
with stage_log(sm.log[0], "evaluate"):
    evaluate_embeddings(
        embeddings=sm.input.embeddings,
        bench_table=sm.input.table,
        linear=readouts.linear,
        knn=readouts.knn,
        out_path=sm.output.eval,
        run_info=sm.params.run,
    )
