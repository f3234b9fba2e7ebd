"""Evaluation sets: labelled benchmarks (``benchmarks``, ``labelled/``) and violation-of-expectation sets (``voe``)."""
