"""SimCLR objective: frame pairs at a gap, tensor augmentations, training signal, depth groups, embeddings."""

from __future__ import annotations

import pytest
import torch
from model_configs import blocks
from synthetic_clips import moving_squares

from devcurriculum.config import ConfigError, SimCLRAugmentConfig, model_config
from devcurriculum.models.objective import StepContext
from devcurriculum.models.registry import build_objective
from devcurriculum.models.simclr import SimCLRObjective, augment_frames

CLIP = {"frames": 4, "size": 16}
BASE = {"objective": "simclr", "proj_hidden": 64, "proj_dim": 32, "temperature": 0.2, "gap": 2}
NO_AUGMENT = {"crop_scale": [1.0, 1.0], "flip": False, "jitter": 0.0}


def _at_stage(stage: int) -> StepContext:
    return StepContext(step=0, total_steps=1, stage=stage, stage_step=0, stage_steps=1, pool=("g0",),
                       effective_fraction=1.0, temperature=0.0,
                       blur_sigma=0.0)


def _build(cfg: dict | None = None, seed: int = 0) -> SimCLRObjective:
    torch.manual_seed(seed)
    obj = build_objective(*blocks(cfg or BASE, CLIP))
    assert isinstance(obj, SimCLRObjective)
    return obj


def test_loss_decreases_on_moving_squares() -> None:
    # Milder augmentations than the defaults so a unit test's few steps show a clear drop.
    obj = _build({**BASE, "augment": {"crop_scale": [0.6, 1.0], "jitter": 0.2}})
    opt = torch.optim.AdamW(obj.parameters(), lr=1e-3)
    clips = moving_squares(12, CLIP["frames"], CLIP["size"], seed=1)
    losses = []
    for step in range(20):
        loss = obj.loss(clips, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.6 * first, (first, last)


def test_views_are_frames_gap_apart() -> None:
    obj = _build({**BASE, "gap": 2, "augment": NO_AUGMENT})
    # Frame t of every clip is the constant t: a view's value tells which frame it came from.
    clips = torch.arange(4.0)[None, :, None, None, None].expand(16, 4, 3, 16, 16).contiguous()
    v1, v2 = obj.views(clips)
    torch.testing.assert_close(v2 - v1, torch.full_like(v1, 2.0))
    starts = v1[:, 0, 0, 0]
    assert set(starts.round().tolist()) <= {0.0, 1.0} and len(set(starts.round().tolist())) == 2
    # A gap beyond the clip is clamped to T - 1: always frames 0 and 3.
    far = _build({**BASE, "gap": 50, "augment": NO_AUGMENT})
    w1, w2 = far.views(clips)
    assert w1.round().eq(0).all() and w2.round().eq(3).all()


def test_gap_schedule_follows_the_stage() -> None:
    obj = _build({**BASE, "gap_schedule": [3, 2, 1]})
    assert obj.gap == 3
    obj.set_step_context(_at_stage(1))
    assert obj.gap == 2
    obj.set_step_context(_at_stage(7))
    assert obj.gap == 1
    plain = _build()
    plain.set_step_context(_at_stage(2))
    assert plain.gap == BASE["gap"]


def test_gap_zero_pairs_two_views_of_one_frame() -> None:
    # The schema allows gap 0 (in gap and gap_schedule): plain SimCLR on single frames.
    obj = _build({**BASE, "gap": 0, "augment": NO_AUGMENT})
    clips = torch.arange(4.0)[None, :, None, None, None].expand(16, 4, 3, 16, 16).contiguous()
    v1, v2 = obj.views(clips)
    torch.testing.assert_close(v1, v2)
    assert len(set(v1[:, 0, 0, 0].round().tolist())) > 1  # the frame itself is still drawn per clip
    staged = _build({**BASE, "gap_schedule": [2, 0]})
    staged.set_step_context(_at_stage(1))
    assert staged.gap == 0


def test_an_empty_gap_schedule_is_no_schedule() -> None:
    obj = _build({**BASE, "gap_schedule": []})
    assert obj.gap == BASE["gap"]
    obj.set_step_context(_at_stage(3))
    assert obj.gap == BASE["gap"]


def test_augmentations_reproducible_and_in_range() -> None:
    frames = moving_squares(6, 1, 16, seed=2)[:, 0]
    cfg = SimCLRAugmentConfig(crop_scale=(0.3, 1.0), flip=True, jitter=0.4, jitter_prob=1.0)
    gen = torch.Generator().manual_seed(3)
    state = gen.get_state()
    a = augment_frames(frames, cfg, gen)
    gen.set_state(state)
    b = augment_frames(frames, cfg, gen)
    assert torch.equal(a, b) and a.shape == frames.shape
    # Jittered pixels stay inside [0, 1] before normalisation.
    assert a.min() >= -2.0 - 1e-6 and a.max() <= 2.0 + 1e-6
    assert not torch.allclose(a, frames)
    identity = SimCLRAugmentConfig(crop_scale=(1.0, 1.0), flip=False, jitter=0.0, jitter_prob=0.0)
    torch.testing.assert_close(augment_frames(frames, identity, gen), frames, rtol=1e-5, atol=1e-5)


def test_depth_groups_cover_every_trainable_parameter_once() -> None:
    obj = _build()
    groups = obj.depth_groups()
    assert len(groups) == 1 + 8 + 1  # stem, layer1.0 ... layer4.1, projection head
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in obj.parameters() if p.requires_grad}
    net = obj.backbone
    assert {id(p) for p in groups[0]} == {id(p) for p in [*net.conv1.parameters(), *net.bn1.parameters()]}
    assert {id(p) for p in groups[1]} == {id(p) for p in net.layer1[0].parameters()}
    assert {id(p) for p in groups[8]} == {id(p) for p in net.layer4[1].parameters()}
    assert {id(p) for p in groups[-1]} == {id(p) for p in obj.projection.parameters()}


def test_embed_is_the_last_frame_backbone_feature() -> None:
    obj = _build()
    clips = moving_squares(3, 4, 16, seed=4)
    a = obj.embed(clips)
    assert a.shape == (3, 512) and not a.requires_grad
    assert obj.training and obj.backbone.training  # embed restores the mode it found
    changed = clips.clone()
    changed[:, :-1] = 0.0  # only the last frame matters
    torch.testing.assert_close(obj.embed(changed), a)
    # Per-clip: BatchNorm uses running statistics, so a clip's embedding does not depend on its batch.
    torch.testing.assert_close(obj.embed(clips[:1]), a[:1], rtol=1e-5, atol=1e-5)


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^models\.m\.backbone: 'vgg11' is not one of"):
        model_config({**BASE, "backbone": "vgg11"}, where="models.m")
    with pytest.raises(ConfigError, match=r"^models\.m\.temperature"):
        model_config({**BASE, "temperature": 0}, where="models.m")
    with pytest.raises(ConfigError, match=r"augment\.crop_scale"):
        model_config({**BASE, "augment": {"crop_scale": [0.5, 1.5]}}, where="models.m")
    with pytest.raises(ConfigError, match=r"^models\.m\.gap_schedule\[1\]"):
        model_config({**BASE, "gap_schedule": [2, -1]}, where="models.m")
    with pytest.raises(ValueError, match=r"simclr expects batches \(B, 4, 3, 16, 16\)"):
        _build().loss(torch.zeros(2, 4, 3, 8, 8), 0)


def test_grayscale_views_have_equal_channels_and_off_draws_nothing() -> None:
    frames = moving_squares(6, 2, 16, seed=3)[:, 0]
    gen = torch.Generator().manual_seed(0)
    grey = augment_frames(frames, SimCLRAugmentConfig(grayscale_prob=1.0, jitter=0.0), gen)
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    # grayscale_prob 0 leaves the random stream of a config without it untouched
    a, b = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    augment_frames(frames, SimCLRAugmentConfig(), a)
    augment_frames(frames, SimCLRAugmentConfig(grayscale_prob=0.0), b)
    assert torch.equal(a.get_state(), b.get_state())


def test_resnet10_has_one_block_per_stage_and_loads_from_its_export(tmp_path) -> None:
    import safetensors.torch
    import torchvision

    obj = _build({**BASE, "backbone": "resnet10"})
    assert [len(layer) for layer in (obj.backbone.layer1, obj.backbone.layer2, obj.backbone.layer3,
                                     obj.backbone.layer4)] == [1, 1, 1, 1]
    assert len(obj.depth_groups()) == 1 + 4 + 1
    obj.export_encoder(tmp_path)
    readme = (tmp_path / "README.md").read_text()
    assert "torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1])" in readme
    net = torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1])
    net.fc = torch.nn.Identity()
    net.load_state_dict(safetensors.torch.load_file(str(tmp_path / "backbone.safetensors")))
