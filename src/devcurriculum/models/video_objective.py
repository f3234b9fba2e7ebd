"""The base of the two ViT-style video objectives (VideoMAE, V-JEPA): clips cut into tokens, masks per rank.

A clip of ``data.clip.frames`` frames of ``data.clip.size`` pixels is cut into ``frames // tubelet_size``
temporal slices of ``grid x grid`` patches (``config/workflow.py`` makes sure the clip tiles exactly).
Masks are drawn from the objective's own generator ``mask_generator``, which the checkpoint code saves
and restores with the other RNG states, so a resumed run draws the same masks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from devcurriculum.config import ClipConfig, VideoEmbeddingConfig, VideoMAEModelConfig, VJEPAModelConfig
from devcurriculum.models.common import ClipObjective

#: eps of the seed study's ``fc_norm`` (``torch.nn.LayerNorm``'s default)
FC_NORM_EPS = 1e-5

#: the ``README.md`` of a video learner's ``export/`` folder (:meth:`MaskedVideoObjective.export_readme`)
EXPORT_README = """# {title} trained with devcurriculum

This folder holds the trained encoder in transformers' own format. The snippet gives devcurriculum's
evaluation embedding of a batch of clips, the one the run's benchmarks were read out from (the model's
setting when it trained: `embedding: {setting}`; devcurriculum's tests run this snippet against its own
embedding).

```python
{code}
```
{note}
The run folder above this one (`model.safetensors`, `checkpoints/`) holds training state (encoder,
decoder or predictor, EMA target) under devcurriculum's own key names: load this folder instead.
"""


def pooling_lines(embedding: VideoEmbeddingConfig, *, slices: int, grid: int, width: int) -> list[str]:
    """Plain-torch lines turning ``tokens`` ``(B, N, width)`` into ``embedding`` as :meth:`MaskedVideoObjective.pool_tokens`."""
    if embedding.pooling == "mean":
        return ["embedding = tokens.mean(dim=1)"]
    if embedding.pooling == "fc_norm":
        return [f"embedding = torch.nn.functional.layer_norm(tokens.mean(dim=1), ({width},), eps={FC_NORM_EPS})"]
    cells = tuple(embedding.grid)
    return [
        f"cube = tokens.reshape(len(tokens), {slices}, {grid}, {grid}, {width}).permute(0, 4, 1, 2, 3)  # (B, D, t, h, w)",
        f"cells = torch.nn.functional.adaptive_avg_pool3d(cube, {cells})  # the mean of each grid cell",
        "embedding = cells.flatten(2).transpose(1, 2).reshape(len(tokens), -1)  # cells concatenated, t-h-w order",
    ]


class MaskedVideoObjective(ClipObjective):
    """A video objective on a token grid that draws its masks from ``mask_generator``.

    Subclasses build their network first and set ``self.mask_generator = rank_generator()`` after it:
    the generator's seed is then the global RNG's next draw after the initial weights.
    """

    mask_generator: torch.Generator

    def __init__(self, model: VideoMAEModelConfig | VJEPAModelConfig, clip: ClipConfig) -> None:
        super().__init__(clip)
        self.patch_size = model.patch_size
        self.tubelet_size = model.tubelet_size
        self.grid = clip.size // model.patch_size
        self.temporal_slices = clip.frames // model.tubelet_size
        self.embedding: VideoEmbeddingConfig = model.embedding

    def pool_tokens(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(B, N, D)`` last-layer tokens -> ``(B, D)`` mean, or ``(B, cells * D)`` space-time grid cells.

        ``fc_norm`` is the mean followed by a LayerNorm without affine parameters (the seed study reads
        VideoMAE out through ``VideoMAEForVideoClassification``'s freshly initialised ``fc_norm``, whose
        weight is 1 and bias 0; its eps, 1e-5, is ``nn.LayerNorm``'s default). Tokens are numbered
        ``t * grid^2 + h * grid + w`` (the Conv3d patch embedding's order); the grid pooling averages the
        tokens inside each of ``embedding.grid`` cells and concatenates the cells.
        """
        if self.embedding.pooling == "mean":
            return hidden.mean(dim=1)
        if self.embedding.pooling == "fc_norm":
            mean = hidden.mean(dim=1)
            return F.layer_norm(mean, (mean.shape[-1],), eps=FC_NORM_EPS)
        b, n, d = hidden.shape
        cube = hidden.reshape(b, n // (self.grid * self.grid), self.grid, self.grid, d).permute(0, 4, 1, 2, 3)
        return F.adaptive_avg_pool3d(cube, self.embedding.grid).flatten(2).transpose(1, 2).reshape(b, -1)

    def export_readme(self, *, title: str, load: str, normalise: str, encode: str, width: int, note: str = "") -> str:
        """The ``README.md`` of ``export/``: a snippet that gives this objective's evaluation embedding exactly.

        ``load`` (the import and loading lines), ``normalise`` (the lines that turn ``x``, float clips in
        [0, 1] shaped ``(B, T, 3, H, W)``, into the model's ``videos``) and ``encode`` (the forward pass
        that gives ``tokens``) are the learner's; the pooling lines follow ``self.embedding``
        (:meth:`pool_tokens`), so the README states the embedding the run was read out with.
        """
        slices = self.embed_slices
        tokens = slices * self.grid * self.grid
        pooled = {"mean": width, "fc_norm": width, "grid": width * math.prod(self.embedding.grid)}[self.embedding.pooling]
        lines = [
            "import torch",
            load,
            f"# clips: uint8 RGB (B, {self.frames}, {self.size}, {self.size}, 3) = (batch, frames, height, width, channels)",
            "x = torch.as_tensor(clips).permute(0, 1, 4, 2, 3).float() / 255  # (B, frames, 3, H, W) in [0, 1]",
            normalise,
            "with torch.no_grad():",
            f"    {encode}  # (B, {tokens}, {width}): {slices} x {self.grid} x {self.grid} tokens (time, height, width)",
            *pooling_lines(self.embedding, slices=slices, grid=self.grid, width=width),
            f"# embedding: (B, {pooled})",
        ]
        grid = f", grid: {list(self.embedding.grid)}" if self.embedding.pooling == "grid" else ""
        setting = f"{{pooling: {self.embedding.pooling}{grid}}}"
        return EXPORT_README.format(title=title, code="\n".join(lines), setting=setting, note=note)

    @property
    def embed_slices(self) -> int:
        """Temporal token slices of the embedding's input (the clip's; V-JEPA's frame pair overrides it)."""
        return self.temporal_slices

    def mask_rng_state(self) -> torch.Tensor:
        """State of the mask generator (a uint8 tensor), for saving alongside the model."""
        return self.mask_generator.get_state()

    def set_mask_rng_state(self, state: torch.Tensor) -> None:
        self.mask_generator.set_state(state)
