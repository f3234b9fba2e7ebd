"""Rule voe_readout: the VoE metric suite of every run at every stage on every VoE set (devcurriculum.eval.voe)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.eval.voe import voe_readout
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
with stage_log(sm.log[0], "voe_readout"):
    voe_readout(
        surprise_parts=list(sm.input.parts),
        sets=dict(zip(sm.params.sets, sm.input.tables, strict=True)),
        out_path=sm.output.eval,
        preregistered_context=sm.params.preregistered_context,
    )
exit_job()
