"""The vit-random extractor: deterministic random weights, atomic save, offline reload, honest README."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, ViTModel

from devcurriculum.config import ConfigError, RandomVitConfig, WorkflowConfig
from devcurriculum.features.random_vit import build_random_vit, save_random_vit

TINY = RandomVitConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, patch_size=4, seed=3)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_saved_model_reloads_offline_with_identical_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = save_random_vit(cfg=TINY, image_size=8, out_dir=tmp_path / "models" / "vit-random")
    assert {"config.json", "model.safetensors", "README.md"} <= {p.name for p in out.iterdir()}
    loaded = AutoModel.from_pretrained(out, local_files_only=True)
    assert isinstance(loaded, ViTModel)
    assert loaded.config.image_size == 8 and loaded.config.hidden_size == 16 and loaded.config.patch_size == 4
    assert _same_weights(loaded, build_random_vit(cfg=TINY, image_size=8))
    readme = (out / "README.md").read_text()
    assert "randomly initialised" in readme and "NOT DINO" in readme and "seed 3" in readme
    # nothing but the model directory is left next to it (temp dirs renamed or removed)
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["vit-random"]


def test_seed_fixes_weights_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = build_random_vit(cfg=TINY, image_size=8)
    assert torch.equal(torch.rand(3), expected)  # the global stream did not move
    assert _same_weights(a, build_random_vit(cfg=TINY, image_size=8))
    assert not _same_weights(a, build_random_vit(cfg=replace(TINY, seed=4), image_size=8))


def test_overwrites_an_existing_directory(tmp_path: Path) -> None:
    out = tmp_path / "vit"
    save_random_vit(cfg=TINY, image_size=8, out_dir=out)
    (out / "stale.txt").write_text("old")
    save_random_vit(cfg=replace(TINY, seed=9), image_size=8, out_dir=out)
    assert not (out / "stale.txt").exists()
    assert _same_weights(AutoModel.from_pretrained(out, local_files_only=True), build_random_vit(cfg=replace(TINY, seed=9), image_size=8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vit"]


def test_bad_config_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^features\.random_vit\.depth: unknown key"):
        RandomVitConfig.from_mapping({**TINY.to_dict(), "depth": 2})
    # The ViT is built on frames of data.clip.size pixels: the whole config checks that it fits.
    clip = {"frames": 4, "size": 8}
    with pytest.raises(ConfigError, match=r"^features\.random_vit\.patch_size: 3 does not divide data\.clip\.size=8"):
        WorkflowConfig.from_mapping({"data": {"clip": clip}, "features": {"random_vit": {**TINY.to_dict(), "patch_size": 3}}})
    with pytest.raises(ConfigError, match=r"^features\.random_vit\.hidden_size: 16 is not divisible by num_attention_heads=3"):
        WorkflowConfig.from_mapping({"data": {"clip": clip}, "features": {"random_vit": {**TINY.to_dict(), "num_attention_heads": 3}}})
    # Another extractor does not build the random ViT: its settings are not held against the clip.
    other = {"extractor": "dino", "model": "some/dino", "random_vit": {**TINY.to_dict(), "patch_size": 3}}
    assert WorkflowConfig.from_mapping({"data": {"clip": clip}, "features": other}).features.random_vit.patch_size == 3
