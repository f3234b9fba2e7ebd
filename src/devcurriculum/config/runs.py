"""The runs a config asks for: every (model, curriculum, seed[, data fraction]) of ``runs:``, plus each untrained baseline."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from devcurriculum.config.workflow import INIT, WorkflowConfig
from devcurriculum.datasets.fractions import fraction_key

#: a run's name: its folder below ``{results}/runs/`` and its ``run`` column in the summary. ``{fraction}``
#: is empty for a run on the whole corpus (so those names never change) and ``@frac0.125`` (``-epochs``)
#: for a run on a fraction of it (``runs[].data_fractions``, :mod:`devcurriculum.datasets.fractions`).
RUN_NAME = "{model}/{curriculum}{fraction}/seed{seed}"


def run_name(model: str, curriculum: str, seed: int, fraction: str = "") -> str:
    """``{model}/{curriculum}{fraction}/seed{seed}`` of one run (``seed`` as an integer: ``seed0``, never
    ``seed0.0``; ``fraction`` the run's fraction key, ``""`` for the whole corpus)."""
    return RUN_NAME.format(model=model, curriculum=curriculum, fraction=fraction, seed=int(seed))


def run_folder(results: str, model: str, curriculum: str, seed: int | str, fraction: str = "") -> str:
    """``{results}/runs/{model}/{curriculum}{fraction}/seed{seed}``: one run's folder (weights, checkpoints, metrics).

    Given Snakemake wildcards as text (``"{model}"``, ``"{fraction}"``, ``"{seed}"``) it is the rules' path pattern.
    """
    return f"{results}/runs/" + RUN_NAME.format(model=model, curriculum=curriculum, fraction=fraction, seed=seed)


@dataclass(frozen=True)
class Run:
    """One training run; its folder under ``results/runs`` is :attr:`name`.

    ``fraction`` < 1 trains on that fraction of each age group's videos, with ``budget`` ``steps`` (the
    configured steps) or ``epochs`` (steps scaled by the fraction); fraction 1 is the whole corpus.
    """

    model: str
    curriculum: str
    seed: int
    fraction: float = 1.0
    budget: str = "steps"

    @property
    def fraction_key(self) -> str:
        """``""`` for the whole corpus, else ``@frac0.125`` (``-epochs``): the ``{fraction}`` part of its name."""
        return fraction_key(self.fraction, self.budget)

    @property
    def name(self) -> str:
        return run_name(self.model, self.curriculum, self.seed, self.fraction_key)

    def folder(self, results: str) -> str:
        """The run's folder under ``{results}/runs`` (:func:`run_folder`)."""
        return run_folder(results, self.model, self.curriculum, self.seed, self.fraction_key)

    @property
    def is_baseline(self) -> bool:
        """The untrained model (curriculum ``init``)."""
        return self.curriculum == INIT

    @property
    def on_fraction(self) -> bool:
        """Whether the run trains on a fraction of the corpus (not the whole of it)."""
        return self.fraction < 1.0


def expand_runs(cfg: WorkflowConfig) -> list[Run]:
    """Every (model, curriculum, seed, fraction) of ``runs:``, in config order, without duplicates.

    A fraction of 1 (and an entry without ``data_fractions``) is the run on the whole corpus, whatever
    the budget: its folder and jobs are those of a config without fractions.
    """
    runs: dict[Run, None] = {}
    for entry in cfg.runs:
        for model in entry.models:
            for curriculum in entry.curricula:
                for seed in entry.seeds:
                    for fraction in entry.fractions:
                        budget = entry.fraction_budget if fraction < 1.0 else "steps"
                        runs[Run(model, curriculum, int(seed), fraction, budget)] = None
    return list(runs)


def baseline_runs(runs: list[Run]) -> list[Run]:
    """The untrained baseline of every (model, seed) that has a trained run."""
    return [Run(model, INIT, seed) for model, seed in sorted({(r.model, r.seed) for r in runs})]


def untrained_runs(runs: list[Run], n: int) -> list[Run]:
    """Per model, the untrained networks (random inits) the VoE readout compares its trained stages with: the
    baseline of every seed its runs have, plus the smallest free seeds until there are ``n`` (``voe.untrained_inits``)."""
    out = []
    for model in sorted({r.model for r in runs}):
        seeds = {r.seed for r in runs if r.model == model}
        free = (s for s in itertools.count() if s not in seeds)
        seeds |= {next(free) for _ in range(max(n - len(seeds), 0))}
        out += [Run(model, INIT, seed) for seed in sorted(seeds)]
    return out
