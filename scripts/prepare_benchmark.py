"""Rule prepare_benchmark: labelled clips of one benchmark (devcurriculum.datasets.benchmarks)."""

from devcurriculum.datasets.benchmarks import prepare_benchmark
from devcurriculum.utils.logging import stage_log

sm = snakemake
with stage_log(sm.log[0], f"prepare_benchmark[{sm.wildcards.benchmark}]"):
    prepare_benchmark(
        sm.wildcards.benchmark, sm.params.benchmark, sm.params.clip, sm.params.demo_dir, sm.output.table, sm.output.cache
    )
