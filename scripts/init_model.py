"""Rule init_model: the untrained weights every run starts from (devcurriculum.train.init)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.config import ClipConfig, model_config
from devcurriculum.stamps import write_job_stamp
from devcurriculum.train.init import save_initial_model
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
with stage_log(sm.log[0], f"init_model[{sm.wildcards.model}]"):
    save_initial_model(
        model=model_config(sm.params.model, where=f"models.{sm.wildcards.model}"),
        clip=ClipConfig.from_mapping(sm.params.clip),
        seed=int(sm.wildcards.seed),
        out_path=sm.output.weights,
        where=f"models.{sm.wildcards.model}.init_from",
    )
exit_job()
