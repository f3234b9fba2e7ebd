# The one training loop, launched by torchrun (gloo on CPU, NCCL on GPU; see docs/training.md).


rule pretrain:
    input:
        unpack(pretrain_inputs),
    output:
        weights=f"{RUN_DIR}/model.safetensors",
        metrics=f"{RUN_DIR}/metrics.parquet",
        config=f"{RUN_DIR}/config.json",
    log:
        f"{LOGS}/pretrain/{{model}}/{{curriculum}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pretrain/{{model}}/{{curriculum}}/seed{{seed}}.tsv"
    wildcard_constraints:
        curriculum=NOT_INIT,
    # the long jobs first, so the many short embed/evaluate jobs fill the gaps around them
    priority: 10
    conda:
        ENV
    threads: config["pretrain"]["threads"]
    resources:
        gpu=0,
    params:
        spec=pretrain_spec,
        difficulty=pretrain_difficulty_arg,
        resume_dir=resume_dir,
        launcher=torchrun_launcher,
        threads_per_proc=threads_per_proc,
        out_dir=RUN_DIR,
        script=PRETRAIN_SCRIPT,
    shell:
        "{params.launcher} {params.script}"
        " --spec-json {params.spec:q}"
        " --clip-tables {input.tables} --clip-caches {input.caches}"
        " {params.difficulty} --init {input.init}"
        " --out-dir {params.out_dir} --resume-dir {params.resume_dir}"
        " --threads {params.threads_per_proc} > {log} 2>&1"
