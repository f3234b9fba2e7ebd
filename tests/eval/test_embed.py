"""embed_run: strict weight loading, stage checkpoints x benchmarks, sharding round trip, batch independence."""

from __future__ import annotations

import json
import logging
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from devcurriculum.config import ClipConfig, ModelConfig, VideoMAEModelConfig
from devcurriculum.eval.embed import BenchmarkFiles, embed_rows, embed_run, embedding_schema, load_weights_strict
from devcurriculum.models.objective import Objective
from devcurriculum.utils.embeddings import embedding_matrix
from devcurriculum.utils.io import gather_tables, read_metadata, write_table
from devcurriculum.utils.paths import PathLike

CLIP = ClipConfig(frames=2, size=8, frame_step=1, stride=2)
#: Under ``fake_registry`` a model block only says the embedding width (its ``hidden_size``).
TINY_MODEL = VideoMAEModelConfig(hidden_size=4)


class TinyObjective(Objective):
    """Mean colour of the clip through a linear map: small, deterministic, weight-dependent."""

    name = "tiny"

    def __init__(self, dim: int = 4, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.proj = nn.Linear(3, dim)
        self.drop = nn.Dropout(0.5)  # must be off in eval mode, or embeddings would be random

    def loss(self, batch: torch.Tensor, step: int) -> torch.Tensor:
        return self.embed(batch).pow(2).mean()

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(batch.mean(dim=(1, 3, 4))))

    def export_encoder(self, out_dir: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(out_dir / "tiny.safetensors"))

    def depth_groups(self) -> list[list[nn.Parameter]]:
        return [list(self.proj.parameters())]


def _to_batch(clips: torch.Tensor | np.ndarray) -> torch.Tensor:
    """(B, T, H, W, 3) uint8 -> normalised (B, T, C, H, W) float, the shared pixel contract."""
    x = torch.as_tensor(np.asarray(clips)).float().div(255.0).sub(0.5).div(0.25)
    return x.permute(0, 1, 4, 2, 3).contiguous()


@pytest.fixture
def fake_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route embed_shard's objective factory and batch conversion to the tiny versions above."""
    registry = types.ModuleType("devcurriculum.models.registry")
    registry.build_objective = lambda model, clip: TinyObjective(dim=model.hidden_size, seed=99)
    registry.build_network_objective = registry.build_objective
    registry.describe_network = lambda model, objective: f"tiny network, width {model.hidden_size}"
    clip_dataset = types.ModuleType("devcurriculum.datasets.clip_dataset")
    clip_dataset.to_model_batch = _to_batch
    monkeypatch.setitem(sys.modules, "devcurriculum.models.registry", registry)
    monkeypatch.setitem(sys.modules, "devcurriculum.datasets.clip_dataset", clip_dataset)


@pytest.fixture
def bench(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    rng = np.random.default_rng(0)
    cache = rng.integers(0, 256, size=(7, CLIP.frames, CLIP.size, CLIP.size, 3), dtype=np.uint8)
    np.save(tmp_path / "bench.npy", cache)
    rows = np.array([3, 0, 6, 1, 5, 2, 4])  # table order differs from cache order
    table = pa.table(
        {
            "item_id": [f"item{r}" for r in rows],
            "label": ["a"] * 7,
            "label_id": pa.array([0] * 7, pa.int64()),
            "split": ["train"] * 7,
            "cache_row": pa.array(rows, pa.int64()),
        }
    )
    write_table(table, tmp_path / "bench.parquet")
    return tmp_path / "bench.parquet", tmp_path / "bench.npy", rows


def _embed(
    weights: PathLike, table: PathLike, cache: PathLike, shard: int, n_shards: int, out: PathLike,
    model: ModelConfig = TINY_MODEL, **runtime: Any,
) -> int:
    return embed_run(model=model, clip=CLIP, checkpoints=[weights], benchmarks=[BenchmarkFiles("b", Path(table), Path(cache))],
                     shard=shard, n_shards=n_shards, out_path=out, **{"batch_size": 64, **runtime})


def _weights(tmp_path: Path, dim: int = 4, seed: int = 1, header: dict[str, str] | None = None) -> tuple[Path, TinyObjective]:
    model = TinyObjective(dim=dim, seed=seed)
    path = tmp_path / f"model-{dim}-{seed}.safetensors"
    save_file(model.state_dict(), str(path), metadata=header)
    return path, model


def test_embed_rows_is_batch_independent() -> None:
    cache = np.random.default_rng(1).integers(0, 256, size=(5, 2, 4, 4, 3), dtype=np.uint8)
    model = TinyObjective().eval()
    rows = np.array([4, 2, 0])
    one = embed_rows(model, cache, rows, _to_batch, batch_size=1)
    many = embed_rows(model, cache, rows, _to_batch, batch_size=64)
    assert one.shape == (3, 4) and one.dtype == np.float32
    np.testing.assert_allclose(one, many, rtol=1e-6)
    with torch.no_grad():
        direct = model.embed(_to_batch(cache[rows])).numpy()
    np.testing.assert_allclose(one, direct, rtol=1e-6)
    assert embed_rows(model, cache, rows[:0], _to_batch, batch_size=64).shape == (0, 4)


def test_shards_gather_to_the_full_embedding(tmp_path: Path, bench, fake_registry) -> None:
    table, cache_path, rows = bench
    weights, model = _weights(tmp_path)
    parts = []
    for shard in range(3):
        part = tmp_path / f"part-{shard}.parquet"
        n = _embed(weights, table, cache_path, shard, 3, part, batch_size=2, threads=1)
        assert n == [3, 2, 2][shard]
        parts.append(part)
    gathered = tmp_path / "emb.parquet"
    assert gather_tables(parts, gathered) == 7
    out = pq.read_table(gathered)
    assert out.schema.equals(embedding_schema(4), check_metadata=False)
    assert out.column("item_id").to_pylist() == [f"item{r}" for r in rows]
    assert set(out.column("after_stage").to_pylist()) == {0} and set(out.column("benchmark").to_pylist()) == {"b"}
    # the saved weights (seed 1) were loaded over the factory's own init (seed 99), in eval mode
    with torch.no_grad():
        expected = model.eval().embed(_to_batch(np.load(cache_path)[rows])).numpy()
    np.testing.assert_allclose(embedding_matrix(out.column("embedding")), expected, rtol=1e-6, atol=1e-7)


def test_every_stage_checkpoint_and_benchmark_in_one_table(tmp_path: Path, bench, fake_registry) -> None:
    table, cache_path, rows = bench
    stage1, m1 = _weights(tmp_path, seed=1, header={"after_stage": "1", "step": "5"})
    stage2, m2 = _weights(tmp_path, seed=2, header={"after_stage": "2", "step": "10"})
    out = tmp_path / "emb.parquet"
    benchmarks = [BenchmarkFiles("b1", table, cache_path), BenchmarkFiles("b2", table, cache_path)]
    n = embed_run(model=TINY_MODEL, clip=CLIP, checkpoints=[stage2, stage1], benchmarks=benchmarks, shard=0,
                  n_shards=1, out_path=out, batch_size=64)
    assert n == 4 * 7
    got = pq.read_table(out).to_pandas()
    assert list(zip(got["after_stage"], got["step"], got["benchmark"], strict=True))[::7] == [
        (1, 5, "b1"), (1, 5, "b2"), (2, 10, "b1"), (2, 10, "b2")]
    clips = _to_batch(np.load(cache_path)[rows])
    for stage, model in ((1, m1), (2, m2)):
        with torch.no_grad():
            expected = model.eval().embed(clips).numpy()
        sel = got[(got["after_stage"] == stage) & (got["benchmark"] == "b2")]
        np.testing.assert_allclose(np.stack(sel["embedding"].to_list()), expected, rtol=1e-6, atol=1e-7)


def test_more_shards_than_items_gives_empty_parts_with_the_same_schema(tmp_path: Path, bench, fake_registry) -> None:
    table, cache_path, _ = bench
    weights, _ = _weights(tmp_path)
    parts = [tmp_path / f"p{i}.parquet" for i in range(9)]
    counts = [_embed(weights, table, cache_path, i, 9, p) for i, p in enumerate(parts)]
    assert counts == [1] * 7 + [0, 0]
    assert gather_tables(parts, tmp_path / "all.parquet") == 7


def test_mismatched_weights_name_the_file_and_keys(tmp_path: Path, bench, fake_registry) -> None:
    table, cache_path, _ = bench
    wrong_dim, _ = _weights(tmp_path, dim=5)
    with pytest.raises(ValueError, match=r"model-5-1\.safetensors do not match.*mis-shaped \[proj\.bias"):
        _embed(wrong_dim, table, cache_path, 0, 1, tmp_path / "x.parquet")
    extra = tmp_path / "extra.safetensors"
    save_file({**TinyObjective().state_dict(), "head.weight": torch.zeros(2)}, str(extra))
    with pytest.raises(ValueError, match=r"unexpected \[head\.weight\]"):
        load_weights_strict(TinyObjective(), extra)
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load_weights_strict(TinyObjective(), tmp_path / "nope.safetensors")
    assert not (tmp_path / "x.parquet").exists()


def test_real_videomae_round_trip(tmp_path: Path, bench) -> None:
    """The real objective factory and batch conversion: saved init weights embed deterministically."""
    from devcurriculum.datasets.clip_dataset import to_model_batch
    from devcurriculum.models.registry import build_objective

    table, cache_path, rows = bench
    model_cfg = VideoMAEModelConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, patch_size=4, tubelet_size=2,
        decoder_hidden_size=16, decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=32,
    )
    torch.manual_seed(0)
    model = build_objective(model_cfg, CLIP)
    weights = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    out = tmp_path / "emb.parquet"
    assert _embed(weights, table, cache_path, 0, 1, out, model=model_cfg, batch_size=3) == 7
    emb = embedding_matrix(pq.read_table(out).column("embedding"))
    with torch.no_grad():
        expected = model.eval().embed(to_model_batch(np.load(cache_path)[rows])).numpy()
    assert emb.shape == (7, 32)
    np.testing.assert_allclose(emb, expected, rtol=1e-5, atol=1e-6)
    assert json.loads(read_metadata(out)["devcurriculum.config"]) == model_cfg.network(readout=True)


def test_loader_workers_give_the_same_embeddings_and_the_log_shows_progress(
    tmp_path: Path, bench, fake_registry, caplog: pytest.LogCaptureFixture
) -> None:
    from devcurriculum.eval.batches import Loading

    table, cache_path, _ = bench
    weights, _ = _weights(tmp_path)
    with caplog.at_level(logging.INFO, logger="devcurriculum.eval.embed"):
        _embed(weights, table, cache_path, 0, 1, tmp_path / "p0.parquet", batch_size=2)
    _embed(weights, table, cache_path, 0, 1, tmp_path / "p3.parquet", batch_size=2, loading=Loading(3))
    _embed(weights, table, cache_path, 0, 1, tmp_path / "pp.parquet", batch_size=2, loading=Loading(2, "process"))
    plain = embedding_matrix(pq.read_table(tmp_path / "p0.parquet").column("embedding"))
    for other in ("p3", "pp"):
        assert np.array_equal(embedding_matrix(pq.read_table(tmp_path / f"{other}.parquet").column("embedding")), plain), other
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("embed p0.parquet: 7/7 clips (100 %), ") and "clips/s, ETA 0 s" in line for line in lines)
    assert any(line.startswith("embedding 7 clip(s) x 1 checkpoint(s) on cpu, 0 loader worker(s)") for line in lines)
