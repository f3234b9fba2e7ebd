"""Building objectives from config: unknown objectives and keys, and clips that do not tile into tokens."""

from __future__ import annotations

import pytest

from devcurriculum.models.registry import build_objective


@pytest.mark.parametrize("objective", ["videomae", "vjepa"])
def test_clip_size_must_tile_into_patches(objective: str) -> None:
    with pytest.raises(ValueError, match=rf"data.clip.size=20 is not a multiple of {objective} patch_size=8"):
        build_objective({"objective": objective, "patch_size": 8}, {"frames": 4, "size": 20})


@pytest.mark.parametrize("objective", ["videomae", "vjepa"])
def test_clip_frames_must_tile_into_tubelets(objective: str) -> None:
    with pytest.raises(ValueError, match=rf"data.clip.frames=5 is not a multiple of {objective} tubelet_size=2"):
        build_objective({"objective": objective, "tubelet_size": 2}, {"frames": 5, "size": 16})


def test_unknown_model_key_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['hidden_sise'\] in the videomae model config"):
        build_objective({"objective": "videomae", "hidden_sise": 32}, {"frames": 4, "size": 16})
