"""Rule prepare_benchmark: labelled clips of one benchmark (devcurriculum.evalsets.benchmarks)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.config import ClipConfig, benchmark_config
from devcurriculum.evalsets.benchmarks import prepare_benchmark
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
name = sm.wildcards.benchmark
with stage_log(sm.log[0], f"prepare_benchmark[{name}]"):
    prepare_benchmark(
        name=name,
        bench=benchmark_config(sm.params.benchmark, where=f"benchmarks.{name}"),
        clip=ClipConfig.from_mapping(sm.params.clip),
        demo_dir=sm.params.demo_dir,
        out_table=sm.output.table,
        out_cache=sm.output.cache,
        out_status=sm.output.status,
    )
exit_job()
