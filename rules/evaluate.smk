# benchmarks (once per clip setting and sampling policy, `{viewset}`) -> embeddings (sharded) -> readouts -> one summary table, plots and the report.


rule prepare_benchmark:
    input:
        unpack(benchmark_inputs),
    output:
        table=f"{RESULTS}/benchmarks{{viewset}}/{{benchmark}}.parquet",
        cache=f"{RESULTS}/benchmarks{{viewset}}/{{benchmark}}.npy",
        status=f"{RESULTS}/benchmarks{{viewset}}/{{benchmark}}.status.parquet",
    log:
        f"{LOGS}/prepare_benchmark{{viewset}}/{{benchmark}}.log",
    benchmark:
        f"{TIMINGS}/prepare_benchmark{{viewset}}/{{benchmark}}.tsv"
    conda:
        ENV
    params:
        benchmark=benchmark_cfg,
        clip=benchmark_clip_cfg,
        demo_dir=benchmark_demo_dir,
    script:
        "../scripts/prepare_benchmark.py"


rule embed:
    input:
        unpack(embed_inputs),
    output:
        part=f"{RESULTS}/embeddings/{RUN_ID}/part-{{shard}}.parquet",
    log:
        f"{LOGS}/embed/{RUN_ID}/part-{{shard}}.log",
    benchmark:
        f"{TIMINGS}/embed/{RUN_ID}/part-{{shard}}.tsv"
    conda:
        ENV
    threads: CFG.evaluation.embed_threads
    params:
        # shard count, batch size and loader workers are runtime-only: the script reads them from the config
        model=model_readout,
        clip=model_clip_cfg,
        precision=model_precision,
        benchmarks=BENCHMARKS,
    script:
        "../scripts/embed.py"


rule readout:
    input:
        parts=embed_parts,
        tables=readout_tables,
    output:
        eval=f"{RESULTS}/eval/{RUN_ID}.parquet",
    log:
        f"{LOGS}/readout/{RUN_ID}.log",
    conda:
        ENV
    params:
        # only the readout settings: sharding or threads of embed must not re-evaluate
        evaluation=readout_cfg,
        # what the embeddings must have been computed with (checked, not used)
        model=model_network,
        run=run_info,
        benchmarks=BENCHMARKS,
    script:
        "../scripts/readout.py"


rule summarize:
    input:
        evals=eval_files(),
        metrics=metrics_files(),
        videos=rules.index_videos.output.videos,
        voe=voe_evals(),
        baselines=baseline_evals(),
    output:
        summary=report(
            f"{RESULTS}/summary.parquet",
            caption="../report/summary.rst",
            category="Evaluation",
        ),
        comparisons=f"{RESULTS}/comparisons.parquet",
        comparisons_csv=report(
            f"{RESULTS}/comparisons.csv",
            caption="../report/comparisons.rst",
            category="Evaluation",
        ),
        stage_curves=report(
            f"{RESULTS}/plots/stage_curves.png",
            caption="../report/stage_curves.rst",
            category="Evaluation",
        ),
        readouts=report(
            f"{RESULTS}/plots/readouts.png",
            caption="../report/readouts.rst",
            category="Evaluation",
        ),
        loss=report(
            f"{RESULTS}/plots/loss_curves.png",
            caption="../report/loss_curves.rst",
            category="Training",
        ),
        schedules=report(
            f"{RESULTS}/plots/schedules.png",
            caption="../report/schedules.rst",
            category="Training",
        ),
        voe=report(
            f"{RESULTS}/plots/voe.png",
            caption="../report/voe.rst",
            category="Evaluation",
        ),
    log:
        f"{LOGS}/summarize.log",
    conda:
        ENV
    params:
        reference=CFG.evaluation.reference_curriculum,
        figure_style=CFG.evaluation.figure_style,
    script:
        "../scripts/summarize.py"
