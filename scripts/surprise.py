"""Rule surprise: one shard of a run's surprise on every VoE set, every stage checkpoint (devcurriculum.eval.surprise)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from pathlib import Path

from devcurriculum.config import ClipConfig, VoEConfig, model_config
from devcurriculum.eval.batches import Loading
from devcurriculum.eval.embed import BenchmarkFiles, stage_weights
from devcurriculum.eval.surprise import surprise_run
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
voe = VoEConfig.from_mapping(sm.config["voe"])  # runtime-only: shards, batch size, loader
checkpoints = stage_weights(sm.input.get("checkpoints"), sm.input.get("weights"))  # init: its one weights file
voe_sets = [
    BenchmarkFiles(name, Path(table), Path(cache))
    for name, table, cache in zip(sm.params.sets, sm.input.tables, sm.input.caches, strict=True)
]
with stage_log(sm.log[0], f"surprise[{sm.wildcards.model}/{sm.wildcards.curriculum}/seed{sm.wildcards.seed}:{sm.wildcards.shard}]"):
    surprise_run(
        model=model_config(sm.params.model, where=f"models.{sm.wildcards.model}"),
        clip=ClipConfig.from_mapping(sm.params.clip),
        checkpoints=checkpoints,
        voe_sets=voe_sets,
        window_stride=sm.params.window_stride,
        shard=int(sm.wildcards.shard),
        n_shards=voe.shards,
        out_path=sm.output.part,
        run_info=sm.params.run,
        batch_size=voe.batch_size,
        threads=sm.threads,
        run_spec=sm.input.get("spec"),  # trained runs only: checked against params.model
        model_key=f"models.{sm.wildcards.model}",
        context_frames=sm.params.context_frames,
        loading=Loading(voe.loader_workers),
        precision=sm.params.precision,
    )
exit_job()
