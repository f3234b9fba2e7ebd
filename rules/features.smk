# clip cache -> ViT features (sharded, gathered) -> k-means difficulty.


rule make_random_vit:
    output:
        model=directory(f"{RESULTS}/models/vit-random"),
    log:
        f"{LOGS}/make_random_vit.log",
    conda:
        ENV
    params:
        random_vit=CFG.features.random_vit.shaping(),
        image_size=CFG.data.clip.size,
    script:
        "../scripts/make_random_vit.py"


rule import_dinov2:
    output:
        model=directory(f"{RESULTS}/models/dinov2-s14-imgfocus"),
    log:
        f"{LOGS}/import_dinov2.log",
    conda:
        ENV
    script:
        "../scripts/import_dinov2.py"


rule extract_features:
    input:
        unpack(feature_model),
        tables=clip_tables(),
        caches=clip_caches(),
    output:
        part=f"{RESULTS}/features/{{extractor}}/part-{{shard}}.parquet",
    log:
        f"{LOGS}/extract_features/{{extractor}}/part-{{shard}}.log",
    benchmark:
        f"{TIMINGS}/extract_features/{{extractor}}/part-{{shard}}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
    params:
        features=CFG.features.shaping(),
        model=feature_model_ref,
    script:
        "../scripts/extract_features.py"


rule gather_features:
    input:
        parts=feature_shards,
    output:
        features=f"{RESULTS}/features/{{extractor}}.parquet",
    log:
        f"{LOGS}/gather_features/{{extractor}}.log",
    conda:
        ENV
    script:
        "../scripts/gather_tables.py"


rule score_difficulty:
    input:
        features=f"{RESULTS}/features/{{extractor}}.parquet",
        tables=clip_tables(),
    output:
        difficulty=f"{RESULTS}/difficulty/{{extractor}}.parquet",
        k_table=f"{RESULTS}/difficulty/{{extractor}}.k.parquet",
    log:
        f"{LOGS}/score_difficulty/{{extractor}}.log",
    benchmark:
        f"{TIMINGS}/score_difficulty/{{extractor}}.tsv"
    conda:
        ENV
    threads: 2
    params:
        difficulty=CFG.difficulty.shaping(),
    script:
        "../scripts/score_difficulty.py"
