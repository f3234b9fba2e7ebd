# Named targets: `snakemake --cores 8 train` builds only what training needs, and so on.


rule data:
    localrule: True
    input:
        clip_tables(),
        clip_caches(),


rule features:
    localrule: True
    input:
        difficulty_table(),


rule curricula:
    localrule: True
    input:
        curriculum_previews(),


rule train:
    localrule: True
    input:
        metrics_files(),


rule evaluate:
    localrule: True
    input:
        eval_files(),


# Everything `snakemake --report results/report.html` shows (the summary, comparisons and figures).
rule report:
    localrule: True
    input:
        all_targets(),
