"""The untrained weights of a (model, seed): seeded, complete, loadable strictly into the objective."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from devcurriculum.config import ClipConfig, VideoMAEModelConfig
from devcurriculum.models.registry import build_objective
from devcurriculum.train.checkpoint import load_weights
from devcurriculum.train.init import save_initial_model

MODEL = VideoMAEModelConfig(
    hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, patch_size=8, tubelet_size=2,
    decoder_hidden_size=16, decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=32,
)
CLIP = ClipConfig(frames=4, size=16)


def test_initial_model_is_seeded_and_loads_strictly(tmp_path: Path) -> None:
    a = save_initial_model(model=MODEL, clip=CLIP, seed=0, out_path=tmp_path / "a" / "model.safetensors")
    save_initial_model(model=MODEL, clip=CLIP, seed=0, out_path=tmp_path / "b" / "model.safetensors")
    save_initial_model(model=MODEL, clip=CLIP, seed=1, out_path=tmp_path / "c" / "model.safetensors")

    wa, wb, wc = (load_file(str(tmp_path / d / "model.safetensors")) for d in "abc")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)
    fresh = build_objective(MODEL, CLIP)
    load_weights(fresh, a)  # strict: same keys as the objective the run builds
    assert all(torch.equal(v, wa[k]) for k, v in fresh.state_dict().items())
