"""A run folder must not pass for a transformers model folder.

A run folder holds ``model.safetensors`` (the whole objective: encoder, decoder or predictor, EMA
target, under devcurriculum's key names). transformers' ``from_pretrained`` looks for exactly that
file name, and without a ``config.json`` it builds a default config, finds none of the keys it
expects and initialises the model randomly, with a table of warnings but no error. So every run
folder (and the untrained model's) gets a ``config.json`` that makes ``from_pretrained`` refuse it:
``AutoModel`` does not know its ``model_type``, and a concrete class (``VideoMAEModel``) stops at
its ``transformers_weights`` entry, whose text says what to load instead. The trained encoder in
transformers' own form is the run's ``export/`` folder.

Passing ``config=`` to ``from_pretrained`` skips ``config.json``; that call is not guarded
(docs/training.md, "The export folder").
"""

from __future__ import annotations

from pathlib import Path

from devcurriculum.utils.paths import PathLike
from devcurriculum.utils.serialize import atomic_write_json

MARKER_FILE = "config.json"
MARKER_TYPE = "devcurriculum_run"
NOT_A_MODEL = (
    "this is a devcurriculum run folder, not a transformers model (its model.safetensors is training state "
    "under devcurriculum's key names): load its export/ folder instead, as export/README.md shows"
)


def mark_run_folder(folder: PathLike) -> Path:
    """Write the run folder's ``config.json`` guard (atomically); returns its path."""
    path = Path(folder) / MARKER_FILE
    atomic_write_json(path, {"model_type": MARKER_TYPE, "transformers_weights": NOT_A_MODEL})
    return path


def is_run_folder(folder: PathLike) -> bool:
    """Whether ``folder`` is marked as a devcurriculum run folder (or holds a run spec)."""
    folder = Path(folder)
    if (folder / "run_spec.json").is_file():
        return True
    marker = folder / MARKER_FILE
    return marker.is_file() and MARKER_TYPE in marker.read_text()
