"""The untrained weights of a (model, seed): every pretraining run of that pair starts from them.

The ``init_model`` rule writes ``results/runs/{model}/init/seed{seed}/model.safetensors``; the untrained
baseline evaluation ("step 0") embeds the same file, so the baseline and the trained runs share their
starting point exactly. With ``models.<name>.init_from`` that starting point is the given weights
(published, or another run's), so after_stage 0 is that model, not a random one.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from devcurriculum.config import ClipConfig, ModelConfig
from devcurriculum.models.registry import build_network_objective, describe_network
from devcurriculum.train.checkpoint import save_weights
from devcurriculum.train.run_marker import mark_run_folder
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.train.init")


def save_initial_model(
    *, model: ModelConfig, clip: ClipConfig, seed: int, out_path: PathLike, where: str = "models.<name>.init_from"
) -> Path:
    """Seed torch with ``seed``, build the objective from config (random init), save its full state.

    With ``model.init_from`` the source's weights are laid over the random init first, strictly
    (:func:`devcurriculum.train.init_from.load_init_from`; ``where`` names the key in its errors), and
    the file's header records the source. The state covers every parameter and buffer of the
    objective (encoder, decoder/predictor, EMA target), the same keys ``devcurriculum.train.run``
    loads strictly before training.
    """
    torch.manual_seed(seed)
    objective = build_network_objective(model, clip)
    log.info(describe_network(model, objective))
    metadata = None
    init = model.init_source
    if init is not None:  # published or earlier weights over the random init (train/init_from.py)
        from devcurriculum.train.init_from import load_init_from

        report = load_init_from(objective, init, where=where)
        metadata = {"init_from": init.path, "init_from_kind": report.kind, "init_from_keys": report.counts()}
    state = objective.state_dict()
    save_weights(state, out_path, metadata=metadata)
    mark_run_folder(Path(out_path).parent)  # from_pretrained(<this folder>) must fail, not load a random model
    n_params = sum(t.numel() for t in state.values())
    log.info("saved initial %s weights (seed %d, %d tensors, %.2fM values) to %s",
             model.objective, seed, len(state), n_params / 1e6, out_path)
    return Path(out_path)
