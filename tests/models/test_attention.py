"""The ViT learners' attention runs through torch's scaled_dot_product_attention (fused / flash on GPU), and
on the CPU it gives the eager attention's numbers within float tolerance."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from model_configs import blocks
from synthetic_clips import moving_squares

from devcurriculum.models.common import ATTENTION
from devcurriculum.models.registry import build_objective

CLIP = {"frames": 4, "size": 16}
VIDEOMAE = {"objective": "videomae", "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 32, "patch_size": 8, "tubelet_size": 2, "decoder_hidden_size": 16,
            "decoder_num_hidden_layers": 1, "decoder_num_attention_heads": 2, "decoder_intermediate_size": 32}
VJEPA = {"objective": "vjepa", "hidden_size": 24, "num_hidden_layers": 2, "num_attention_heads": 2, "mlp_ratio": 2.0,
         "patch_size": 4, "tubelet_size": 2, "pred_hidden_size": 16, "pred_num_hidden_layers": 1,
         "pred_num_attention_heads": 2,
         "masks": {"context_scale": [0.85, 1.0], "target_scale": [0.15, 0.25], "n_targets": 2, "min_keep": 4}}
LEARNERS = {"videomae": VIDEOMAE, "vjepa": VJEPA}


def _configs(module: torch.nn.Module) -> list[object]:
    """Every transformers config the module's submodules read their attention implementation from."""
    return [m.config for m in module.modules() if hasattr(getattr(m, "config", None), "_attn_implementation")]


def _with_attention(objective: torch.nn.Module, kind: str) -> torch.nn.Module:
    """A copy of ``objective`` (same weights, same generators) whose transformers modules use ``kind``."""
    twin = copy.deepcopy(objective)
    for config in {id(c): c for c in _configs(twin)}.values():
        config._attn_implementation = kind  # type: ignore[attr-defined]
    return twin


@pytest.mark.parametrize("name", list(LEARNERS))
def test_the_learners_are_built_with_sdpa_and_call_it(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    objective = build_objective(*blocks(LEARNERS[name], CLIP))
    configs = _configs(objective)
    assert configs and {c._attn_implementation for c in configs} == {ATTENTION} == {"sdpa"}  # type: ignore[attr-defined]
    calls = []
    real = F.scaled_dot_product_attention

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counting)
    objective.loss(moving_squares(2, CLIP["frames"], CLIP["size"], seed=1), 0)
    layers = VIDEOMAE["num_hidden_layers"] + VIDEOMAE["decoder_num_hidden_layers"] if name == "videomae" else (
        VJEPA["num_hidden_layers"] * 2 + VJEPA["pred_num_hidden_layers"])  # context + target encoder, predictor
    assert len(calls) == layers


@pytest.mark.parametrize("name", list(LEARNERS))
def test_sdpa_and_eager_attention_agree_on_the_cpu(name: str) -> None:
    torch.manual_seed(0)
    sdpa = build_objective(*blocks(LEARNERS[name], CLIP)).eval()
    eager = _with_attention(sdpa, "eager")
    assert {c._attn_implementation for c in _configs(eager)} == {"eager"}  # type: ignore[attr-defined]
    clips = moving_squares(3, CLIP["frames"], CLIP["size"], seed=2)
    with torch.no_grad():
        with _no_sdpa():  # the copy really runs the eager attention
            eager_embedding = eager.embed(clips)
        torch.testing.assert_close(sdpa.embed(clips), eager_embedding, rtol=1e-5, atol=1e-5)
        # the same mask draws (the generators were copied) and the same loss
        torch.testing.assert_close(sdpa.loss(clips, 0), eager.loss(clips, 0), rtol=1e-5, atol=1e-6)


class _no_sdpa:
    """Fails any call of scaled_dot_product_attention inside the block."""

    def __enter__(self) -> None:
        self.real = F.scaled_dot_product_attention

        def refuse(*args: object, **kwargs: object) -> torch.Tensor:
            raise AssertionError("scaled_dot_product_attention called by the eager copy")

        torch.nn.functional.scaled_dot_product_attention = refuse  # type: ignore[assignment]

    def __exit__(self, *exc: object) -> None:
        torch.nn.functional.scaled_dot_product_attention = self.real


def test_the_feature_vit_uses_sdpa_by_default(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from devcurriculum.config import RandomVitConfig
    from devcurriculum.features.extract import load_feature_model
    from devcurriculum.features.random_vit import save_random_vit

    out = save_random_vit(cfg=RandomVitConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                              intermediate_size=32), image_size=16, out_dir=tmp_path / "vit")
    assert load_feature_model(out).config._attn_implementation == "sdpa"
