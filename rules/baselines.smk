# Outside models (baselines: not trained here, frozen): embed + readout on every benchmark, the
# feature-change proxy surprise on every VoE set; rows of summary.parquet with curriculum "baseline".


rule embed_baseline:
    input:
        unpack(baseline_model),
        tables=benchmark_files()["tables"],
        caches=benchmark_files()["caches"],
    output:
        part=f"{RESULTS}/baselines/{{baseline}}/embeddings.parquet",
    log:
        f"{LOGS}/embed_baseline/{{baseline}}.log",
    benchmark:
        f"{TIMINGS}/embed_baseline/{{baseline}}.tsv"
    wildcard_constraints:
        baseline=r"[A-Za-z0-9_-]+",
    conda:
        ENV
    threads: CFG.evaluation.embed_threads
    params:
        baseline=baseline_cfg,
        benchmarks=BENCHMARKS,
    script:
        "../scripts/embed_baseline.py"


rule readout_baseline:
    input:
        parts=rules.embed_baseline.output.part,
        tables=benchmark_files()["tables"],
    output:
        eval=f"{RESULTS}/baselines/{{baseline}}/eval.parquet",
    log:
        f"{LOGS}/readout_baseline/{{baseline}}.log",
    wildcard_constraints:
        baseline=r"[A-Za-z0-9_-]+",
    conda:
        ENV
    params:
        evaluation=readout_cfg,
        run=baseline_run,
        benchmarks=BENCHMARKS,
    script:
        "../scripts/readout_baseline.py"


rule surprise_baseline:
    input:
        unpack(baseline_model),
        tables=voe_tables(),
        caches=expand(f"{RESULTS}/voe/sets/{{v}}.npy", v=VOE_SETS),
    output:
        part=f"{RESULTS}/baselines/{{baseline}}/surprise.parquet",
    log:
        f"{LOGS}/surprise_baseline/{{baseline}}.log",
    benchmark:
        f"{TIMINGS}/surprise_baseline/{{baseline}}.tsv"
    wildcard_constraints:
        baseline=r"[A-Za-z0-9_-]+",
    conda:
        ENV
    threads: CFG.voe.threads
    params:
        baseline=baseline_cfg,
        clip=CFG.data.clip.shaping(),
        window_stride=CFG.voe.window_stride,
        context_frames=voe_context_frames(),
        sets=VOE_SETS,
    script:
        "../scripts/surprise_baseline.py"


rule voe_readout_baselines:
    input:
        parts=baseline_surprise_parts(),
        tables=voe_tables(),
    output:
        eval=f"{RESULTS}/baselines/voe_eval.parquet",
    log:
        f"{LOGS}/voe_readout_baselines.log",
    conda:
        ENV
    params:
        sets=VOE_SETS,
        preregistered_context=CFG.voe.preregistered(),
    script:
        "../scripts/voe_readout.py"
