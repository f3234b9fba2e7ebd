"""Rules gather_features / gather_embeddings: concatenate shard tables (devcurriculum.utils.io)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.io import gather_tables
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
with stage_log(sm.log[0], sm.rule) as log:
    rows = gather_tables(list(sm.input.parts), sm.output[0])
    log.info("gathered %d rows from %d shards into %s", rows, len(sm.input.parts), sm.output[0])
exit_job()
