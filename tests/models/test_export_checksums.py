"""``export/`` is verified like every other weights file (issue 25, item 6): each weights file of a folder
written through ``utils.atomic.atomic_dir`` (a run's ``export/``, the ``vit-random`` and DINOv2 feature
models) gets its ``<file>.sha256`` sidecar; ``utils.checksums.verify_folder`` checks them, and
``features.extract.load_feature_model`` does before it loads a local folder, so a flipped byte in an
export is refused naming the file (before, an export had no sidecar and a flip loaded silently)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_simclr import BASE as SIMCLR
from test_videomae import TINY as VIDEOMAE
from test_vjepa import TINY as VJEPA

from devcurriculum.config import ClipConfig, RandomVitConfig, model_config
from devcurriculum.features.extract import load_feature_model
from devcurriculum.features.random_vit import save_random_vit
from devcurriculum.models.registry import build_objective
from devcurriculum.utils.atomic import atomic_dir
from devcurriculum.utils.checksums import ChecksumError, checksum_path, verify_folder

CLIP = ClipConfig.from_mapping({"frames": 4, "size": 16})
MODELS = {"videomae": VIDEOMAE, "vjepa": VJEPA, "simclr": SIMCLR}


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # a byte of the last tensor
    path.write_bytes(bytes(data))


def export(tmp_path: Path, model: str) -> Path:
    """What pretrain's last step writes (train/loop.py: ``atomic_dir(out_dir / "export")``)."""
    objective = build_objective(model_config(MODELS[model]), CLIP)
    with atomic_dir(tmp_path / "export") as out:
        objective.export_encoder(out)
    return tmp_path / "export"


@pytest.mark.parametrize("model", list(MODELS))
def test_every_exported_weights_file_has_a_sidecar_and_a_flip_is_refused_naming_it(tmp_path: Path, model: str) -> None:
    folder = export(tmp_path, model)
    weights = sorted(folder.rglob("*.safetensors"))
    assert weights, f"{model}: no weights file in its export"
    for path in weights:
        assert checksum_path(path).is_file(), path
        check = subprocess.run(["sha256sum", "-c", checksum_path(path).name], cwd=path.parent, capture_output=True, text=True)
        assert check.returncode == 0 and check.stdout.strip().endswith(": OK"), check.stdout + check.stderr
    assert verify_folder(folder) == weights
    flip_last_byte(weights[0])
    with pytest.raises(ChecksumError, match=rf"^{weights[0]} is corrupt"):
        verify_folder(folder)


def test_an_export_used_as_a_feature_model_is_verified_before_it_loads(tmp_path: Path) -> None:
    folder = export(tmp_path, "videomae")
    assert load_feature_model(folder) is not None
    flip_last_byte(folder / "model.safetensors")
    with pytest.raises(ChecksumError, match=rf"^{folder / 'model.safetensors'} is corrupt"):
        load_feature_model(folder)


def test_the_random_vit_feature_model_is_verified_before_it_loads(tmp_path: Path) -> None:
    cfg = RandomVitConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, patch_size=4)
    out = save_random_vit(cfg=cfg, image_size=8, out_dir=tmp_path / "vit-random")
    assert checksum_path(out / "model.safetensors").is_file()
    flip_last_byte(out / "model.safetensors")
    with pytest.raises(ChecksumError, match=rf"^{out / 'model.safetensors'} is corrupt"):
        load_feature_model(out)


def test_a_folder_without_sidecars_is_read_unverified(tmp_path: Path) -> None:
    """Another tool's folder (a Hugging Face download) has no sidecars: nothing to check, nothing refused."""
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"not checked")
    assert verify_folder(folder) == []
