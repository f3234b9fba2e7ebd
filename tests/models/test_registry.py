"""Building objectives from typed blocks; the config checks the objectives rely on; lazy imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from model_configs import blocks, workflow_with

from devcurriculum.config import ClipConfig, ConfigError, model_config
from devcurriculum.models.registry import build_objective
from devcurriculum.models.simclr import SimCLRObjective
from devcurriculum.models.videomae import VideoMAEObjective
from devcurriculum.models.vjepa import VJEPAObjective

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.parametrize(
    ("model", "cls"),
    [
        ({"objective": "videomae", "patch_size": 4}, VideoMAEObjective),
        ({"objective": "vjepa", "patch_size": 4}, VJEPAObjective),
        ({"objective": "simclr"}, SimCLRObjective),
    ],
)
def test_the_block_type_picks_the_objective(model: dict, cls: type) -> None:
    torch.manual_seed(0)
    obj = build_objective(*blocks(model, {"frames": 4, "size": 16}))
    assert type(obj) is cls and obj.name == model["objective"]
    assert (obj.frames, obj.size) == (4, 16)


def test_a_plain_mapping_is_refused() -> None:
    with pytest.raises(TypeError, match=r"typed model block .*model_config"):
        build_objective({"objective": "videomae"}, ClipConfig())  # type: ignore[arg-type]


@pytest.mark.parametrize("objective", ["videomae", "vjepa"])
def test_clip_size_must_tile_into_patches(objective: str) -> None:
    with pytest.raises(ConfigError, match=r"^models\.m\.patch_size: 8 does not divide data\.clip\.size=20"):
        workflow_with({"objective": objective, "patch_size": 8}, {"frames": 4, "size": 20})


@pytest.mark.parametrize("objective", ["videomae", "vjepa"])
def test_clip_frames_must_tile_into_tubelets(objective: str) -> None:
    with pytest.raises(ConfigError, match=r"^models\.m\.tubelet_size: 2 does not divide data\.clip\.frames=5"):
        workflow_with({"objective": objective, "tubelet_size": 2}, {"frames": 5, "size": 16})


def test_unknown_model_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"^models\.m\.hidden_sise: unknown key \(did you mean 'hidden_size'\?\)"):
        model_config({"objective": "videomae", "hidden_sise": 32}, where="models.m")


def test_simclr_does_not_import_transformers() -> None:
    code = (
        "import sys\n"
        "from devcurriculum.config import ClipConfig, SimCLRModelConfig\n"
        "from devcurriculum.models.registry import build_objective\n"
        "build_objective(SimCLRModelConfig(), ClipConfig(frames=2, size=16))\n"
        "assert 'transformers' not in sys.modules, 'transformers was imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
