# clips (+ difficulty) -> a per-step-bucket preview of each curriculum, and the untrained models.


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
