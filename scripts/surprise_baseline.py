"""Rule surprise_baseline: an outside model's feature-change proxy surprise on every VoE set (devcurriculum.eval.outside)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from pathlib import Path

from devcurriculum.config import BaselineConfig, ClipConfig, VoEConfig
from devcurriculum.eval.embed import BenchmarkFiles
from devcurriculum.eval.outside import surprise_baseline
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
name = sm.wildcards.baseline
voe = VoEConfig.from_mapping(sm.config["voe"])  # runtime-only: batch size
voe_sets = [
    BenchmarkFiles(voe_set, Path(table), Path(cache))
    for voe_set, table, cache in zip(sm.params.sets, sm.input.tables, sm.input.caches, strict=True)
]
with stage_log(sm.log[0], f"surprise_baseline[{name}]"):
    surprise_baseline(
        name=name,
        baseline=BaselineConfig.from_mapping(sm.params.baseline, where=f"baselines.{name}"),
        model_ref=sm.input.model,
        clip=ClipConfig.from_mapping(sm.params.clip),
        voe_sets=voe_sets,
        window_stride=sm.params.window_stride,
        out_path=sm.output.part,
        batch_size=voe.batch_size,
        threads=sm.threads,
        context_frames=sm.params.context_frames,
    )
exit_job()
