"""V-JEPA objective: masked context encoding, EMA target, training signal, depth groups, embeddings."""

from __future__ import annotations

import pytest
import torch
from model_configs import blocks, workflow_with
from safetensors.torch import load_file, save_file
from synthetic_clips import moving_squares

from devcurriculum.config import ConfigError, model_config
from devcurriculum.models.registry import build_objective
from devcurriculum.models.vjepa import VJEPAObjective, ema_momentum

CLIP = {"frames": 4, "size": 16}
TINY = {
    "objective": "vjepa",
    "hidden_size": 36,
    "num_hidden_layers": 2,
    "num_attention_heads": 3,
    "mlp_ratio": 2.0,
    "patch_size": 4,
    "tubelet_size": 2,
    "pred_hidden_size": 24,
    "pred_num_hidden_layers": 1,
    "pred_num_attention_heads": 2,
    "ema": [0.996, 1.0],
    "masks": {"context_scale": [0.85, 1.0], "target_scale": [0.15, 0.25], "n_targets": 2, "min_keep": 4},
}


def _build(cfg: dict | None = None, seed: int = 0, clip: dict | None = None) -> VJEPAObjective:
    torch.manual_seed(seed)
    obj = build_objective(*blocks(cfg or TINY, clip or CLIP))
    assert isinstance(obj, VJEPAObjective)
    return obj


@pytest.mark.parametrize("mode", ["clip", "pairs"])
def test_loss_decreases_on_moving_squares(mode: str) -> None:
    # A faster EMA (0.9 -> 1) than the reference's 0.996 lets the targets settle within a unit test's steps.
    obj = _build({**TINY, "mode": mode, "gap": 3, "ema": [0.9, 1.0]})
    opt = torch.optim.AdamW([p for p in obj.parameters() if p.requires_grad], lr=2e-3)
    clips = moving_squares(16, CLIP["frames"], CLIP["size"], seed=1)
    losses = []
    steps = 60
    for step in range(steps):
        loss = obj.loss(clips, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        obj.after_step(step, steps)
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.85 * first, (first, last)


def test_ema_momentum_schedule() -> None:
    assert ema_momentum(0, 100, (0.996, 1.0)) == pytest.approx(0.996)
    assert ema_momentum(50, 100, (0.996, 1.0)) == pytest.approx(0.998)
    assert ema_momentum(100, 100, (0.996, 1.0)) == pytest.approx(1.0)
    assert ema_momentum(500, 100, (0.996, 1.0)) == pytest.approx(1.0)


def test_target_encoder_gets_no_gradient_and_moves_by_the_momentum_rule() -> None:
    obj = _build()
    assert all(not p.requires_grad for p in obj.target_encoder.parameters())
    # A fresh target is a copy of the context encoder.
    assert all(torch.equal(a, b) for a, b in zip(obj.target_encoder.parameters(), obj.encoder.parameters()))
    opt = torch.optim.SGD([p for p in obj.parameters() if p.requires_grad], lr=0.5)
    loss = obj.loss(moving_squares(4, 4, 16, seed=2), 0)
    loss.backward()
    assert all(p.grad is None for p in obj.target_encoder.parameters())
    assert all(p.grad is not None for p in obj.parameters() if p.requires_grad)
    opt.step()
    before = [p.clone() for p in obj.target_encoder.parameters()]
    online = [p.clone() for p in obj.encoder.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(before, online))
    obj.after_step(25, 100)
    m = 0.996 + 0.004 * 25 / 100
    for new, old, cur in zip(obj.target_encoder.parameters(), before, online):
        torch.testing.assert_close(new, m * old + (1 - m) * cur)


def test_masked_context_path_matches_the_hf_encoder_on_all_tokens() -> None:
    # With every token as context, our masked encoder path must equal VJEPA2Encoder.forward.
    obj = _build().eval()
    clips = moving_squares(2, 4, 16, seed=3)
    every = torch.arange(2 * 4 * 4).expand(2, -1)
    with torch.no_grad():
        ours = obj.encode_context(clips, every)
        ref = obj.encoder(pixel_values_videos=clips).last_hidden_state
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    # And a subset keeps each token's position: permuting the input order does not matter.
    subset = torch.tensor([[0, 5, 17, 30]] * 2)
    with torch.no_grad():
        a = obj.encode_context(clips, subset)
        b = obj.encode_context(clips, subset.flip(1)).flip(1)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_pairs_mode_input_is_frame_zero_and_the_gap_frame() -> None:
    obj = _build({**TINY, "mode": "pairs", "gap": 2})
    clips = torch.arange(4.0)[None, :, None, None, None].expand(3, 4, 3, 16, 16)
    video = obj.pretext_input(clips)
    assert video.shape == (3, 4, 3, 16, 16)  # two frames x tubelet 2
    assert video[:, :2].eq(0).all() and video[:, 2:].eq(2).all()
    far = _build({**TINY, "mode": "pairs", "gap": 99}).pretext_input(clips)
    assert far[:, 2:].eq(3).all()  # the gap is clamped to the clip's last frame


def test_depth_groups_cover_every_trainable_parameter_once() -> None:
    obj = _build()
    groups = obj.depth_groups()
    assert len(groups) == 1 + TINY["num_hidden_layers"] + 1
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in obj.parameters() if p.requires_grad}
    assert not set(ids) & {id(p) for p in obj.target_encoder.parameters()}


def test_embed_shape_and_determinism() -> None:
    obj = _build().eval()
    clips = moving_squares(3, 4, 16, seed=4)
    state = obj.mask_generator.get_state()
    a, b = obj.embed(clips), obj.embed(clips)
    assert a.shape == (3, TINY["hidden_size"]) and torch.equal(a, b) and not a.requires_grad
    assert torch.equal(obj.mask_generator.get_state(), state)


def test_resume_state_reproduces_the_loss(tmp_path) -> None:
    obj = _build()
    clips = moving_squares(4, 4, 16, seed=5)
    path = tmp_path / "model.safetensors"
    save_file(obj.state_dict(), str(path))  # the EMA target is a separate copy: no shared tensors
    rng = obj.mask_rng_state()
    with torch.no_grad():
        first = obj.loss(clips, 0)
    other = _build(seed=9)
    other.load_state_dict(load_file(str(path)), strict=True)
    other.set_mask_rng_state(rng)
    with torch.no_grad():
        assert torch.equal(other.loss(clips, 0), first)


def test_config_errors_name_the_key() -> None:
    # The blocks and the whole-config checks reject what the objective cannot build, naming the key.
    with pytest.raises(ConfigError, match=r"^models\.m\.mode: 'frames' is not one of"):
        model_config({**TINY, "mode": "frames"}, where="models.m")
    with pytest.raises(ConfigError, match=r"\.ema: must be \[start, end\]"):
        model_config({**TINY, "ema": [1.0, 0.9]}, where="models.m")
    with pytest.raises(ConfigError, match=r"^models\.m\.masks\.n_targets"):
        model_config({**TINY, "masks": {"n_targets": 0}}, where="models.m")
    with pytest.raises(ConfigError, match=r"^models\.m\.mode: 'clip' needs at least 2 temporal slices"):
        workflow_with(TINY, {"frames": 2, "size": 16})
    with pytest.raises(ConfigError, match=r"^models\.m\.mode: 'pairs' needs clips of at least 2 frames"):
        workflow_with({**TINY, "mode": "pairs", "tubelet_size": 1}, {"frames": 1, "size": 16})
    with pytest.raises(ConfigError, match=r"^models\.m\.hidden_size: head width 12/4 must be at least 6"):
        workflow_with({**TINY, "hidden_size": 12, "num_attention_heads": 4}, CLIP)
    with pytest.raises(ValueError, match=r"vjepa expects batches \(B, 4, 3, 16, 16\)"):
        _build().loss(torch.zeros(2, 2, 3, 16, 16), 0)
