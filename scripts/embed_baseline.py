"""Rule embed_baseline: an outside model's embedding of every benchmark (devcurriculum.eval.outside)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from pathlib import Path

from devcurriculum.config import BaselineConfig, EvaluationConfig
from devcurriculum.eval.embed import BenchmarkFiles
from devcurriculum.eval.outside import embed_baseline
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
name = sm.wildcards.baseline
evaluation = EvaluationConfig.from_mapping(sm.config["evaluation"])  # runtime-only: batch size
benchmarks = [
    BenchmarkFiles(bench, Path(table), Path(cache))
    for bench, table, cache in zip(sm.params.benchmarks, sm.input.tables, sm.input.caches, strict=True)
]
with stage_log(sm.log[0], f"embed_baseline[{name}]"):
    embed_baseline(
        name=name,
        baseline=BaselineConfig.from_mapping(sm.params.baseline, where=f"baselines.{name}"),
        model_ref=sm.input.model,
        benchmarks=benchmarks,
        out_path=sm.output.part,
        batch_size=evaluation.embed_batch_size,
        threads=sm.threads,
    )
exit_job()
