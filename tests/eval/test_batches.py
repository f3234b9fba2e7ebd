"""The inference stages' data path (eval/batches.py): the device chosen as training does, bf16 only on CUDA,
and the same numbers from surprise and feature extraction whatever the loader workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import PreTrainedModel

from devcurriculum.config import RandomVitConfig
from devcurriculum.eval.batches import EvalDevice, Loading, device_batches, to_host
from devcurriculum.eval.surprise import PersistenceSurprise, score_windows, window_starts
from devcurriculum.features.extract import extract_features, load_feature_model
from devcurriculum.features.random_vit import save_random_vit
from devcurriculum.utils.distributed import default_device

CLIPS = np.random.default_rng(3).integers(0, 256, size=(5, 10, 8, 8, 3), dtype=np.uint8)
WORKERS = [Loading(), Loading(2), Loading(2, "process")]


def test_the_device_is_the_one_training_uses_and_bf16_needs_cuda() -> None:
    chosen = EvalDevice.choose()
    assert chosen.device == default_device()
    assert chosen.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert not EvalDevice.choose("bf16", "cpu").bf16  # as training: bf16 autocast on CUDA only, fp32 on the CPU
    assert not EvalDevice.choose("fp32", "cpu").bf16
    if torch.cuda.is_available():
        assert EvalDevice.choose("bf16", "cuda").bf16


def test_device_batches_come_in_order_on_the_device() -> None:
    jobs = [[4, 0], [2], [1, 3]]
    got = list(device_batches(lambda rows: CLIPS[rows], jobs, device=torch.device("cpu"), loading=Loading(2)))
    assert [g.device.type for g in got] == ["cpu"] * 3
    assert all(torch.equal(g, torch.from_numpy(CLIPS[j])) for g, j in zip(got, jobs, strict=True))
    assert to_host([]).shape == (0, 0) and to_host([], 7).shape == (0, 7)


@pytest.mark.parametrize("loading", WORKERS, ids=["none", "2 threads", "2 processes"])
def test_surprise_is_the_same_whatever_the_loader(loading: Loading) -> None:
    model = PersistenceSurprise(frames=4, tubelet_size=2)
    starts = window_starts(CLIPS.shape[1], 4, 2)
    rows = np.array([3, 1, 4])
    reference = score_windows(model, CLIPS, rows, starts, batch_size=4)
    assert np.array_equal(score_windows(model, CLIPS, rows, starts, batch_size=4, loading=loading), reference)


@pytest.fixture(scope="module")
def vit(tmp_path_factory: pytest.TempPathFactory) -> PreTrainedModel:
    cfg = RandomVitConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    return load_feature_model(save_random_vit(cfg=cfg, image_size=8, out_dir=tmp_path_factory.mktemp("vit") / "vit"))


def test_features_are_the_same_whatever_the_loader(vit: PreTrainedModel) -> None:
    reference = extract_features(vit, CLIPS, frames="mean", batch_size=7, progress=False)
    for loading in WORKERS:
        got = extract_features(vit, CLIPS, frames="mean", batch_size=7, progress=False, loading=loading)
        assert got.shape == (5, 16) and np.array_equal(got, reference), loading
