# videos -> videos.parquet -> clip cache shards (decoded once) -> one clip index per age group,
# for data.clip and for each distinct models.<name>.clip (`{clipset}`: empty, or @ and its key).


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


# A checkpoint: the chunk shards' videos (and their params) are read from its table.
checkpoint index_videos:
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
        # size + mtime of every listed video: a video fixed in place is re-indexed
        videos=manifest_videos_fingerprint,
    script:
        "../scripts/index_videos.py"


rule chunk_clips:
    # Inputs are the shard's video files and params its plan (not videos.parquet): re-indexing
    # after appending videos reruns only the shards whose videos changed.
    input:
        videos=chunk_shard_inputs,
    output:
        table=shard_file("{group}", "{shard}", ".parquet", "{clipset}"),
        cache=shard_file("{group}", "{shard}", CACHE_SUFFIX, "{clipset}"),
    log:
        f"{LOGS}/chunk_clips{{clipset}}/{{group}}/shard-{{shard}}.log",
    benchmark:
        f"{TIMINGS}/chunk_clips{{clipset}}/{{group}}/shard-{{shard}}.tsv"
    conda:
        ENV
    params:
        clip=cache_clip_cfg,
        cache=cache_cfg(),
        videos=chunk_shard_plan,
    script:
        "../scripts/chunk_clips.py"


rule gather_clips:
    input:
        tables=group_shard_tables,
        caches=group_shard_caches,
    output:
        index=f"{RESULTS}/data/clips{{clipset}}/{{group}}.parquet",
    log:
        f"{LOGS}/gather_clips{{clipset}}/{{group}}.log",
    conda:
        ENV
    script:
        "../scripts/gather_clips.py"


# Frame pairs across whole videos for models with gap_seconds (datasets.pairs); built only when one has it.
rule chunk_pairs:
    input:
        videos=pair_shard_inputs,
    output:
        table=pair_shard_file("{group}", "{shard}", ".parquet"),
        cache=pair_shard_file("{group}", "{shard}", CACHE_SUFFIX),
    log:
        f"{LOGS}/chunk_pairs/{{group}}/shard-{{shard}}.log",
    benchmark:
        f"{TIMINGS}/chunk_pairs/{{group}}/shard-{{shard}}.tsv"
    conda:
        ENV
    params:
        pairs=pair_cfg(),
        cache=cache_cfg(),
        videos=pair_shard_plan,
    script:
        "../scripts/chunk_pairs.py"


rule gather_pairs:
    input:
        tables=group_pair_tables,
        caches=group_pair_caches,
    output:
        index=f"{RESULTS}/data/pairs/{{group}}.parquet",
    log:
        f"{LOGS}/gather_pairs/{{group}}.log",
    conda:
        ENV
    script:
        "../scripts/gather_pairs.py"
