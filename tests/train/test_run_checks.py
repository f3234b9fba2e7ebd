"""What a run checks before it uses its inputs (issue 13, items 5 and 8): the pretrain CLI refuses a
corrupt clip cache; ``embed`` refuses a run folder trained with another network config, and corrupt
checkpoints; ``readout`` refuses embeddings of another network config. Each error names the file and,
for configs, every differing key with both values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_resume import CLIP, MODEL, cli, make_run_inputs

from devcurriculum.config import ClipConfig, KnnReadoutConfig, LinearReadoutConfig, model_config
from devcurriculum.eval.embed import BenchmarkFiles, embed_run
from devcurriculum.eval.readouts import evaluate_run
from devcurriculum.models.registry import build_objective
from devcurriculum.train.checkpoint import RunSpecMismatch, check_run_spec, save_weights
from devcurriculum.utils.checksums import ChecksumError
from devcurriculum.utils.io import ProvenanceMismatch, table_from_columns, write_table
from devcurriculum.utils.serialize import save_npy


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def test_pretrain_refuses_a_corrupt_clip_cache(tmp_path: Path, restore_globals: None) -> None:
    from devcurriculum.train.run import main

    make_run_inputs(tmp_path)
    cache = tmp_path / "clips" / "g1.npy"
    flip_last_byte(cache)
    with pytest.raises(ChecksumError, match=rf"^{cache} is corrupt"):
        main(cli(tmp_path, "run"))
    assert not (tmp_path / "run" / "model.safetensors").exists()


def jpeg_shard(path: Path, n: int = 4) -> np.ndarray:
    """A JPEG clip shard written as chunk_clips writes one (through atomic_path: with its sha256 sidecar)."""
    from devcurriculum.datasets.clip_store import open_writer
    from devcurriculum.utils.atomic import atomic_path

    yy, xx = np.mgrid[0:16, 0:16]
    clips = np.stack([np.stack([np.stack([8 * xx + 9 * i, 8 * yy + 5 * t, np.full_like(xx, 60)], -1)
                                for t in range(4)]) for i in range(n)]).astype(np.uint8)
    with atomic_path(path) as tmp:
        writer = open_writer("jpeg", tmp, (4, 16, 16, 3), n, 90, path)
        for clip in clips:
            writer.append(list(clip))
        writer.close()
    return clips


def test_pretrain_refuses_a_flipped_jpeg_shard_that_decodes_silently(tmp_path: Path, restore_globals: None) -> None:
    """Issue 25, item 2: 25 of 200 single-bit flips in a JPEG payload still decode (to other pixels), so
    decoding proves nothing; the shard's sha256, checked once per pretrain job, refuses it naming the file."""
    from devcurriculum.datasets.clip_store import JpegShard
    from devcurriculum.train.run import main

    args = make_run_inputs(tmp_path)
    shard = tmp_path / "clips" / "g1" / "shard-0-of-1.jpgs"
    jpeg_shard(shard)
    before = JpegShard(shard).clips(np.arange(4))
    original = shard.read_bytes()
    silent = None
    for offset in range(200, 400):  # inside the first frames' entropy-coded data
        data = bytearray(original)
        data[offset] ^= 0x04
        shard.write_bytes(bytes(data))
        try:
            after = JpegShard(shard).clips(np.arange(4))
        except Exception:  # this flip breaks the stream: a decoder would have noticed
            continue
        if not np.array_equal(after, before):
            silent = offset
            break
    assert silent is not None, "no flip decoded silently to other pixels"
    caches = args.index("--clip-caches")
    args[caches + 2] = str(shard)  # g1's cache is now the JPEG shard
    run = ["--out-dir", str(tmp_path / "run"), "--resume-dir", str(tmp_path / "run" / "resume")]
    with pytest.raises(ChecksumError, match=rf"^{shard} is corrupt: its sha256 is [0-9a-f]{{64}} but "):
        main([*args, *run])
    assert not (tmp_path / "run" / "model.safetensors").exists()


# ---- a trained run folder as pretrain leaves it, and a benchmark ---------------------------------


def run_folder(tmp: Path, model: dict) -> tuple[Path, list[Path]]:
    """``run_spec.json`` and two stage checkpoints of ``model`` (untrained weights are enough here)."""
    run = tmp / "runs" / "vm" / "dev" / "seed0"
    objective = build_objective(model_config(model), ClipConfig.from_mapping(CLIP))
    checkpoints = []
    for stage in (1, 2):
        path = run / "checkpoints" / f"after_stage{stage}.safetensors"
        save_weights(objective.state_dict(), path, metadata={"after_stage": str(stage), "step": str(6 * stage)})
        checkpoints.append(path)
    (run / "run_spec.json").write_text(json.dumps({"spec": {"model_name": "vm", "model": model}, "world_size": 1}))
    return run, checkpoints


def benchmark(tmp: Path) -> BenchmarkFiles:
    n = 8
    rng = np.random.default_rng(0)
    save_npy(tmp / "bench.npy", rng.integers(0, 256, (n, 4, 16, 16, 3), dtype=np.uint8))
    import pyarrow as pa

    table = {"item_id": [f"i{k}" for k in range(n)], "label": ["a", "b"] * (n // 2),
             "split": ["train"] * 4 + ["test"] * 4, "cache_row": list(range(n))}
    schema = pa.schema([("item_id", pa.string()), ("label", pa.string()), ("split", pa.string()),
                        ("cache_row", pa.int64())])
    write_table(table_from_columns(table, schema), tmp / "bench.parquet")
    return BenchmarkFiles("bench", tmp / "bench.parquet", tmp / "bench.npy")


def embed(tmp: Path, model: dict, checkpoints: list[Path], spec: Path | None, out: str = "part-0.parquet") -> Path:
    embed_run(model=model_config(model), clip=ClipConfig.from_mapping(CLIP), checkpoints=checkpoints,
              benchmarks=[benchmark(tmp)], shard=0, n_shards=1, out_path=tmp / out, batch_size=4,
              run_spec=spec, model_key="models.vm")
    return tmp / out


def test_embed_refuses_a_run_trained_with_another_network(tmp_path: Path) -> None:
    """Config A trained the run; config B (wider, same results folder) must not embed it as its own."""
    run, checkpoints = run_folder(tmp_path, MODEL)
    wider = dict(MODEL, hidden_size=32, intermediate_size=64)
    with pytest.raises(RunSpecMismatch) as err:
        embed(tmp_path, wider, checkpoints, run / "run_spec.json")
    message = str(err.value)
    assert message.startswith(f"run folder {run} was trained with another network than models.vm of this config: ")
    assert "hidden_size: 16 in run_spec.json, 32 in models.vm" in message
    assert "intermediate_size: 32 in run_spec.json, 64 in models.vm" in message
    assert not (tmp_path / "part-0.parquet").exists()
    # a pretext-only difference (the mask ratio) trains another run but the same network: still embeddable
    embed(tmp_path, dict(MODEL, mask_ratio=0.9), checkpoints, run / "run_spec.json")


def test_embed_refuses_a_corrupt_checkpoint_naming_it(tmp_path: Path) -> None:
    run, checkpoints = run_folder(tmp_path, MODEL)
    flip_last_byte(checkpoints[1])
    with pytest.raises(ChecksumError, match=rf"^{checkpoints[1]} is corrupt"):
        embed(tmp_path, MODEL, checkpoints, run / "run_spec.json")


def test_readout_refuses_embeddings_of_another_network(tmp_path: Path) -> None:
    run, checkpoints = run_folder(tmp_path, MODEL)
    part = embed(tmp_path, MODEL, checkpoints, run / "run_spec.json")
    network = model_config(MODEL).network()
    kwargs = {"embeddings": [part], "benchmarks": {"bench": tmp_path / "bench.parquet"},
              "linear": LinearReadoutConfig.from_mapping({}), "knn": KnnReadoutConfig.from_mapping({"k": [1]}),
              "run_info": {"model": "vm", "curriculum": "dev", "seed": 0}, "model_key": "models.vm"}
    evaluate_run(out_path=tmp_path / "ok.parquet", network=network, **kwargs)
    with pytest.raises(ProvenanceMismatch) as err:
        evaluate_run(out_path=tmp_path / "bad.parquet", network=dict(network, num_hidden_layers=3), **kwargs)
    assert str(err.value).startswith(f"{part} was computed with another config than models.vm of this workflow: "
                                     "num_hidden_layers: 2 in part-0.parquet, 3 in models.vm")
    assert not (tmp_path / "bad.parquet").exists()


def test_check_run_spec_names_a_missing_or_unreadable_spec(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run_spec.json not found: the run folder is incomplete"):
        check_run_spec(tmp_path / "run_spec.json", {"hidden_size": 8}, model_key="models.vm")
    (tmp_path / "run_spec.json").write_text("{}")
    with pytest.raises(RunSpecMismatch, match="has no spec.model"):
        check_run_spec(tmp_path / "run_spec.json", {"hidden_size": 8}, model_key="models.vm")
