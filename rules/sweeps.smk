# The sweeps over what the workflow builds (docs/evaluation.md): few-shot readouts of every run's
# embeddings, and the figures of the corpus-fraction, few-shot and OCP sweeps drawn from the summary.


rule few_shot:
    input:
        parts=embed_parts,
        tables=readout_tables,
    output:
        eval=f"{RESULTS}/few_shot/{RUN_ID}.parquet",
    log:
        f"{LOGS}/few_shot/{RUN_ID}.log",
    conda:
        ENV
    params:
        few_shot=few_shot_cfg(),
        evaluation=readout_cfg,
        # what the embeddings must have been computed with (checked, not used)
        model=model_network,
        run=run_info,
        benchmarks=BENCHMARKS,
    script:
        "../scripts/few_shot.py"


rule plot_sweep:
    input:
        summary=f"{RESULTS}/summary.parquet",
    output:
        plot=report(
            f"{RESULTS}/plots/{{sweep}}.png",
            caption="../report/sweeps.rst",
            category="Evaluation",
        ),
    log:
        f"{LOGS}/plot_sweep/{{sweep}}.log",
    wildcard_constraints:
        sweep="scaling|few_shot|ocp",
    conda:
        ENV
    script:
        "../scripts/plot_sweep.py"
