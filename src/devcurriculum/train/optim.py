"""The optimiser of the training loop: one parameter group per depth group, so LeRaC can set each."""

from __future__ import annotations

import torch

from devcurriculum.config import PretrainConfig
from devcurriculum.models.objective import Objective


def build_optimizer(objective: Objective, pretrain: PretrainConfig) -> torch.optim.Optimizer:
    """AdamW or Nesterov SGD over ``objective.depth_groups()`` (input side first), one param group each.

    Checks the contract: every trainable parameter in exactly one group.
    """
    groups = [list(g) for g in objective.depth_groups()]
    _check_depth_groups(objective, groups)
    param_groups = [{"params": g, "lr": pretrain.lr, "depth": i} for i, g in enumerate(groups)]
    if pretrain.optimizer == "sgd":
        return torch.optim.SGD(
            param_groups,
            lr=pretrain.lr,
            momentum=pretrain.momentum,
            nesterov=pretrain.momentum > 0,
            weight_decay=pretrain.weight_decay,
        )
    return torch.optim.AdamW(param_groups, lr=pretrain.lr, weight_decay=pretrain.weight_decay)


def _check_depth_groups(objective: Objective, groups: list[list[torch.nn.Parameter]]) -> None:
    name = type(objective).__name__
    if not groups or any(not g for g in groups):
        raise ValueError(f"{name}.depth_groups() returned an empty group: {[len(g) for g in groups]}")
    seen: dict[int, int] = {}
    for gi, group in enumerate(groups):
        for p in group:
            if id(p) in seen:
                raise ValueError(
                    f"{name}.depth_groups(): a parameter of shape {tuple(p.shape)} is in groups {seen[id(p)]} and {gi}"
                )
            seen[id(p)] = gi
    names = {id(p): n for n, p in objective.named_parameters()}
    left_out = [names[id(p)] for p in objective.parameters() if p.requires_grad and id(p) not in seen]
    if left_out:
        raise ValueError(f"{name}.depth_groups() leaves out trainable parameters {left_out[:5]}")
