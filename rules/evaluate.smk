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
        clip=config["data"]["clip"],
        demo_dir=benchmark_demo_dir,
    script:
        "../scripts/prepare_benchmark.py"


rule embed:
    input:
        weights=run_weights,
        table=f"{RESULTS}/benchmarks/{{benchmark}}.parquet",
        cache=f"{RESULTS}/benchmarks/{{benchmark}}.npy",
    output:
        part=f"{RESULTS}/embeddings/{{model}}/{{curriculum}}/seed{{seed}}/{{benchmark}}/part-{{shard}}.parquet",
    log:
        f"{LOGS}/embed/{{model}}/{{curriculum}}/seed{{seed}}/{{benchmark}}/part-{{shard}}.log",
    conda:
        ENV
    threads: config["evaluation"]["embed_threads"]
    params:
        model=model_cfg,
        clip=config["data"]["clip"],
        shards=config["evaluation"]["embed_shards"],
        batch_size=config["evaluation"]["embed_batch_size"],
    script:
        "../scripts/embed.py"


rule gather_embeddings:
    input:
        parts=embed_shards,
    output:
        embeddings=f"{RESULTS}/embeddings/{{model}}/{{curriculum}}/seed{{seed}}/{{benchmark}}.parquet",
    log:
        f"{LOGS}/gather_embeddings/{{model}}/{{curriculum}}/seed{{seed}}/{{benchmark}}.log",
    conda:
        ENV
    script:
        "../scripts/gather_tables.py"


rule evaluate:
    input:
        embeddings=embeddings_for_eval,
        table=f"{RESULTS}/benchmarks/{{benchmark}}.parquet",
    output:
        eval=f"{RESULTS}/eval/{{model}}/{{curriculum}}/seed{{seed}}/{{benchmark}}.parquet",
    log:
        f"{LOGS}/evaluate/{{model}}/{{curriculum}}/seed{{seed}}/{{benchmark}}.log",
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
