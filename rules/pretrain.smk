# The one training loop, launched by torch.distributed.run (gloo on CPU, NCCL on GPU; docs/training.md).


rule pretrain:
    input:
        unpack(pretrain_inputs),
    output:
        weights=f"{RUN}/model.safetensors",
        checkpoints=directory(f"{RUN}/checkpoints"),
        export=directory(f"{RUN}/export"),
        metrics=f"{RUN}/metrics.parquet",
        spec=f"{RUN}/run_spec.json",
    log:
        f"{LOGS}/pretrain/{RUN_ID}.log",
    benchmark:
        f"{TIMINGS}/pretrain/{RUN_ID}.tsv"
    wildcard_constraints:
        curriculum=NOT_INIT,
    # the long jobs first, so the many short embed/evaluate jobs fill the gaps around them
    priority: 10
    conda:
        ENV
    threads: pretrain_threads
    resources:
        gpu=0,
    params:
        # the run-shaping keys only; everything runtime-only travels in params.runtime (untracked)
        spec=pretrain_spec,
        # every table flag the curriculum needs (--difficulty, --videos, --complexity); one param, so the
        # command text of runs that need none stays as it was (Snakemake reruns a job whose text changed)
        difficulty=pretrain_table_args,
        resume_dir=resume_dir,
        launcher=torchrun_launcher,
        runtime=pretrain_runtime_args,
        out_dir=run_dir,
        # its absolute path, untracked: a moved checkout must not retrain
        script=pretrain_script,
    # The log is appended to: a launcher refused by the run lock never truncates the running trainer's
    # log. params.job_stamp_file is added by rules/stamps.smk (devcurriculum.stamps).
    shell:
        "{params.launcher} {params.script:q}"
        " --spec-json {params.spec:q}"
        " --clip-tables {input.tables:q} --clip-caches {input.caches:q}"
        " {params.difficulty} --init {input.init:q}"
        " --out-dir {params.out_dir:q} --resume-dir {params.resume_dir:q}"
        " --job-stamp-file {params.job_stamp_file:q}"
        " {params.runtime} >> {log:q} 2>&1"
