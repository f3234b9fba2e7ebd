"""Outside models as baselines: a frozen model embedded and scored like a learner, rows in the summary,
a reference line in the stage curves."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_summarize import _summarize, study  # noqa: F401  (the fixture of a small study)

from devcurriculum.config import BASELINE, BaselineConfig, ConfigError, EvaluationConfig
from devcurriculum.datasets.clip_dataset import to_model_batch
from devcurriculum.eval.embed import BenchmarkFiles
from devcurriculum.eval.outside import OutsideEncoder, OutsideProxySurprise, baseline_run_info, embed_baseline
from devcurriculum.eval.plots import stage_curves_figure
from devcurriculum.eval.readouts import evaluate_run
from devcurriculum.utils.embeddings import embedding_matrix

T, SIZE = 4, 16


def tiny_vit(tmp_path: Path) -> Path:
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    folder = tmp_path / "tiny_vit"
    ViTModel(ViTConfig(hidden_size=12, num_hidden_layers=1, num_attention_heads=2, intermediate_size=24,
                       image_size=SIZE, patch_size=8)).save_pretrained(folder)
    return folder


def colour_benchmark(tmp_path: Path, name: str = "colours") -> BenchmarkFiles:
    """Clips that are red-ish or blue-ish (the label), 12 train + 8 test."""
    rng = np.random.default_rng(0)
    labels = np.array(["red", "blue"] * 10)
    clips = rng.integers(0, 60, size=(20, T, SIZE, SIZE, 3), dtype=np.uint8)
    clips[labels == "red", ..., 0] += 180
    clips[labels == "blue", ..., 2] += 180
    np.save(tmp_path / f"{name}.npy", clips)
    table = pa.table({"item_id": [f"i{k}" for k in range(20)], "label": labels.tolist(),
                      "split": ["train"] * 12 + ["test"] * 8, "cache_row": np.arange(20)})
    pq.write_table(table, tmp_path / f"{name}.parquet")
    return BenchmarkFiles(name, tmp_path / f"{name}.parquet", tmp_path / f"{name}.npy")


def test_an_image_model_embeds_a_frame_like_the_model_itself(tmp_path: Path) -> None:
    from transformers import ViTModel

    folder = tiny_vit(tmp_path)
    clips = np.random.default_rng(1).integers(0, 256, size=(3, T, SIZE, SIZE, 3), dtype=np.uint8)
    encoder = OutsideEncoder(BaselineConfig(source="transformers", path=str(folder)), folder)
    got = encoder.embed(to_model_batch(clips))
    middle = torch.as_tensor(clips[:, T // 2]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():  # no image processor: the project's (x - 0.5) / 0.25
        expected = ViTModel.from_pretrained(folder).eval()(pixel_values=(middle - 0.5) / 0.25).last_hidden_state[:, 0]
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    mean = OutsideEncoder(BaselineConfig(source="transformers", path=str(folder), pooling="mean", frames="mean"), folder)
    assert mean.embed(to_model_batch(clips)).shape == (3, 12)


def test_a_video_model_and_a_torchvision_model_embed_clips(tmp_path: Path) -> None:
    import torchvision
    from transformers import VideoMAEConfig, VideoMAEModel

    VideoMAEModel(VideoMAEConfig(image_size=SIZE, num_frames=2, tubelet_size=2, patch_size=8, hidden_size=12,
                                 num_hidden_layers=1, num_attention_heads=2, intermediate_size=24)
                  ).save_pretrained(tmp_path / "videomae")
    batch = to_model_batch(np.random.default_rng(2).integers(0, 256, size=(2, T, SIZE, SIZE, 3), dtype=np.uint8))
    video = OutsideEncoder(BaselineConfig(source="transformers", path=str(tmp_path / "videomae")), tmp_path / "videomae")
    assert video.kind == "video" and video.embed(batch).shape == (2, 12)
    save_file(torchvision.models.resnet18(weights=None).state_dict(), str(tmp_path / "rn18.safetensors"))
    resnet = OutsideEncoder(BaselineConfig(source="torchvision", arch="resnet18", path=str(tmp_path / "rn18.safetensors")),
                            tmp_path / "rn18.safetensors")
    assert resnet.embed(batch).shape == (2, 512)


def test_the_proxy_surprise_is_zero_for_a_still_clip(tmp_path: Path) -> None:
    folder = tiny_vit(tmp_path)
    scorer = OutsideProxySurprise(OutsideEncoder(BaselineConfig(source="transformers", path=str(folder)), folder), T)
    still = torch.zeros(1, T, 3, SIZE, SIZE).add_(torch.randn(1, 1, 3, SIZE, SIZE))
    changing = still.clone()
    changing[:, T // 2 :] = torch.randn(1, T - T // 2, 3, SIZE, SIZE)
    assert scorer(still).item() == pytest.approx(0.0, abs=1e-6)
    assert scorer(changing).item() > 1e-3


def test_an_outside_model_joins_the_summary_and_the_stage_curves(study, tmp_path: Path) -> None:  # noqa: F811
    folder = tiny_vit(tmp_path)
    bench = colour_benchmark(tmp_path, "digits")  # a benchmark the study's learners were read out on too
    emb = tmp_path / "baselines" / "tiny_vit" / "embeddings.parquet"
    embed_baseline(name="tiny_vit", baseline=BaselineConfig(source="transformers", path=str(folder)), model_ref=folder,
                   benchmarks=[bench], out_path=emb, batch_size=8)
    x = embedding_matrix(pq.read_table(emb).column("embedding"))
    assert x.shape == (20, 12) and np.isfinite(x).all()
    readouts = EvaluationConfig()
    evaluated = tmp_path / "baselines" / "tiny_vit" / "eval.parquet"
    evaluate_run(embeddings=[emb], benchmarks={"digits": bench.table}, linear=readouts.linear, knn=readouts.knn,
                 out_path=evaluated, run_info=baseline_run_info("tiny_vit"))

    plain = tmp_path / "plain"
    _summarize(study, plain)
    _summarize(study, tmp_path, baseline_paths=[evaluated])
    summary = pq.read_table(tmp_path / "summary.parquet").to_pandas()
    outside = summary[summary["model"] == "tiny_vit"]
    assert len(outside) == 3  # linear top1, knn top1, knn top5 on the one benchmark
    assert set(outside["curriculum"]) == {BASELINE} and set(outside["run"]) == {"baseline/tiny_vit"}
    assert outside["after_stage"].isna().all() and outside["step"].isna().all() and outside["seed"].isna().all()
    linear = outside.loc[outside["readout"] == "linear", "value"].item()
    assert linear == 1.0  # red vs blue is linearly separable in any reasonable feature
    # the learners' rows are exactly those of a summary without the outside model
    before = pq.read_table(plain / "summary.parquet").to_pandas()
    # (pandas reads the integer columns as float when a null is present: values compared, not dtypes)
    pd.testing.assert_frame_equal(summary[summary["curriculum"] != BASELINE].reset_index(drop=True), before,
                                  check_dtype=False)
    # the README's "after the last stage" selection still works, and keeps the outside model out
    final = summary[summary.after_stage == summary.groupby("run")["after_stage"].transform("max")]
    assert BASELINE not in set(final["curriculum"]) and len(final) == len(before[before.after_stage == 3])
    # comparisons are between curricula only
    assert "tiny_vit" not in set(pq.read_table(tmp_path / "comparisons.parquet").column("model").to_pylist())

    learners = summary[summary["curriculum"] != BASELINE]
    fig = stage_curves_figure(learners, chance={"digits": 0.1}, baselines=outside)
    lines = [line for ax in fig.axes for line in ax.get_lines() if line.get_label() == "tiny_vit (outside model)"]
    panels = [ax for ax in fig.axes if "digits" in ax.get_title() and "top1" in ax.get_title()]
    assert len(lines) == len(panels) == 2  # linear top1 and kNN top1 panels of the digits benchmark
    assert {tuple(line.get_ydata()) for line in lines} == {
        (v, v) for v in outside[outside["metric"].isin(["top1_accuracy", "top1_hit_rate"])]["value"]}


def test_baseline_names_and_sources_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"baselines\.<name>\.path: required for source 'transformers'"):
        BaselineConfig.from_mapping({"source": "transformers"})
    with pytest.raises(ConfigError, match=r"baselines\.<name>\.arch"):
        BaselineConfig.from_mapping({"source": "torchvision", "path": "x.safetensors"})
    assert BaselineConfig.from_mapping({"source": "dinov2-s14-imgfocus"}).pooling == "auto"
