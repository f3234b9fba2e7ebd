"""Rule prepare_voe: matched possible / impossible clips of one VoE set (devcurriculum.evalsets.voe)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.config import ClipConfig, DemoConfig, voe_set_config
from devcurriculum.evalsets.voe import prepare_voe
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
name = sm.wildcards.voe
with stage_log(sm.log[0], f"prepare_voe[{name}]"):
    prepare_voe(
        name=name,
        voe_set=voe_set_config(sm.params.voe, where=f"voe.sets.{name}"),
        clip=ClipConfig.from_mapping(sm.params.clip),
        demo=DemoConfig.from_mapping(sm.params.demo) if sm.params.demo else None,
        age_groups=sm.params.age_groups or None,
        out_table=sm.output.table,
        out_cache=sm.output.cache,
    )
exit_job()
