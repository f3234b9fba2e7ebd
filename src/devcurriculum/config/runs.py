"""The runs a config asks for: every (model, curriculum, seed) of ``runs:``, plus each untrained baseline."""

from __future__ import annotations

from dataclasses import dataclass

from devcurriculum.config.workflow import INIT, WorkflowConfig


@dataclass(frozen=True)
class Run:
    """One training run; its folder under ``results/runs`` is :attr:`name`."""

    model: str
    curriculum: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.model}/{self.curriculum}/seed{self.seed}"

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
