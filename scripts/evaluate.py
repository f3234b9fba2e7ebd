"""Rule evaluate: linear and kNN readouts of one run on one benchmark (devcurriculum.eval.readouts)."""

from devcurriculum.eval.readouts import evaluate_embeddings
from devcurriculum.utils.logging import stage_log

sm = snakemake
with stage_log(sm.log[0], "evaluate"):
    evaluate_embeddings(sm.input.embeddings, sm.input.table, sm.params.evaluation, sm.output.eval, sm.params.run)
