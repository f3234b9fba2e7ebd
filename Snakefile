# devcurriculum: developmental curriculum pretraining of self-supervised video models.
# All logic lives in src/devcurriculum; rules/ are declarative; see docs/architecture.md.
from snakemake.utils import min_version

from devcurriculum.workflow import load_workflow_config

min_version("9.0")


configfile: "config.yaml"


# Validates against schemas/config.schema.yaml (+ cross-key checks), fills defaults; one line per mistake.
CFG = load_workflow_config(config)


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/features.smk"
include: "rules/curriculum.smk"
include: "rules/pretrain.smk"
include: "rules/evaluate.smk"
include: "rules/voe.smk"
include: "rules/baselines.smk"
include: "rules/ocp.smk"
include: "rules/sweeps.smk"
include: "rules/targets.smk"
# last: it goes over every rule above (and rule all has no outputs)
include: "rules/stamps.smk"


# Local runs: stage jobs fork from one process that imported torch and the model libraries
# (config warm_jobs, devcurriculum.utils.warm_jobs); cluster jobs run as before.
onstart:
    print(
        warm_jobs.start_for_workflow(
            enabled=CFG.warm_jobs,
            local=local_executor(workflow),
            state_dir=".snakemake/devcurriculum",
            log_path=f"{LOGS}/warm_jobs.log",
        )
    )


onsuccess:
    warm_jobs.stop_for_workflow()


onerror:
    warm_jobs.stop_for_workflow()


rule all:
    default_target: True
    input:
        all_targets(),
