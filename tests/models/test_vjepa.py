"""V-JEPA objective: masked context encoding, EMA target, training signal, depth groups, embeddings."""

from __future__ import annotations

import pytest
import torch
from model_configs import blocks, workflow_with
from safetensors.torch import load_file, save_file
from synthetic_clips import moving_squares

from devcurriculum.config import ConfigError, model_config
from devcurriculum.masks.multiblock import multiblock_masks, per_target_masks
from devcurriculum.models.objective import StepContext
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


@pytest.mark.parametrize("kind", ["seed_2frame", "multiblock3d", "future"])
@pytest.mark.parametrize("mode", ["clip", "pairs"])
def test_loss_decreases_on_moving_squares(mode: str, kind: str) -> None:
    # The context no longer sees the targets' places, so nothing is copied: the first steps only learn
    # the targets' mean, and learning shows over more steps. A faster EMA (0.99 -> 1) than the
    # reference's 0.996 lets the targets settle within a unit test's steps. Measured last/first:
    # clip 0.87 / 0.88, pairs 0.83 / 0.91 (seed_2frame / multiblock3d).
    obj = _build({**TINY, "mode": mode, "gap": 3, "ema": [0.99, 1.0], "masks": {**TINY["masks"], "kind": kind}})
    opt = torch.optim.AdamW([p for p in obj.parameters() if p.requires_grad], lr=4e-3)
    clips = moving_squares(16, CLIP["frames"], CLIP["size"], seed=1)
    losses = []
    steps = 120
    for step in range(steps):
        loss = obj.loss(clips, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        obj.after_step(step, steps)
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.93 * first, (first, last)


@pytest.mark.parametrize("kind", ["seed_2frame", "multiblock3d"])
@pytest.mark.parametrize(("mode", "frames", "slices"), [("pairs", 4, 2), ("clip", 8, 4)])
def test_the_objective_never_shows_the_context_a_target_position(
    mode: str, frames: int, slices: int, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import devcurriculum.models.vjepa as vjepa_module

    drawn = []

    def spy(*args, **kwargs):
        pairs = multiblock_masks(*args, **kwargs)
        drawn.append((args[1], pairs))
        return pairs

    monkeypatch.setattr(vjepa_module, "multiblock_masks", spy)
    obj = _build({**TINY, "mode": mode, "gap": 3, "masks": {**TINY["masks"], "kind": kind}},
                 clip={"frames": frames, "size": 16})
    clips = moving_squares(8, frames, 16, seed=9)
    for step in range(5):
        obj.loss(clips, step)
    per_slice = 4 * 4
    for grid_t, pairs in drawn:
        assert grid_t == slices
        for context, target in pairs:
            for row_c, row_t in zip(context, target, strict=True):
                assert not set((row_c % per_slice).tolist()) & set((row_t % per_slice).tolist())


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


def _context(step: int, stage_step: int, stage_steps: int) -> StepContext:
    return StepContext(step=step, total_steps=300, stage=step // 100, stage_step=stage_step, stage_steps=stage_steps,
                       pool=("g0",), effective_fraction=1.0, temperature=0.0, blur_sigma=0.0)


def test_ema_restart_follows_the_stage_block_and_run_follows_the_run() -> None:
    restart = _build({**TINY, "ema_schedule": "restart"})
    run = _build({**TINY, "ema_schedule": "run"})
    for step, stage_step in ((0, 0), (50, 50), (100, 0), (150, 50), (299, 99)):
        restart.set_step_context(_context(step, stage_step, 100))
        run.set_step_context(_context(step, stage_step, 100))
        # the seed study: linear from 0.996 to 1 over each stage's own steps
        assert restart.momentum(step, 300) == pytest.approx(0.996 + 0.004 * stage_step / 100)
        assert run.momentum(step, 300) == pytest.approx(0.996 + 0.004 * step / 300)
    with pytest.raises(RuntimeError, match="ema_schedule 'restart' needs the StepContext of step 7"):
        restart.after_step(7, 300)


@pytest.mark.parametrize(("kind", "loss"), [("seed_2frame", "l1"), ("multiblock3d", "smooth_l1"), ("multiblock3d", "l1")])
def test_loss_is_the_mean_over_mask_sets_of_the_chosen_distance(kind: str, loss: str) -> None:
    obj = _build({**TINY, "loss": loss, "masks": {**TINY["masks"], "kind": kind}})
    clips = moving_squares(3, 4, 16, seed=6)
    state = obj.mask_generator.get_state()
    with torch.no_grad():
        got = obj.loss(clips, 0)
        gen = torch.Generator()
        gen.set_state(state)
        sets = multiblock_masks(3, 2, 4, 4, obj.masks, gen)
        features = obj.target_features(clips)
        distance = torch.nn.functional.l1_loss if loss == "l1" else torch.nn.functional.smooth_l1_loss
        expected = [
            distance(obj.predict(clips, ctx, tgt), torch.gather(features, 1, tgt[..., None].expand(-1, -1, 36)))
            for ctx, tgt in sets
        ]
    assert len(sets) == (2 if kind == "multiblock3d" else 1)
    torch.testing.assert_close(got, torch.stack(expected).mean())


@pytest.mark.parametrize("pooling", ["mean", "grid"])
def test_pairs_mode_embeds_the_two_frame_input_it_trains_on(pooling: str) -> None:
    obj = _build({**TINY, "mode": "pairs", "gap": 2, "embedding": {"pooling": pooling, "grid": [2, 2, 2]}}).eval()
    clips = moving_squares(3, 4, 16, seed=7)
    with torch.no_grad():
        tokens = obj.encoder(pixel_values_videos=obj.pretext_input(clips)).last_hidden_state
        full = obj.encoder(pixel_values_videos=clips).last_hidden_state
    got = obj.embed(clips)
    assert tokens.shape[1] == 2 * 4 * 4  # two slices of 4 x 4 patches
    if pooling == "mean":
        torch.testing.assert_close(got, tokens.mean(dim=1))
        assert not torch.allclose(got, full.mean(dim=1))  # not the whole clip any more
    else:
        assert got.shape == (3, 8 * 36)
    # grid pooling of a pair: the time axis has the pair's 2 slices
    with pytest.raises(ConfigError, match=r"embedding.grid: \[4, 2, 2\] does not divide the token grid \[2, 4, 4\]"):
        workflow_with({**TINY, "mode": "pairs", "tubelet_size": 1, "embedding": {"pooling": "grid", "grid": [4, 2, 2]}},
                      {"frames": 4, "size": 16})


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


@pytest.mark.parametrize(("mode", "losses"), [("clip", (0.4351598918437958, 0.4311021864414215)),
                                              ("pairs", (0.43471041321754456, 0.43159985542297363))])
def test_default_union_predictor_keeps_its_numbers(mode: str, losses: tuple[float, float]) -> None:
    # recorded before masks.predictor existed (commit 4794128): the default must not move them
    obj = _build({**TINY, "mode": mode, "gap": 3})
    clips = moving_squares(3, 4, 16, seed=6)
    with torch.no_grad():
        got = (obj.loss(clips, 0).item(), obj.loss(clips, 1).item())
    assert got == pytest.approx(losses, rel=1e-6)


@pytest.mark.parametrize("mode", ["clip", "pairs"])
def test_per_target_loss_is_the_union_pass_run_once_per_block(mode: str) -> None:
    cfg = {**TINY, "mode": mode, "gap": 3, "masks": {**TINY["masks"], "n_targets": 3, "predictor": "per_target"}}
    obj = _build(cfg)
    clips = moving_squares(4, 4, 16, seed=6)
    state = obj.mask_generator.get_state()
    with torch.no_grad():
        got = obj.loss(clips, 0)
        gen = torch.Generator()
        gen.set_state(state)
        video = obj.pretext_input(clips)
        context, targets = per_target_masks(4, 2, 4, 4, obj.masks, gen)
        features = obj.target_features(video)
        # the union path's predict, called with one block as its whole target set, once per block
        per_block = [
            torch.nn.functional.smooth_l1_loss(obj.predict(video, context, t), torch.gather(features, 1, t[..., None].expand(-1, -1, 36)))
            for t in targets
        ]
        # ... which is not what one pass over the union of the blocks predicts
        union = torch.cat(targets, dim=1)
        joint = obj.predict(video, context, union)
        separate = torch.cat(obj.predict_per_target(video, context, targets), dim=1)
    assert len(targets) == 3
    torch.testing.assert_close(got, torch.stack(per_block).mean(), rtol=1e-6, atol=1e-7)
    assert not torch.allclose(joint, separate, atol=1e-4)


def test_per_target_blocks_of_different_sizes_run_one_pass_each() -> None:
    obj = _build({**TINY, "masks": {**TINY["masks"], "predictor": "per_target"}}).eval()
    clips = moving_squares(2, 4, 16, seed=1)
    context = torch.tensor([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
    targets = [torch.tensor([[16, 17], [20, 21]]), torch.tensor([[30], [31]]), torch.tensor([[18, 19], [22, 23]])]
    with torch.no_grad():
        got = obj.predict_per_target(clips, context, targets)
        alone = [obj.predict(clips, context, t) for t in targets]
    assert [g.shape for g in got] == [(2, 2, 36), (2, 1, 36), (2, 2, 36)]
    for a, b in zip(got, alone, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
