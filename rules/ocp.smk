# Object contact prediction (Physion's probe): OCP sets (once per clip setting, `{viewset}`) -> every
# run's embeddings of them at every stage -> a logistic readout -> rows in summary.parquet.


rule prepare_ocp:
    input:
        unpack(ocp_set_inputs),
    output:
        table=f"{RESULTS}/ocp/sets{{viewset}}/{{ocp}}.parquet",
        cache=f"{RESULTS}/ocp/sets{{viewset}}/{{ocp}}.npy",
    log:
        f"{LOGS}/prepare_ocp{{viewset}}/{{ocp}}.log",
    benchmark:
        f"{TIMINGS}/prepare_ocp{{viewset}}/{{ocp}}.tsv"
    conda:
        ENV
    params:
        ocp=ocp_set_cfg,
        clip=view_clip_cfg,
        demo=ocp_demo_cfg,
        age_groups=ocp_age_groups,
    script:
        "../scripts/prepare_ocp.py"


rule ocp_readout:
    input:
        unpack(ocp_inputs),
    output:
        embeddings=f"{RESULTS}/ocp/embeddings/{RUN_ID}.parquet",
        eval=f"{RESULTS}/ocp/eval/{RUN_ID}.parquet",
    log:
        f"{LOGS}/ocp_readout/{RUN_ID}.log",
    benchmark:
        f"{TIMINGS}/ocp_readout/{RUN_ID}.tsv"
    conda:
        ENV
    threads: CFG.ocp.threads
    params:
        # batch size is runtime-only: the script reads it from the config
        model=model_readout,
        clip=model_clip_cfg,
        readout=ocp_readout_cfg(),
        sets=OCP_SETS,
        run=run_info,
    script:
        "../scripts/ocp_readout.py"
