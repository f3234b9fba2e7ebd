"""The export README's snippet, run as written, gives the project's evaluation embedding (every pooling)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from test_simclr import BASE as SIMCLR
from test_videomae import TINY as VIDEOMAE
from test_vjepa import TINY as VJEPA

from devcurriculum.config import ClipConfig, model_config
from devcurriculum.datasets.clip_dataset import to_model_batch
from devcurriculum.models.registry import build_objective

CLIP = ClipConfig.from_mapping({"frames": 4, "size": 16})
GRID = {"pooling": "grid", "grid": [2, 2, 2]}
CASES = {
    "videomae-mean": {**VIDEOMAE, "embedding": {"pooling": "mean"}},
    "videomae-grid": {**VIDEOMAE, "embedding": GRID},
    "videomae-fc_norm": {**VIDEOMAE, "embedding": {"pooling": "fc_norm"}},
    "vjepa-grid": {**VJEPA, "embedding": GRID},
    "vjepa-pairs": {**VJEPA, "mode": "pairs", "gap": 2, "embedding": {"pooling": "grid", "grid": [1, 2, 2]}},
    "simclr": {**SIMCLR, "backbone": "resnet10"},
}


def readme_snippet(folder: Path) -> str:
    """The one python block of the export README, pointed at ``folder``."""
    blocks = re.findall(r"```python\n(.*?)```", (folder / "README.md").read_text(), flags=re.S)
    assert len(blocks) == 1, blocks
    return blocks[0].replace("<this folder>", str(folder))


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_readme_snippet_reproduces_the_project_embedding(tmp_path: Path, case: str) -> None:
    torch.manual_seed(0)
    objective = build_objective(model_config(CASES[case]), CLIP)
    for param in objective.parameters():  # away from the initial weights, so nothing passes by symmetry
        param.data.add_(0.05 * torch.randn_like(param))
    objective.eval()
    out = tmp_path / "export"
    out.mkdir()
    objective.export_encoder(out)
    clips = np.random.default_rng(0).integers(0, 256, size=(3, CLIP.frames, CLIP.size, CLIP.size, 3), dtype=np.uint8)

    scope: dict = {"clips": clips}
    exec(compile(readme_snippet(out), str(out / "README.md"), "exec"), scope)

    expected = objective.embed(to_model_batch(clips))
    assert scope["embedding"].shape == expected.shape
    torch.testing.assert_close(scope["embedding"], expected, rtol=1e-4, atol=1e-5)


def test_the_readme_states_the_pooling_it_computes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    objective = build_objective(model_config(CASES["videomae-grid"]), CLIP)
    objective.export_encoder(tmp_path)
    text = (tmp_path / "README.md").read_text()
    assert "`embedding: {pooling: grid, grid: [2, 2, 2]}`" in text
    assert "# embedding: (B, 256)" in text  # 32 wide x 8 cells
    assert "tokens.mean(dim=1)" not in text
