"""The ``vit-random`` feature extractor: a small, randomly initialised ViT saved as a local model dir.

The prototype curriculum (docs/algorithms.md §B) wants pretrained DINO features. The demo cannot download
weights (no network at run time), so it builds a ViT with fixed-seed random weights instead and says
so in the directory's README: random-ViT features are a structural baseline, not DINO features.
Any real pretrained ViT directory can be used through ``features.model`` instead.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from transformers import ViTConfig, ViTModel

from devcurriculum import __version__
from devcurriculum.config import RandomVitConfig
from devcurriculum.utils.atomic import atomic_dir

log = logging.getLogger("devcurriculum.features.random_vit")

README = """# vit-random: a randomly initialised ViT (NOT DINO)

This directory holds a `transformers.ViTModel` whose weights were drawn at random (seed {seed}); it
was never trained. devcurriculum builds it for the embedded demo because no pretrained weights are
available offline. Features from it are a structural baseline for the prototype-difficulty
curriculum, not DINO features: set `features.extractor` and `features.model` to a pretrained ViT
directory for the real method.

- image size {image_size}, patch {patch_size}, width {hidden_size}, {num_hidden_layers} layers,
  {num_attention_heads} heads, MLP {intermediate_size}
- no image-processor config: frames are normalised with mean 0.5 / std 0.25 per channel
  (devcurriculum.features.extract's fallback, the project's pixel normalisation)
- written by devcurriculum {version}
"""


def build_random_vit(*, cfg: RandomVitConfig, image_size: int) -> ViTModel:
    """A ``ViTModel`` of the ``features.random_vit`` sizes on ``image_size`` frames, weights drawn from ``cfg.seed``.

    The global torch RNG is forked so building the extractor does not shift anyone else's stream.
    """
    config = ViTConfig(
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        intermediate_size=cfg.intermediate_size,
        patch_size=cfg.patch_size,
        image_size=image_size,
        num_channels=3,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = ViTModel(config)
    return model.eval()


def save_random_vit(*, cfg: RandomVitConfig, image_size: int, out_dir: str | os.PathLike[str]) -> Path:
    """Build the random ViT and ``save_pretrained`` it to ``out_dir`` atomically, with a README.

    Written into a temp dir next to ``out_dir`` and renamed into place, so a crash never leaves a
    half-saved model that a later ``from_pretrained`` would load.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = build_random_vit(cfg=cfg, image_size=image_size)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        (tmp / "README.md").write_text(README.format(image_size=image_size, version=__version__, **cfg.to_dict()))
    n_params = sum(t.numel() for t in model.parameters())
    log.info("saved random ViT (%d parameters, seed %d, image %d) to %s", n_params, cfg.seed, image_size, out)
    return out
