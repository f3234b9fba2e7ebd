"""Trained encoders leave the tool: the exported model gives the project's embedding on the same clip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from synthetic_clips import moving_squares
from test_simclr import BASE as SIMCLR
from test_videomae import TINY as VIDEOMAE
from test_vjepa import TINY as VJEPA

from devcurriculum.config import ClipConfig, model_config
from devcurriculum.models.registry import build_objective

CLIP = ClipConfig.from_mapping({"frames": 4, "size": 16})
TINY_VIDEOMAE = model_config(VIDEOMAE)
TINY_VJEPA = model_config(VJEPA)
TINY_SIMCLR = model_config(SIMCLR)


def _trained(model_cfg):
    """An objective after two optimiser steps, so the export cannot pass on initial weights alone."""
    torch.manual_seed(0)
    objective = build_objective(model_cfg, CLIP)
    opt = torch.optim.AdamW(objective.parameters(), lr=1e-2)
    batch = moving_squares(4, CLIP.frames, CLIP.size, seed=0)
    for step in range(2):
        opt.zero_grad()
        objective.loss(batch, step).backward()
        opt.step()
        objective.after_step(step, 2)
    return objective.eval(), batch


def _export(objective, tmp_path: Path) -> Path:
    out = tmp_path / "export"
    out.mkdir()
    objective.export_encoder(out)
    assert (out / "README.md").read_text().startswith("# ")
    return out


def test_videomae_export_loads_with_automodel(tmp_path: Path) -> None:
    from transformers import AutoImageProcessor, AutoModel

    from devcurriculum.models.videomae import to_imagenet_normalisation

    objective, batch = _trained(TINY_VIDEOMAE)
    out = _export(objective, tmp_path)
    encoder = AutoModel.from_pretrained(out).eval()
    assert type(encoder).__name__ == "VideoMAEModel"
    assert encoder.config.hidden_size == TINY_VIDEOMAE.hidden_size
    processor = AutoImageProcessor.from_pretrained(out)
    assert list(processor.image_mean) == pytest.approx([0.485, 0.456, 0.406])
    with torch.no_grad():
        exported = encoder(pixel_values=to_imagenet_normalisation(batch)).last_hidden_state.mean(dim=1)
    torch.testing.assert_close(exported, objective.embed(batch), rtol=1e-5, atol=1e-6)


def test_vjepa_export_loads_with_automodel(tmp_path: Path) -> None:
    from transformers import AutoModel

    objective, batch = _trained(TINY_VJEPA)
    out = _export(objective, tmp_path)
    model = AutoModel.from_pretrained(out).eval()
    assert type(model).__name__ == "VJEPA2Model" and model.config.hidden_size == TINY_VJEPA.hidden_size
    with torch.no_grad():
        exported = model.encoder(pixel_values_videos=batch).last_hidden_state.mean(dim=1)
    torch.testing.assert_close(exported, objective.embed(batch), rtol=1e-5, atol=1e-6)
    # the predictor travels too (the target encoder is training state and stays behind)
    for name, tensor in objective.predictor.state_dict().items():
        torch.testing.assert_close(model.predictor.state_dict()[name], tensor)


def test_simclr_export_loads_into_torchvision(tmp_path: Path) -> None:
    import safetensors.torch
    import torchvision

    objective, batch = _trained(TINY_SIMCLR)
    out = _export(objective, tmp_path)
    net = getattr(torchvision.models, TINY_SIMCLR.backbone)(weights=None)
    net.fc = torch.nn.Identity()
    net.load_state_dict(safetensors.torch.load_file(str(out / "backbone.safetensors")))
    net.eval()
    with torch.no_grad():
        exported = net(batch[:, -1])
    torch.testing.assert_close(exported, objective.embed(batch), rtol=1e-5, atol=1e-6)
    assert f"torchvision.models.{TINY_SIMCLR.backbone}(weights=None)" in (out / "README.md").read_text()
