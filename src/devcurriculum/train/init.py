"""The untrained weights of a (model, seed): every pretraining run of that pair starts from them.

The ``init_model`` rule writes ``results/runs/{model}/init/seed{seed}/model.safetensors``; the untrained
baseline evaluation ("step 0") embeds the same file, so the baseline and the trained runs share their
starting point exactly.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from devcurriculum.config import ClipConfig, ModelConfig
from devcurriculum.models.registry import build_objective
from devcurriculum.train.checkpoint import save_weights
from devcurriculum.train.run_marker import mark_run_folder
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.train.init")


def save_initial_model(*, model: ModelConfig, clip: ClipConfig, seed: int, out_path: PathLike) -> Path:
    """Seed torch with ``seed``, build the objective from config (random init), save its full state.

    The state covers every parameter and buffer of the objective (encoder, decoder/predictor, EMA
    target), the same keys ``devcurriculum.train.run`` loads strictly before training.
    """
    torch.manual_seed(seed)
    objective = build_objective(model, clip)
    state = objective.state_dict()
    save_weights(state, out_path)
    mark_run_folder(Path(out_path).parent)  # from_pretrained(<this folder>) must fail, not load a random model
    n_params = sum(t.numel() for t in state.values())
    log.info("saved initial %s weights (seed %d, %d tensors, %.2fM values) to %s",
             model.objective, seed, len(state), n_params / 1e6, out_path)
    return Path(out_path)
