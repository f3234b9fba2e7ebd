# Named targets: `snakemake --cores 8 train` builds only what training needs, and so on.


rule data:
    input:
        all_clip_data(),
    localrule: True


rule features:
    input:
        difficulty_table(),
    localrule: True


rule curricula:
    input:
        curriculum_previews(),
    localrule: True


rule train:
    input:
        metrics_files(),
    localrule: True


rule evaluate:
    input:
        eval_files(),
    localrule: True


# Everything `snakemake --report results/report.html` shows (the summary, comparisons and figures).
rule report:
    input:
        all_targets(),
    localrule: True
