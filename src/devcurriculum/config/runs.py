"""The runs a config asks for: every (model, curriculum, seed) of ``runs:``, plus each untrained baseline."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from devcurriculum.config.workflow import INIT, WorkflowConfig

#: a run's name: its folder below ``{results}/runs/`` and its ``run`` column in the summary
RUN_NAME = "{model}/{curriculum}/seed{seed}"


def run_name(model: str, curriculum: str, seed: int) -> str:
    """``{model}/{curriculum}/seed{seed}`` of one run (``seed`` as an integer: ``seed0``, never ``seed0.0``)."""
    return RUN_NAME.format(model=model, curriculum=curriculum, seed=int(seed))


def run_folder(results: str, model: str, curriculum: str, seed: int | str) -> str:
    """``{results}/runs/{model}/{curriculum}/seed{seed}``: one run's folder (weights, checkpoints, metrics).

    Given Snakemake wildcards as text (``"{model}"``, ``"{seed}"``) it is the rules' path pattern.
    """
    return f"{results}/runs/" + RUN_NAME.format(model=model, curriculum=curriculum, seed=seed)


@dataclass(frozen=True)
class Run:
    """One training run; its folder under ``results/runs`` is :attr:`name`."""

    model: str
    curriculum: str
    seed: int

    @property
    def name(self) -> str:
        return run_name(self.model, self.curriculum, self.seed)

    def folder(self, results: str) -> str:
        """The run's folder under ``{results}/runs`` (:func:`run_folder`)."""
        return run_folder(results, self.model, self.curriculum, self.seed)

    @property
    def is_baseline(self) -> bool:
        """The untrained model (curriculum ``init``)."""
        return self.curriculum == INIT


def expand_runs(cfg: WorkflowConfig) -> list[Run]:
    """Every (model, curriculum, seed) of ``runs:``, in config order, without duplicates."""
    runs: dict[Run, None] = {}
    for entry in cfg.runs:
        for model in entry.models:
            for curriculum in entry.curricula:
                for seed in entry.seeds:
                    runs[Run(model, curriculum, int(seed))] = None
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
