"""models.<name>.init_from: tiny saved transformers / torchvision / devcurriculum models loaded strictly."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from devcurriculum.config import ClipConfig, ConfigError, InitFromConfig, WorkflowConfig, model_config
from devcurriculum.models.registry import build_objective
from devcurriculum.train.init import save_initial_model
from devcurriculum.train.init_from import InitFromError, inflate_patch_embedding, load_init_from

CLIP = ClipConfig(frames=4, size=16)
VIDEOMAE = model_config({
    "objective": "videomae", "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
    "intermediate_size": 32, "patch_size": 8, "tubelet_size": 2, "decoder_hidden_size": 16,
    "decoder_num_hidden_layers": 1, "decoder_num_attention_heads": 2, "decoder_intermediate_size": 32,
})
VJEPA = model_config({
    "objective": "vjepa", "hidden_size": 12, "num_hidden_layers": 1, "num_attention_heads": 2, "patch_size": 8,
    "pred_hidden_size": 12, "pred_num_hidden_layers": 1, "pred_num_attention_heads": 2,
})
SIMCLR = model_config({"objective": "simclr", "backbone": "resnet10", "proj_hidden": 16, "proj_dim": 8})
ENCODER_ONLY = ["model.decoder.*", "model.encoder_to_decoder.*", "model.mask_token"]


def learner(model=VIDEOMAE, seed: int = 1):
    torch.manual_seed(seed)
    return build_objective(model, CLIP)


def videomae_folder(tmp_path: Path, *, encoder_only: bool, **changes) -> tuple[Path, dict[str, torch.Tensor]]:
    """A tiny transformers VideoMAE folder (save_pretrained) of other random weights."""
    from transformers import VideoMAEForPreTraining, VideoMAEModel

    from devcurriculum.models.videomae import videomae_config

    torch.manual_seed(123)
    config = videomae_config(VIDEOMAE, CLIP)
    for key, value in changes.items():
        setattr(config, key, value)
    network = VideoMAEModel(config) if encoder_only else VideoMAEForPreTraining(config)
    folder = tmp_path / ("videomae-encoder" if encoder_only else "videomae-pretraining")
    network.save_pretrained(folder)
    return folder, network.state_dict()


def test_a_videomae_pretraining_folder_matches_every_key(tmp_path: Path, caplog) -> None:
    folder, source = videomae_folder(tmp_path, encoder_only=False)
    objective = learner()
    with caplog.at_level(logging.INFO, logger="devcurriculum.train.init_from"):
        report = load_init_from(objective, InitFromConfig(path=str(folder)))
    assert report.missing == [] and report.mis_shaped == [] and report.unexpected == []
    assert len(report.matched) == len(objective.state_dict()) == len(source)
    state = objective.state_dict()
    assert all(torch.equal(state[f"model.{k}"], v) for k, v in source.items())
    assert "init_from" in caplog.text and "matched" in caplog.text and "model.videomae.encoder.layer.*" in caplog.text


def test_an_encoder_only_folder_is_refused_until_the_decoder_may_stay_random(tmp_path: Path) -> None:
    folder, source = videomae_folder(tmp_path, encoder_only=True)
    with pytest.raises(InitFromError, match=r"models\.mae\.init_from: \d+ key\(s\) the videomae learner needs are missing.*"
                                            r"allow_missing: \[model\.decoder\.\*, model\.encoder_to_decoder\.\*, "
                                            r"model\.mask_token\]"):
        load_init_from(learner(), InitFromConfig(path=str(folder)), where="models.mae.init_from")
    random_init = learner().state_dict()
    objective = learner()
    report = load_init_from(objective, InitFromConfig(path=str(folder), allow_missing=tuple(ENCODER_ONLY)))
    state = objective.state_dict()
    assert all(torch.equal(state[f"model.videomae.{k}"], v) for k, v in source.items())
    assert report.missing and all(k.startswith(("model.decoder.", "model.encoder_to_decoder.", "model.mask_token"))
                                  for k in report.missing)
    assert all(torch.equal(state[k], random_init[k]) for k in report.missing)  # kept at the learner's own init
    assert load_init_from(learner(), InitFromConfig(path=str(folder), allow_missing=True)).missing == report.missing


def test_a_mis_shaped_key_is_refused_and_named(tmp_path: Path) -> None:
    folder, _ = videomae_folder(tmp_path, encoder_only=False, intermediate_size=48)
    with pytest.raises(InitFromError, match=r"intermediate\.dense\.weight"):
        load_init_from(learner(), InitFromConfig(path=str(folder)))


def test_nothing_that_fits_is_an_error_not_a_random_model(tmp_path: Path) -> None:
    save_file({"unrelated.weight": torch.zeros(3)}, str(tmp_path / "w.safetensors"))
    with pytest.raises(InitFromError, match=r"no tensor of .*w\.safetensors .* fits the videomae learner"):
        load_init_from(learner(), InitFromConfig(path=str(tmp_path / "w.safetensors")))


def test_pickled_weights_are_refused(tmp_path: Path) -> None:
    torch.save({"a": torch.zeros(1)}, tmp_path / "w.pt")
    with pytest.raises(InitFromError, match=r"w\.pt: pickled weights are not loaded"):
        load_init_from(learner(), InitFromConfig(path=str(tmp_path / "w.pt")))


def test_a_vjepa2_folder_fills_the_ema_target_from_the_encoder(tmp_path: Path) -> None:
    from transformers import VJEPA2Model

    from devcurriculum.models.vjepa import vjepa2_config

    torch.manual_seed(7)
    network = VJEPA2Model(vjepa2_config(VJEPA, CLIP))
    network.save_pretrained(tmp_path / "vjepa2")
    objective = learner(VJEPA)
    report = load_init_from(objective, InitFromConfig(path=str(tmp_path / "vjepa2")))
    assert report.missing == [] and report.derived and all(k.startswith("target_encoder.") for k in report.derived)
    state = objective.state_dict()
    for key, value in network.encoder.state_dict().items():
        assert torch.equal(state[f"encoder.{key}"], value) and torch.equal(state[f"target_encoder.{key}"], value)


def test_a_dinov2_image_model_is_inflated_into_videomae(tmp_path: Path) -> None:
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(3)
    dino = Dinov2Model(Dinov2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                                    patch_size=8, image_size=16, layerscale_value=0.5))
    dino.save_pretrained(tmp_path / "dino")
    objective = learner()
    report = load_init_from(objective, InitFromConfig(path=str(tmp_path / "dino"), allow_missing=tuple(ENCODER_ONLY)))
    assert report.kind == "image ViT (dinov2) inflated to video"
    assert {"embeddings.cls_token", "embeddings.position_embeddings"} <= set(report.unexpected)
    state, source = objective.state_dict(), dino.state_dict()
    patch = state["model.videomae.embeddings.patch_embeddings.projection.weight"]
    assert patch.shape == (16, 3, 2, 8, 8)
    torch.testing.assert_close(patch.sum(dim=2), source["embeddings.patch_embeddings.projection.weight"])
    # layer scale folded into the projection it scales
    lam = source["encoder.layer.1.layer_scale1.lambda1"]
    torch.testing.assert_close(state["model.videomae.encoder.layer.1.attention.output.dense.weight"],
                               source["encoder.layer.1.attention.o_proj.weight"] * lam[:, None])
    # a still clip: every tubelet's token is the image's patch response
    frame = torch.rand(1, 3, 16, 16)
    clip = frame[:, :, None].repeat(1, 1, 2, 1, 1)
    three_d = torch.nn.functional.conv3d(clip, patch, stride=(2, 8, 8))
    two_d = torch.nn.functional.conv2d(frame, source["embeddings.patch_embeddings.projection.weight"], stride=8)
    torch.testing.assert_close(three_d[:, :, 0], two_d)


def test_inflation_divides_over_the_tubelet() -> None:
    weight = torch.arange(12.0).view(1, 3, 2, 2)
    inflated = inflate_patch_embedding(weight, 4)
    assert inflated.shape == (1, 3, 4, 2, 2) and torch.equal(inflated[:, :, 2], weight / 4)


def test_a_torchvision_resnet_state_dict_starts_simclr(tmp_path: Path) -> None:
    from devcurriculum.models.simclr import build_backbone

    torch.manual_seed(5)
    net, _ = build_backbone("resnet10", "imagenet")
    state = {**net.state_dict(), "fc.weight": torch.zeros(10, 512), "fc.bias": torch.zeros(10)}
    save_file(state, str(tmp_path / "resnet.safetensors"))
    with pytest.raises(InitFromError, match=r"allow_missing: \[projection\.\*\]"):
        load_init_from(learner(SIMCLR), InitFromConfig(path=str(tmp_path / "resnet.safetensors")))
    objective = learner(SIMCLR)
    report = load_init_from(objective, InitFromConfig(path=str(tmp_path / "resnet.safetensors"),
                                                      allow_missing=("projection.*",)))
    assert report.unexpected == ["fc.bias", "fc.weight"]
    loaded = objective.state_dict()
    assert all(torch.equal(loaded[f"backbone.{k}"], v) for k, v in net.state_dict().items())


def test_another_run_folder_and_the_init_model_header(tmp_path: Path) -> None:
    earlier = tmp_path / "runs" / "videomae" / "mixed" / "seed0"
    save_initial_model(model=VIDEOMAE, clip=CLIP, seed=9, out_path=earlier / "model.safetensors")
    (earlier / "run_spec.json").write_text(json.dumps({"spec": {}}))
    model = model_config({**VIDEOMAE.to_dict(), "init_from": str(earlier)})
    out = tmp_path / "init" / "model.safetensors"
    save_initial_model(model=model, clip=CLIP, seed=0, out_path=out)
    from devcurriculum.utils.safe_load import safetensors_metadata

    header = safetensors_metadata(out)
    assert header["init_from"] == str(earlier) and header["init_from_kind"] == "devcurriculum run"
    mine, theirs = load_file(str(out)), load_file(str(earlier / "model.safetensors"))
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)


def test_the_config_takes_a_path_or_a_block_and_checks_it_exists(tmp_path: Path) -> None:
    base = {"runs": [], "models": {"mae": {**VIDEOMAE.to_dict(), "init_from": str(tmp_path / "absent")}}}
    with pytest.raises(ConfigError, match=r"models\.mae\.init_from\.path: .*absent does not exist"):
        WorkflowConfig.from_mapping(base)
    block = {**VIDEOMAE.to_dict(), "init_from": {"path": str(tmp_path), "allow_missing": ["model.decoder.*"]}}
    model = model_config(block)
    assert model.init_source == InitFromConfig(path=str(tmp_path), allow_missing=("model.decoder.*",))
    assert model.network()["init_from"] == {"path": str(tmp_path), "allow_missing": ["model.decoder.*"]}
    assert "init_from" not in VIDEOMAE.network()  # configs without it keep their params and runs
    with pytest.raises(ConfigError, match=r"init_from\.pth: unknown key \(did you mean 'path'\?\)"):
        model_config({**VIDEOMAE.to_dict(), "init_from": {"pth": "x"}}, where="models.mae")
