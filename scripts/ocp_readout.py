"""Rule ocp_readout: a run's embeddings of every OCP set at every stage and their logistic readout (devcurriculum.eval.ocp)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from pathlib import Path

from devcurriculum.config import ClipConfig, OCPConfig, OCPReadoutConfig, model_config
from devcurriculum.eval.embed import BenchmarkFiles, stage_weights
from devcurriculum.eval.ocp import ocp_run
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
ocp = OCPConfig.from_mapping(sm.config.get("ocp", {}))  # runtime-only: batch size
checkpoints = stage_weights(sm.input.get("checkpoints"), sm.input.get("weights"))  # init: its one weights file
sets = [BenchmarkFiles(name, Path(table), Path(cache))
        for name, table, cache in zip(sm.params.sets, sm.input.tables, sm.input.caches, strict=True)]
with stage_log(sm.log[0], f"ocp_readout[{sm.wildcards.model}/{sm.wildcards.curriculum}{sm.wildcards.fraction}/seed{sm.wildcards.seed}]"):
    ocp_run(
        model=model_config(sm.params.model, where=f"models.{sm.wildcards.model}"),
        clip=ClipConfig.from_mapping(sm.params.clip),
        checkpoints=checkpoints,
        sets=sets,
        readout=OCPReadoutConfig.from_mapping(sm.params.readout),
        out_embeddings=sm.output.embeddings,
        out_eval=sm.output.eval,
        run_info=sm.params.run,
        batch_size=ocp.batch_size,
        threads=sm.threads,
        run_spec=sm.input.get("spec"),  # trained runs only: checked against params.model
        model_key=f"models.{sm.wildcards.model}",
    )
exit_job()
