# videos -> videos.parquet -> per-age-group clip caches (decoded once).


rule make_demo_videos:
    output:
        videos=directory(f"{RESULTS}/demo/videos"),
        manifest=f"{RESULTS}/demo/manifest.csv",
        benchmark=directory(f"{RESULTS}/demo/benchmark"),
    log:
        f"{LOGS}/make_demo_videos.log",
    benchmark:
        f"{TIMINGS}/make_demo_videos.tsv"
    conda:
        ENV
    params:
        demo=CFG.demo.shaping(),
        age_groups=age_groups(),
    script:
        "../scripts/make_demo_videos.py"


rule index_videos:
    input:
        manifest=manifest_path(),
    output:
        videos=f"{RESULTS}/data/videos.parquet",
    log:
        f"{LOGS}/index_videos.log",
    benchmark:
        f"{TIMINGS}/index_videos.tsv"
    conda:
        ENV
    params:
        age_groups=age_groups(),
    script:
        "../scripts/index_videos.py"


rule chunk_clips:
    input:
        videos=rules.index_videos.output.videos,
    output:
        table=f"{RESULTS}/data/clips/{{group}}.parquet",
        cache=f"{RESULTS}/data/clips/{{group}}.npy",
    log:
        f"{LOGS}/chunk_clips/{{group}}.log",
    benchmark:
        f"{TIMINGS}/chunk_clips/{{group}}.tsv"
    conda:
        ENV
    params:
        clip=clip_cfg(),
    script:
        "../scripts/chunk_clips.py"
