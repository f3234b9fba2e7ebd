"""Rule make_random_vit: save a randomly initialised ViT (devcurriculum.features.random_vit)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.config import RandomVitConfig
from devcurriculum.features.random_vit import save_random_vit
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
with stage_log(sm.log[0], "make_random_vit"):
    save_random_vit(
        cfg=RandomVitConfig.from_mapping(sm.params.random_vit),
        image_size=int(sm.params.image_size),
        out_dir=sm.output.model,
    )
exit_job()
