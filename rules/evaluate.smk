# benchmarks -> embeddings (sharded) -> readouts -> one summary table, plots and the report.


rule prepare_benchmark:
    input:
        unpack(benchmark_inputs),
    output:
        table=f"{RESULTS}/benchmarks/{{benchmark}}.parquet",
        cache=f"{RESULTS}/benchmarks/{{benchmark}}.npy",
    log:
        f"{LOGS}/prepare_benchmark/{{benchmark}}.log",
    conda:
        ENV
    params:
        benchmark=benchmark_cfg,
        clip=clip_cfg(),
        demo_dir=benchmark_demo_dir,
    script:
        "../scripts/prepare_benchmark.py"


rule embed:
    input:
        weights=run_weights,
        table=f"{RESULTS}/benchmarks/{{benchmark}}.parquet",
        cache=f"{RESULTS}/benchmarks/{{benchmark}}.npy",
    output:
        part=f"{RESULTS}/embeddings/{RUN_ID}/{{benchmark}}/part-{{shard}}.parquet",
    log:
        f"{LOGS}/embed/{RUN_ID}/{{benchmark}}/part-{{shard}}.log",
    conda:
        ENV
    threads: CFG.evaluation.embed_threads
    params:
        # shard count and batch size are runtime-only: the script reads them from the config
        model=model_network,
        clip=clip_cfg(),
    script:
        "../scripts/embed.py"


rule gather_embeddings:
    input:
        parts=embed_shards,
    output:
        embeddings=f"{RESULTS}/embeddings/{RUN_ID}/{{benchmark}}.parquet",
    log:
        f"{LOGS}/gather_embeddings/{RUN_ID}/{{benchmark}}.log",
    conda:
        ENV
    script:
        "../scripts/gather_tables.py"


rule readout:
    input:
        embeddings=embeddings_for_eval,
        table=f"{RESULTS}/benchmarks/{{benchmark}}.parquet",
    output:
        eval=f"{RESULTS}/eval/{RUN_ID}/{{benchmark}}.parquet",
    log:
        f"{LOGS}/readout/{RUN_ID}/{{benchmark}}.log",
    conda:
        ENV
    params:
        # only the readout settings: sharding or threads of embed must not re-evaluate
        evaluation=readout_cfg,
        run=run_info,
    script:
        "../scripts/evaluate.py"


rule summarize:
    input:
        evals=eval_files(),
        metrics=metrics_files(),
        videos=rules.index_videos.output.videos,
    output:
        summary=report(
            f"{RESULTS}/summary.parquet",
            caption="../report/summary.rst",
            category="Evaluation",
        ),
        loss=report(
            f"{RESULTS}/plots/loss_curves.png",
            caption="../report/loss_curves.rst",
            category="Training",
        ),
        readouts=report(
            f"{RESULTS}/plots/readouts.png",
            caption="../report/readouts.rst",
            category="Evaluation",
        ),
        schedules=report(
            f"{RESULTS}/plots/schedules.png",
            caption="../report/schedules.rst",
            category="Training",
        ),
    log:
        f"{LOGS}/summarize.log",
    conda:
        ENV
    script:
        "../scripts/summarize.py"
