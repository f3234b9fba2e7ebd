# Intuitive physics by violation of expectation: VoE sets -> surprise (sharded, every stage checkpoint, every
# context length; trained runs and voe.untrained_inits random inits per model) -> the metric suite of every
# run and Hedges' g against the untrained -> rows in summary.parquet (docs/voe.md).


rule prepare_voe:
    input:
        unpack(voe_inputs),
    output:
        table=f"{RESULTS}/voe/sets{{viewset}}/{{voe}}.parquet",
        cache=f"{RESULTS}/voe/sets{{viewset}}/{{voe}}.npy",
    log:
        f"{LOGS}/prepare_voe{{viewset}}/{{voe}}.log",
    benchmark:
        f"{TIMINGS}/prepare_voe{{viewset}}/{{voe}}.tsv"
    conda:
        ENV
    params:
        voe=voe_set_cfg,
        clip=view_clip_cfg,
        demo=voe_demo_cfg,
        age_groups=voe_age_groups,
    script:
        "../scripts/prepare_voe.py"


rule surprise:
    input:
        unpack(surprise_inputs),
    output:
        part=f"{RESULTS}/voe/surprise/{RUN_ID}/part-{{shard}}.parquet",
    log:
        f"{LOGS}/surprise/{RUN_ID}/part-{{shard}}.log",
    benchmark:
        f"{TIMINGS}/surprise/{RUN_ID}/part-{{shard}}.tsv"
    conda:
        ENV
    threads: CFG.voe.threads
    params:
        # shard count, batch size and loader workers are runtime-only: the script reads them from the config
        model=surprise_model_cfg,
        clip=model_clip_cfg,
        precision=model_precision,
        window_stride=CFG.voe.window_stride,
        context_frames=voe_context_frames(),
        sets=VOE_SETS,
        run=run_info,
    script:
        "../scripts/surprise.py"


rule voe_readout:
    input:
        parts=surprise_parts(),
        tables=voe_readout_tables(),
    output:
        eval=f"{RESULTS}/voe/eval.parquet",
    log:
        f"{LOGS}/voe_readout.log",
    conda:
        ENV
    params:
        sets=VOE_SETS,
        preregistered_context=CFG.voe.preregistered(),
    script:
        "../scripts/voe_readout.py"
