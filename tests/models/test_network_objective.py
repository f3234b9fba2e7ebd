"""Jobs that get only a model's network keys (init_model, embed, surprise) log the network, not pretext defaults."""

from __future__ import annotations

import logging

import pytest
import torch

from devcurriculum.config import ClipConfig, model_config
from devcurriculum.models.registry import build_network_objective, build_objective, describe_network

CLIP = ClipConfig.from_mapping({"frames": 4, "frame_step": 1, "stride": 4, "size": 16})
VJEPA = {"objective": "vjepa", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
         "mlp_ratio": 2.0, "patch_size": 4, "tubelet_size": 2, "pred_hidden_size": 16,
         "pred_num_hidden_layers": 1, "pred_num_attention_heads": 2}


@pytest.fixture
def vjepa_network() -> dict:
    """The network keys of a V-JEPA block, as an inference rule passes them (no masks, no EMA)."""
    return model_config(VJEPA, where="models.vjepa").network()


def test_same_weights_as_build_objective(vjepa_network: dict) -> None:
    model = model_config(vjepa_network, where="models.vjepa")
    torch.manual_seed(3)
    quiet = build_network_objective(model, CLIP).state_dict()
    torch.manual_seed(3)
    loud = build_objective(model, CLIP).state_dict()
    assert quiet.keys() == loud.keys()
    assert all(torch.equal(quiet[k], loud[k]) for k in quiet)


def test_log_names_the_network_and_not_the_pretext_defaults(vjepa_network: dict, caplog: pytest.LogCaptureFixture) -> None:
    model = model_config(vjepa_network, where="models.vjepa")
    with caplog.at_level(logging.INFO):
        objective = build_network_objective(model, CLIP)
        logging.getLogger("test").info(describe_network(model, objective))
    text = caplog.text
    assert "masks" not in text and "ema" not in text, text
    assert "VJEPAObjective network" in text and "hidden_size 32" in text, text
    # the models' loggers are back at their level afterwards: training still logs its construction line
    assert logging.getLogger("devcurriculum.models").level == logging.NOTSET
    caplog.clear()
    with caplog.at_level(logging.INFO):
        build_objective(model, CLIP)
    assert "masks" in caplog.text
