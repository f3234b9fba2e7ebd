"""Rule init_model: the untrained weights every run starts from (devcurriculum.train.init)."""

from devcurriculum.train.init import save_initial_model
from devcurriculum.utils.logging import stage_log

sm = snakemake
with stage_log(sm.log[0], f"init_model[{sm.wildcards.model}]"):
    save_initial_model(sm.params.model, sm.params.clip, int(sm.wildcards.seed), sm.output.weights)
