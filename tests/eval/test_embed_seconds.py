"""V-JEPA with gap_seconds embeds benchmark clips as pairs gap_seconds apart at each clip's own frame rate."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from model_configs import blocks
from synthetic_clips import moving_squares

from devcurriculum.config import model_config
from devcurriculum.eval.embed import BenchmarkFiles, clip_rates, embed_rows
from devcurriculum.evalsets.benchmarks import benchmark_clip_fps
from devcurriculum.models.registry import build_objective
from devcurriculum.models.vjepa import VJEPAObjective
from devcurriculum.utils.io import provenance, write_table

CLIP = {"frames": 16, "size": 16}
TINY = {
    "objective": "vjepa", "hidden_size": 36, "num_hidden_layers": 1, "num_attention_heads": 3, "mlp_ratio": 2.0,
    "patch_size": 4, "tubelet_size": 2, "pred_hidden_size": 24, "pred_num_hidden_layers": 1,
    "pred_num_attention_heads": 2, "mode": "pairs", "gap": 4,
}


def _build(**extra: object) -> VJEPAObjective:
    torch.manual_seed(0)
    obj = build_objective(*blocks({**TINY, **extra}, CLIP))
    assert isinstance(obj, VJEPAObjective)
    return obj.eval()


def test_the_embedding_pairs_frames_gap_seconds_times_the_clip_fps_apart() -> None:
    obj = _build(gap_seconds=[30, 3, 0.5])  # a stage list: the last stage's gap, 0.5 s
    assert obj.embed_gap_seconds == 0.5
    # 10 fps -> 5 frames; 5 fps -> 2.5 -> 3 (halves up); 60 fps -> 30 clamped to 15; 1 fps -> 0.5 -> 1;
    # 0.4 fps -> 0.2 -> clamped to 1; unknown rate -> gap (4)
    fps = np.array([10.0, 5.0, 60.0, 1.0, 0.4, np.nan])
    assert obj.embed_later(16, fps).tolist() == [5, 3, 15, 1, 1, 4]
    assert _build(gap_seconds=10).embed_later(16, np.array([1.0, 0.1])).tolist() == [10, 1]


def test_embed_clips_pairs_frame_zero_with_each_clips_own_later_frame() -> None:
    obj = _build(gap_seconds=1.0)
    clips = torch.randn(3, 16, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    fps = np.array([7.0, 12.0, np.nan])  # frames 7, 12 and (unknown rate) gap 4
    got = obj.embed_clips(clips, fps)
    # the same pairs through the plain embedding: move each clip's later frame to position gap (4)
    moved = clips.clone()
    for i, later in enumerate([7, 12, 4]):
        moved[i, 4] = clips[i, later]
    torch.testing.assert_close(got, obj.embed(moved))
    assert not torch.allclose(got[:2], obj.embed(clips)[:2])  # not frames 0 and gap any more
    # without gap_seconds the rates are not read
    plain = _build()
    assert plain.embed_gap_seconds is None
    torch.testing.assert_close(plain.embed_clips(clips, fps), plain.embed(clips))


def test_the_embed_job_rebuilds_gap_and_gap_seconds_from_the_readout_keys() -> None:
    cfg = model_config({**TINY, "gap_seconds": [30, 3, 0.3]}, where="models.m")
    readout = cfg.network(readout=True)
    assert readout["gap_seconds"] == [30, 3, 0.3] and readout["gap"] == 4
    assert "gap_seconds" not in cfg.network()  # the untrained network does not depend on it
    assert model_config(readout).gap_seconds == (30, 3, 0.3)


def _benchmark(tmp_path: Path, bench: dict, clip: dict, fps: list[float | None], name: str = "b") -> BenchmarkFiles:
    ids = [f"item{i}" for i in range(len(fps))]
    meta = provenance("prepare_benchmark", bench, benchmark=name, clip=clip)
    table = pa.table({"item_id": ids[::-1], "cache_row": list(range(len(ids)))})  # table order != status order
    write_table(table, tmp_path / f"{name}.parquet", metadata=meta)
    status = pa.table({"item_id": ids, "status": ["ok"] * len(ids), "fps": pa.array(fps, type=pa.float64())})
    write_table(status, tmp_path / f"{name}.status.parquet", metadata=meta)
    return BenchmarkFiles(name, tmp_path / f"{name}.parquet", tmp_path / f"{name}.npy", tmp_path / f"{name}.status.parquet")


def test_benchmark_clip_fps_is_source_fps_over_the_clips_frame_step(tmp_path: Path) -> None:
    demo = _benchmark(tmp_path, {"source": "demo", "label": "shape"}, {"frame_step": 3}, [15.0, 30.0, None], "demo")
    assert np.allclose(demo.clip_fps(), [np.nan, 10.0, 5.0], equal_nan=True)  # table order: item2, item1, item0
    own = _benchmark(tmp_path, {"source": "video_folder", "frame_step": 2, "target_fps": None}, {"frame_step": 3},
                     [30.0, 24.0], "own")
    assert own.clip_fps().tolist() == [12.0, 15.0]  # the benchmark's frame_step wins over data.clip's
    timed = _benchmark(tmp_path, {"source": "video_folder", "frame_step": None, "target_fps": 6.0},
                       {"frame_step": 3}, [30.0, 24.0], "timed")
    assert timed.clip_fps().tolist() == [6.0, 6.0]
    digits = _benchmark(tmp_path, {"source": "sklearn_digits"}, {"frame_step": 1}, [None, None], "digits")
    assert np.isnan(digits.clip_fps()).all()
    assert np.isnan(benchmark_clip_fps(tmp_path / "demo.parquet", None)).all()


def test_clip_rates_names_a_benchmark_without_rates_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    digits = _benchmark(tmp_path, {"source": "sklearn_digits"}, {"frame_step": 1}, [None, None], "digits")
    demo = _benchmark(tmp_path, {"source": "demo"}, {"frame_step": 1}, [15.0, 15.0], "demo")
    with caplog.at_level(logging.WARNING, logger="devcurriculum.eval.embed"):
        rates = clip_rates(_build(gap_seconds=0.2), [digits, demo])
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["benchmark digits"]
    assert rates["demo"].tolist() == [15.0, 15.0]
    assert clip_rates(_build(), [digits, demo]) == {}


def test_embed_rows_hands_each_batch_its_rates() -> None:
    obj = _build(gap_seconds=1.0)
    clips = moving_squares(5, 16, 16, seed=3)
    cache = ((clips.permute(0, 1, 3, 4, 2).numpy() * 0.25 + 0.5) * 255).round().clip(0, 255).astype(np.uint8)
    fps = np.array([2.0, 3.0, 5.0, 8.0, 13.0])

    def to_batch(c: torch.Tensor) -> torch.Tensor:  # uint8 clips, on the device
        return (c.permute(0, 1, 4, 2, 3).float() / 255 - 0.5) / 0.25

    rows = np.arange(5)
    whole = embed_rows(obj, cache, rows, to_batch, batch_size=5, clip_fps=fps)
    split = embed_rows(obj, cache, rows, to_batch, batch_size=2, clip_fps=fps)
    np.testing.assert_allclose(whole, split, rtol=1e-5, atol=1e-5)
    assert json.dumps(whole.shape) == "[5, 36]"
