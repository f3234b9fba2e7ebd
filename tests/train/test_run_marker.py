"""A run folder holds model.safetensors but is no transformers model: from_pretrained must refuse it."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoModel, VideoMAEModel

from devcurriculum.config import ClipConfig, VideoMAEModelConfig
from devcurriculum.train.init import save_initial_model
from devcurriculum.train.run_marker import MARKER_FILE, is_run_folder, mark_run_folder

MODEL = VideoMAEModelConfig(
    hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, patch_size=8, tubelet_size=2,
    decoder_hidden_size=16, decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=32,
)
CLIP = ClipConfig(frames=4, size=16)


def test_without_the_guard_transformers_would_load_a_random_model(tmp_path: Path) -> None:
    """Why the guard exists: a folder with devcurriculum's model.safetensors loads, silently random."""
    save_initial_model(model=MODEL, clip=CLIP, seed=0, out_path=tmp_path / "model.safetensors")
    (tmp_path / MARKER_FILE).unlink()
    VideoMAEModel.from_pretrained(tmp_path)  # no error: every encoder key is "missing", newly initialised


@pytest.mark.parametrize("loader", [VideoMAEModel, AutoModel])
def test_from_pretrained_refuses_a_run_folder(tmp_path: Path, loader) -> None:
    save_initial_model(model=MODEL, clip=CLIP, seed=0, out_path=tmp_path / "model.safetensors")
    assert is_run_folder(tmp_path)
    message = r"export/" if loader is VideoMAEModel else r"devcurriculum_run"
    with pytest.raises(ValueError, match=message):
        loader.from_pretrained(tmp_path)


def test_the_guard_is_written_atomically_and_recognised(tmp_path: Path) -> None:
    assert not is_run_folder(tmp_path)
    mark_run_folder(tmp_path)
    assert is_run_folder(tmp_path) and [p.name for p in tmp_path.iterdir()] == [MARKER_FILE]
