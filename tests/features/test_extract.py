"""Feature extraction: pooling, layer and frame choices against hidden_states; shards vs unsharded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from transformers import Dinov2Config, Dinov2Model, PreTrainedModel

from devcurriculum.config import FeaturesConfig, RandomVitConfig
from devcurriculum.features.extract import (
    extract_features,
    extract_shard,
    image_normalization,
    load_feature_model,
    model_input_size,
)
from devcurriculum.features.random_vit import save_random_vit
from devcurriculum.utils.embeddings import embedding_matrix
from devcurriculum.utils.io import gather_tables, read_metadata
from devcurriculum.utils.serialize import save_npy

TINY = RandomVitConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, patch_size=4, seed=0)
FEATURES = FeaturesConfig(extractor="vit-random", model=None, layer=-1, pooling="mean", frames="mean", batch_size=5, shards=3)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_vit(cfg=TINY, image_size=8, out_dir=tmp_path_factory.mktemp("models") / "vit-random")


@pytest.fixture(scope="module")
def model(model_dir: Path) -> PreTrainedModel:
    return load_feature_model(model_dir)


def _clips(n: int, t: int = 4, size: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, t, size, size, 3), dtype=np.uint8)


def _hidden(model: PreTrainedModel, frames_u8: np.ndarray, size: int = 8) -> tuple[torch.Tensor, ...]:
    """Reference computation: normalise with 0.5/0.25, run the model, every hidden state through the final norm."""
    x = torch.from_numpy(frames_u8).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    with torch.no_grad():
        out = model(pixel_values=(x - 0.5) / 0.25, output_hidden_states=True)
        return tuple(model.layernorm(h) for h in out.hidden_states)


def test_last_layer_is_the_normalised_output_and_earlier_layers_share_its_norm(model: PreTrainedModel) -> None:
    """layer -1 = last_hidden_state (after the final LayerNorm, DINO's feature); others get the same norm."""
    clips = _clips(3)
    x = (torch.from_numpy(clips[:, 2]).permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.25
    with torch.no_grad():
        out = model(pixel_values=x, output_hidden_states=True)
        raw_mid = out.hidden_states[1]
    np.testing.assert_allclose(
        extract_features(model, clips, layer=-1, progress=False), out.last_hidden_state[:, 0].numpy(), atol=1e-5
    )
    got_mid = extract_features(model, clips, layer=1, progress=False)
    np.testing.assert_allclose(got_mid, model.layernorm(raw_mid)[:, 0].detach().numpy(), atol=1e-5)
    assert not np.allclose(got_mid, raw_mid[:, 0].numpy(), atol=1e-3)


def test_cls_and_mean_pooling_equal_manual_hidden_states(model: PreTrainedModel) -> None:
    clips = _clips(6)
    hs = _hidden(model, clips[:, 2])  # middle frame of 4 frames
    cls = extract_features(model, clips, layer=-1, pooling="cls", frames="middle", batch_size=4, progress=False)
    mean = extract_features(model, clips, layer=-1, pooling="mean", frames="middle", batch_size=4, progress=False)
    assert cls.dtype == np.float32 and cls.shape == (6, 16)
    np.testing.assert_allclose(cls, hs[-1][:, 0].numpy(), atol=1e-5)
    # mean over the patch tokens (dim 1 of (B, L, D)), never over the feature dimension
    assert hs[-1].shape == (6, 5, 16)
    np.testing.assert_allclose(mean, hs[-1][:, 1:].mean(dim=1).numpy(), atol=1e-5)
    assert not np.allclose(cls, mean)


def test_layer_selection(model: PreTrainedModel) -> None:
    clips = _clips(3)
    hs = _hidden(model, clips[:, 2])
    assert len(hs) == 3  # embeddings + 2 layers
    for layer in (0, 1, 2, -2):
        got = extract_features(model, clips, layer=layer, pooling="cls", progress=False)
        np.testing.assert_allclose(got, hs[layer][:, 0].numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="features.layer 3 out of range"):
        extract_features(model, clips, layer=3, progress=False)


def test_frame_mean_averages_per_frame_features(model: PreTrainedModel) -> None:
    clips = _clips(3, t=4)
    hs = _hidden(model, clips.reshape(12, 8, 8, 3))
    per_frame = hs[-1][:, 1:].mean(dim=1).reshape(3, 4, 16)
    got = extract_features(model, clips, pooling="mean", frames="mean", batch_size=5, progress=False)
    np.testing.assert_allclose(got, per_frame.mean(dim=1).numpy(), atol=1e-5)


def test_rows_select_and_order_clips(model: PreTrainedModel) -> None:
    clips = _clips(5)
    full = extract_features(model, clips, progress=False)
    np.testing.assert_allclose(extract_features(model, clips, rows=[4, 0, 2], progress=False), full[[4, 0, 2]], atol=1e-6)


def test_clips_are_resized_to_the_model_image_size(model: PreTrainedModel) -> None:
    clips = _clips(2, size=16)
    got = extract_features(model, clips, pooling="cls", progress=False)
    np.testing.assert_allclose(got, _hidden(model, clips[:, 2])[-1][:, 0].numpy(), atol=1e-5)


def test_normalisation_from_image_processor_config(model_dir: Path, tmp_path: Path) -> None:
    assert image_normalization(model_dir) == ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    with_proc = tmp_path / "vit-imagenet"
    shutil.copytree(model_dir, with_proc)
    imagenet = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "do_normalize": True,
                "image_processor_type": "ViTImageProcessor"}
    (with_proc / "preprocessor_config.json").write_text(json.dumps(imagenet))
    mean, std = image_normalization(with_proc)
    assert list(mean) == imagenet["image_mean"] and list(std) == imagenet["image_std"]
    # and extraction uses it: different inputs, different features
    m = load_feature_model(with_proc)
    clips = _clips(2)
    assert not np.allclose(extract_features(m, clips, progress=False), extract_features(load_feature_model(model_dir), clips, progress=False))


def _extract(tables: list[Path], caches: list[Path], model_dir: Path, shard: int, n_shards: int, out: Path,
             threads: int | None = None) -> int:
    return extract_shard(clip_tables=tables, clip_caches=caches, model_dir=model_dir, features=FEATURES, shard=shard,
                         n_shards=n_shards, out_path=out, threads=threads)


def _with_processor(model_dir: Path, dest: Path, **proc: object) -> Path:
    shutil.copytree(model_dir, dest)
    (dest / "preprocessor_config.json").write_text(json.dumps({"image_processor_type": "ViTImageProcessor", **proc}))
    return dest


def test_input_size_comes_from_the_processor_with_interpolated_positions(model_dir: Path, tmp_path: Path) -> None:
    """A processor asking for 16 px (crop beats resize) runs the 8-px ViT at 16 px via interpolate_pos_encoding."""
    d = _with_processor(
        model_dir, tmp_path / "vit16", do_resize=True, size={"shortest_edge": 20}, do_center_crop=True,
        crop_size={"height": 16, "width": 16}, image_mean=[0.5] * 3, image_std=[0.25] * 3,
    )
    m = load_feature_model(d)
    assert model_input_size(m) == ((16, 16), {"interpolate_pos_encoding": True})
    clips = _clips(2, size=12)
    x = torch.from_numpy(clips[:, 2]).permute(0, 3, 1, 2).float() / 255.0
    x = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    with torch.no_grad():
        ref = m(pixel_values=(x - 0.5) / 0.25, interpolate_pos_encoding=True).last_hidden_state[:, 0].numpy()
    np.testing.assert_allclose(extract_features(m, clips, progress=False), ref, atol=1e-5)


def test_input_size_falls_back_to_config_when_the_patch_grid_does_not_fit(model_dir: Path, tmp_path: Path) -> None:
    d = _with_processor(model_dir, tmp_path / "vit10", do_resize=True, size={"height": 10, "width": 10})
    assert model_input_size(load_feature_model(d)) == ((8, 8), {})  # 10 px is not a multiple of patch 4


def test_dinov2_without_processor_config_gets_imagenet_statistics(tmp_path: Path) -> None:
    cfg = Dinov2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, image_size=8, patch_size=4)
    Dinov2Model(cfg).save_pretrained(tmp_path / "dinov2-tiny")
    mean, std = image_normalization(tmp_path / "dinov2-tiny")
    assert tuple(mean) == (0.485, 0.456, 0.406) and tuple(std) == (0.229, 0.224, 0.225)
    m = load_feature_model(tmp_path / "dinov2-tiny")
    assert model_input_size(m) == ((8, 8), {})
    d = _with_processor(
        tmp_path / "dinov2-tiny", tmp_path / "dinov2-12", do_resize=True, size={"height": 12, "width": 12}
    )
    assert model_input_size(load_feature_model(d)) == ((12, 12), {})  # Dinov2 interpolates without being asked


def _write_groups(root: Path) -> tuple[list[Path], list[Path], list[str]]:
    """Two age groups whose cache rows are stored out of table order (cache_row is what counts)."""
    tables, caches, ids = [], [], []
    for g, (n, seed) in enumerate([(4, 1), (3, 2)]):
        cache = root / f"g{g}.npy"
        save_npy(cache, _clips(n, seed=seed))
        rows = np.random.default_rng(seed).permutation(n)
        clip_ids = [f"g{g}-{r}" for r in rows]
        table = pa.table({"clip_id": pa.array(clip_ids), "age_group": [f"g{g}"] * n, "cache_row": pa.array(rows, pa.int64())})
        path = root / f"g{g}.parquet"
        pq.write_table(table, path)
        tables.append(path)
        caches.append(cache)
        ids += clip_ids
    return tables, caches, ids


def test_shards_concatenate_to_the_unsharded_result(model_dir: Path, model: PreTrainedModel, tmp_path: Path) -> None:
    tables, caches, ids = _write_groups(tmp_path)
    whole = tmp_path / "whole.parquet"
    assert _extract(tables, caches, model_dir, 0, 1, whole, threads=1) == 7
    parts = [tmp_path / f"part-{i}.parquet" for i in range(3)]
    counts = [_extract(tables, caches, model_dir, i, 3, parts[i]) for i in range(3)]
    assert counts == [3, 2, 2]  # shard_bounds(7, i, 3); shard 0 straddles the two groups' tables
    gathered = tmp_path / "gathered.parquet"
    assert gather_tables(parts, gathered) == 7

    a, b = pq.read_table(whole), pq.read_table(gathered)
    assert a.column("clip_id").to_pylist() == ids == b.column("clip_id").to_pylist()
    assert a.schema.field("embedding").type == pa.list_(pa.float32(), 16)
    np.testing.assert_allclose(embedding_matrix(b.column("embedding")), embedding_matrix(a.column("embedding")), atol=1e-6)
    # each row is the feature of the clip its cache_row points at
    g0 = pq.read_table(tables[0]).column("cache_row").to_numpy()
    direct = extract_features(model, np.load(caches[0]), pooling="mean", frames="mean", rows=g0, progress=False)
    np.testing.assert_allclose(embedding_matrix(a.column("embedding"))[:4], direct, atol=1e-6)
    meta = read_metadata(whole)
    assert meta["devcurriculum.stage"] == "extract_features"
    recorded = json.loads(meta["devcurriculum.config"])
    assert recorded == FEATURES.shaping() and recorded["pooling"] == "mean"
    assert not {"batch_size", "shards"} & set(recorded)  # runtime-only keys do not describe the features


def test_empty_shard_has_the_same_schema(model_dir: Path, tmp_path: Path) -> None:
    tables, caches, _ = _write_groups(tmp_path)
    out = tmp_path / "part-9.parquet"
    assert _extract(tables, caches, model_dir, 9, 10, out) == 0
    assert pq.read_schema(out).field("embedding").type == pa.list_(pa.float32(), 16)


def test_bad_cache_row_names_the_table(model_dir: Path, tmp_path: Path) -> None:
    _tables, caches, _ = _write_groups(tmp_path)
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"clip_id": ["x"], "cache_row": pa.array([99], pa.int64())}), bad)
    shutil.copy(caches[0], tmp_path / "bad.npy")  # the single-file layout: the index's cache is bad.npy
    with pytest.raises(ValueError, match=r"bad.parquet: cache_row must be a permutation of 0..3"):
        _extract([bad], [tmp_path / "bad.npy"], model_dir, 0, 1, tmp_path / "o.parquet")
    with pytest.raises(ValueError, match=r"clip cache files given differ .* named but not given \[.*g1.npy"):
        _extract(_tables, caches[:1], model_dir, 0, 1, tmp_path / "o.parquet")
    with pytest.raises(FileNotFoundError, match="features.model"):
        load_feature_model(tmp_path / "no-such-model")
