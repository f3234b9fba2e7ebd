"""VideoMAE objective: training signal, depth groups, embeddings, masks from a per-rank generator."""

from __future__ import annotations

import pytest
import torch
from model_configs import blocks, workflow_with
from safetensors.torch import load_file, save_file
from synthetic_clips import moving_squares
from transformers.utils.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from devcurriculum.config import ConfigError, model_config
from devcurriculum.models.registry import build_objective
from devcurriculum.models.videomae import VideoMAEObjective, to_imagenet_normalisation

CLIP = {"frames": 4, "size": 16}
TINY = {
    "objective": "videomae",
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "patch_size": 4,
    "tubelet_size": 2,
    "decoder_hidden_size": 32,
    "decoder_num_hidden_layers": 1,
    "decoder_num_attention_heads": 2,
    "decoder_intermediate_size": 64,
    "mask_ratio": 0.75,
    "norm_pix_loss": True,
}


def _build(cfg: dict | None = None, seed: int = 0) -> VideoMAEObjective:
    torch.manual_seed(seed)
    obj = build_objective(*blocks(cfg or TINY, CLIP))
    assert isinstance(obj, VideoMAEObjective)
    return obj


def test_loss_decreases_on_moving_squares() -> None:
    # Raw-pixel targets: with norm_pix_loss the per-patch normalised targets need far more than the
    # few seconds of steps a unit test can afford to move measurably.
    obj = _build({**TINY, "norm_pix_loss": False})
    opt = torch.optim.AdamW(obj.parameters(), lr=2e-3)
    clips = moving_squares(16, CLIP["frames"], CLIP["size"], seed=1)
    losses = []
    for step in range(40):
        loss = obj.loss(clips, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.5 * first, (first, last)


def test_depth_groups_cover_every_trainable_parameter_once() -> None:
    obj = _build()
    groups = obj.depth_groups()
    assert len(groups) == 1 + TINY["num_hidden_layers"] + 1
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in obj.parameters() if p.requires_grad}
    assert {id(p) for p in groups[0]} == {id(p) for p in obj.model.videomae.embeddings.parameters()}
    assert id(obj.model.mask_token) in {id(p) for p in groups[-1]}


def test_embed_shape_determinism_and_no_mask_draw() -> None:
    obj = _build().eval()
    clips = moving_squares(3, CLIP["frames"], CLIP["size"], seed=2)
    state = obj.mask_generator.get_state()
    a, b = obj.embed(clips), obj.embed(clips)
    assert a.shape == (3, TINY["hidden_size"]) and not a.requires_grad
    assert torch.equal(a, b)
    assert torch.equal(obj.mask_generator.get_state(), state)
    # Mean over all tokens of the last encoder layer.
    with torch.no_grad():
        hidden = obj.model.videomae(pixel_values=to_imagenet_normalisation(clips)).last_hidden_state
    assert hidden.shape[1] == obj.num_tokens == 2 * 4 * 4
    torch.testing.assert_close(a, hidden.mean(1))


def test_masks_resume_exactly_from_the_generator_state() -> None:
    obj = _build()
    clips = moving_squares(4, CLIP["frames"], CLIP["size"], seed=3)
    state = obj.mask_rng_state()
    mask = obj.draw_mask(4)
    assert mask.sum(1).eq(int(0.75 * 16) * 2).all()
    obj.set_mask_rng_state(state)
    assert torch.equal(obj.draw_mask(4), mask)
    obj.set_mask_rng_state(state)
    with torch.no_grad():
        first = obj.loss(clips, 0)
    obj.set_mask_rng_state(state)
    with torch.no_grad():
        again = obj.loss(clips, 0)
    assert torch.equal(first, again)


def test_ranks_draw_different_masks_from_the_same_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    masks = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("LOCAL_RANK", str(rank))
        masks.append(_build(seed=0).draw_mask(8))
    monkeypatch.setenv("RANK", "0")
    assert not torch.equal(masks[0], masks[1])
    assert torch.equal(_build(seed=0).draw_mask(8), masks[0])


def test_same_seed_same_weights_and_safetensors_round_trip(tmp_path) -> None:
    obj = _build(seed=5)
    path = tmp_path / "model.safetensors"
    save_file(obj.state_dict(), str(path))  # raises if any tensors share memory
    other = _build(seed=6)
    other.load_state_dict(load_file(str(path)), strict=True)
    clips = moving_squares(2, CLIP["frames"], CLIP["size"], seed=4)
    torch.testing.assert_close(other.eval().embed(clips), obj.eval().embed(clips))
    twin = _build(seed=5)
    assert all(torch.equal(a, b) for a, b in zip(obj.state_dict().values(), twin.state_dict().values()))


def test_pixels_reach_the_model_in_imagenet_normalisation() -> None:
    # The HF loss undoes ImageNet normalisation to get its targets: that must give our [0, 1] pixels.
    pixels = torch.rand(2, 4, 3, 8, 8)
    ours = (pixels - 0.5) / 0.25
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN)[None, None, :, None, None]
    std = torch.tensor(IMAGENET_DEFAULT_STD)[None, None, :, None, None]
    torch.testing.assert_close(to_imagenet_normalisation(ours) * std + mean, pixels)


def test_config_errors_name_the_key() -> None:
    # The blocks and the whole-config checks reject what the objective cannot build, naming the key.
    with pytest.raises(ConfigError, match=r"^models\.m\.hiden_size: unknown key"):
        model_config({**TINY, "hiden_size": 8}, where="models.m")
    with pytest.raises(ConfigError, match=r"^models\.m\.patch_size: 5 does not divide data\.clip\.size=16"):
        workflow_with({**TINY, "patch_size": 5}, CLIP)
    with pytest.raises(ConfigError, match=r"^models\.m\.decoder_hidden_size: 32 is not divisible by decoder_num_attention_heads=3"):
        workflow_with({**TINY, "decoder_num_attention_heads": 3}, CLIP)
    with pytest.raises(ConfigError, match=r"^models\.m\.mask_ratio"):
        model_config({**TINY, "mask_ratio": 1.0}, where="models.m")
    with pytest.raises(ConfigError, match=r"^models\.m\.objective: must be one of"):
        model_config({"objective": "mae"}, where="models.m")
    with pytest.raises(ValueError, match=r"videomae expects batches \(B, 4, 3, 16, 16\)"):
        _build().loss(torch.zeros(2, 4, 3, 32, 32), 0)


def test_random_masks_are_per_token_with_the_same_ratio() -> None:
    tube = _build({**TINY, "mask_ratio": 0.5})
    rand = _build({**TINY, "mask_ratio": 0.5, "mask_type": "random"})
    t, g = tube.temporal_slices, tube.grid * tube.grid
    tube_masks = tube.draw_mask(16).view(16, t, g)
    assert (tube_masks == tube_masks[:, :1]).all(), "a tube repeats its spatial mask in every slice"
    rand_masks = rand.draw_mask(16)
    assert rand_masks.shape == (16, t * g) and (rand_masks.sum(dim=1) == int(0.5 * t * g)).all()
    assert not (rand_masks.view(16, t, g) == rand_masks.view(16, t, g)[:, :1]).all()


def test_grid_pooling_keeps_where_and_when() -> None:
    obj = _build({**TINY, "embedding": {"pooling": "grid", "grid": [2, 2, 2]}})
    t, g, d = obj.temporal_slices, obj.grid, TINY["hidden_size"]  # 2 x 4 x 4 tokens
    hidden = torch.zeros(1, t * g * g, d)
    hidden.view(1, t, g, g, d)[0, 1, 0, 3, :] = 8.0  # one token: late slice, top row, right column
    pooled = obj.pool_tokens(hidden).view(2, 2, 2, d)  # cells (time, height, width)
    # the token lands in the cell (late, top, right), averaged over that cell's 1 x 2 x 2 tokens
    assert pooled[1, 0, 1].unique().tolist() == [2.0]
    assert pooled.sum() == 2.0 * d
    clips = moving_squares(2, CLIP["frames"], CLIP["size"], seed=0)
    assert obj.embed(clips).shape == (2, 8 * d)
    mean = _build(TINY)
    assert mean.embed(clips).shape == (2, d)


def test_a_grid_that_does_not_divide_the_tokens_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^models\.m\.embedding\.grid: \[3, 2, 2\] does not divide the token grid"):
        workflow_with({**TINY, "embedding": {"pooling": "grid", "grid": [3, 2, 2]}}, CLIP)


def test_fc_norm_pooling_is_the_seed_study_read_out() -> None:
    # The seed study embeds through VideoMAEForVideoClassification(num_labels=0): the encoder's token mean
    # through its freshly initialised fc_norm. Same encoder weights -> the same embedding.
    from transformers import VideoMAEForVideoClassification

    obj = _build({**TINY, "embedding": {"pooling": "fc_norm"}}).eval()
    classifier = VideoMAEForVideoClassification(obj.model.config.__class__(**{**obj.model.config.to_dict(),
                                                                               "num_labels": 0})).eval()
    classifier.videomae.embeddings.load_state_dict(obj.model.videomae.embeddings.state_dict())
    classifier.videomae.encoder.load_state_dict(obj.model.videomae.encoder.state_dict())
    clips = moving_squares(3, 4, 16, seed=8)
    with torch.no_grad():
        reference = classifier(pixel_values=to_imagenet_normalisation(clips)).logits
    got = obj.embed(clips)
    assert got.shape == (3, TINY["hidden_size"])
    torch.testing.assert_close(got, reference, rtol=1e-5, atol=1e-5)
    # the LayerNorm of the mean, not the mean itself
    mean = _build({**TINY, "embedding": {"pooling": "mean"}}).eval().embed(clips)
    torch.testing.assert_close(got, torch.nn.functional.layer_norm(mean, (TINY["hidden_size"],)), rtol=1e-5, atol=1e-5)
