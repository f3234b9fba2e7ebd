# clips (+ difficulty, folds, complexity) -> a per-step-bucket preview of each curriculum, and the untrained models.


rule build_curriculum:
    input:
        unpack(curriculum_inputs),
    output:
        table=f"{RESULTS}/curricula/{{curriculum}}.parquet",
        plot=report(
            f"{RESULTS}/curricula/{{curriculum}}.png",
            caption="../report/curriculum.rst",
            category="Curricula",
        ),
    log:
        f"{LOGS}/build_curriculum/{{curriculum}}.log",
    wildcard_constraints:
        curriculum=NOT_INIT,
    conda:
        ENV
    params:
        curriculum=curriculum_cfg,
        groups=GROUPS,
        schedule=schedule_cfg(),
        learners=learner_schedules,
    script:
        "../scripts/build_curriculum.py"


rule assign_folds:
    input:
        videos=f"{RESULTS}/data/videos.parquet",
        tables=clip_tables(),
    output:
        folds=f"{RESULTS}/curricula/{{curriculum}}.folds.parquet",
    log:
        f"{LOGS}/assign_folds/{{curriculum}}.log",
    wildcard_constraints:
        curriculum=NOT_INIT,
    conda:
        ENV
    params:
        folds=fold_cfg,
    script:
        "../scripts/assign_folds.py"


rule measure_complexity:
    input:
        tables=clip_tables(),
        caches=clip_caches(),
    output:
        complexity=complexity_table(),
    log:
        f"{LOGS}/measure_complexity.log",
    benchmark:
        f"{TIMINGS}/measure_complexity.tsv"
    conda:
        ENV
    params:
        groups=GROUPS,
    script:
        "../scripts/measure_complexity.py"


rule init_model:
    input:
        init_from=init_from_files,
    output:
        weights=f"{INIT_RUN}/model.safetensors",
    log:
        f"{LOGS}/init_model/{{model}}/seed{{seed}}.log",
    conda:
        ENV
    params:
        model=model_network,
        clip=model_clip_cfg,
    script:
        "../scripts/init_model.py"
