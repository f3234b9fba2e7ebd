"""Rule prepare_ocp: the first frames of physical scenes and whether they end in contact (devcurriculum.evalsets.ocp)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.config import ClipConfig, DemoConfig, ocp_set_config
from devcurriculum.evalsets.ocp import prepare_ocp
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
name = sm.wildcards.ocp
with stage_log(sm.log[0], f"prepare_ocp[{name}]"):
    prepare_ocp(
        name=name,
        ocp=ocp_set_config(sm.params.ocp, where=f"ocp.sets.{name}"),
        clip=ClipConfig.from_mapping(sm.params.clip),
        demo=DemoConfig.from_mapping(sm.params.demo) if sm.params.demo else None,
        age_groups=sm.params.age_groups or None,
        out_table=sm.output.table,
        out_cache=sm.output.cache,
    )
exit_job()
