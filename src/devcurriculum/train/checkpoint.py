"""Resume state and final weights.

Resume state (``resume_dir/last.pt``) holds everything needed to continue a run bit-identically on
CPU: model and optimiser state, each rank's sampler state and RNG states (torch, numpy, python and the
objective's own ``torch.Generator`` attributes, e.g. mask generators), the step, the metrics rows so far
and the hash of the run spec. It is written with ``torch.save`` to a temp file and moved into place,
and holds only tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)`` (loading never executes pickled code, DESIGN §9).

Final weights are ``safetensors`` files.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from devcurriculum.utils.io import PathLike, atomic_path
from devcurriculum.utils.safe_load import load_safetensors

log = logging.getLogger("devcurriculum.train.checkpoint")

RESUME_FILE = "last.pt"
FORMAT_VERSION = 1


# ---- RNG state as weights_only-safe values -------------------------------------------------------


def module_generators(module: nn.Module) -> dict[str, torch.Generator]:
    """Every ``torch.Generator`` held as an attribute of ``module`` or its submodules, by dotted name.

    Objectives draw masks/augmentations from their own generators; their state must be resumed too.
    """
    found: dict[str, torch.Generator] = {}
    for mod_name, mod in module.named_modules():
        for attr, value in vars(mod).items():
            if isinstance(value, torch.Generator):
                found[f"{mod_name}.{attr}" if mod_name else attr] = value
    return found


def capture_rng(module: nn.Module | None = None) -> dict[str, Any]:
    """Global RNG states (torch CPU/CUDA, numpy, python) plus ``module``'s generators, as tensors/lists."""
    np_state = np.random.get_state(legacy=True)
    assert isinstance(np_state, tuple)  # the legacy form: (name, keys, pos, has_gauss, cached_gaussian)
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": str(np_state[0]),
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        # Mersenne-Twister words are < 2**32: they fit int64 exactly.
        "python": {"version": int(py_version), "internal": torch.tensor(py_internal, dtype=torch.int64),
                   "gauss": py_gauss},
        "generators": {},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if module is not None:
        state["generators"] = {name: gen.get_state() for name, gen in module_generators(module).items()}
    return state


def restore_rng(state: Mapping[str, Any], module: nn.Module | None = None) -> None:
    """Inverse of :func:`capture_rng`; a generator present in ``module`` but not in ``state`` is an error."""
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    np.random.set_state(
        (npst["name"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"], npst["cached_gaussian"])
    )
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if module is not None:
        saved = state.get("generators", {})
        for name, gen in module_generators(module).items():
            if name not in saved:
                raise KeyError(f"resume state has no RNG state for generator {name!r} of the objective")
            gen.set_state(saved[name])


# ---- resume state --------------------------------------------------------------------------------


@dataclass
class ResumeState:
    """A loaded ``last.pt``: ``step`` is the number of optimiser steps already taken."""

    step: int
    config_hash: str
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    samplers: list[Any]
    rngs: list[dict[str, Any]]
    metrics: dict[str, list[Any]]
    wall_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "step": int(self.step),
            "config_hash": self.config_hash,
            "model": self.model,
            "optimizer": self.optimizer,
            "samplers": self.samplers,
            "rngs": self.rngs,
            "metrics": self.metrics,
            "wall_s": float(self.wall_s),
        }


def resume_path(resume_dir: PathLike) -> Path:
    return Path(resume_dir) / RESUME_FILE


def save_resume_state(resume_dir: PathLike, state: ResumeState) -> Path:
    """Write ``resume_dir/last.pt`` atomically (a crash mid-write keeps the previous state)."""
    path = resume_path(resume_dir)
    with atomic_path(path) as tmp:
        torch.save(state.to_dict(), tmp)
    log.info("saved resume state at step %d to %s", state.step, path)
    return path


def load_resume_state(resume_dir: PathLike, expected_hash: str) -> ResumeState | None:
    """The saved state if it exists, loads safely and belongs to this config; otherwise ``None``.

    Every reason for starting fresh is logged, so a surprising restart can be explained from the log.
    """
    path = resume_path(resume_dir)
    if not path.exists():
        log.info("no resume state at %s: starting from step 0", path)
        return None
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file must not stop a fresh start
        log.warning("resume state %s could not be loaded (%s): starting from step 0", path, exc)
        return None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_VERSION:
        log.warning("resume state %s has an unknown format: starting from step 0", path)
        return None
    if raw.get("config_hash") != expected_hash:
        log.warning(
            "resume state %s was written for config hash %s but this run has %s (the run spec changed): "
            "starting from step 0",
            path, raw.get("config_hash"), expected_hash,
        )
        return None
    return ResumeState(
        step=int(raw["step"]),
        config_hash=raw["config_hash"],
        model=raw["model"],
        optimizer=raw["optimizer"],
        samplers=list(raw["samplers"]),
        rngs=list(raw["rngs"]),
        metrics=dict(raw["metrics"]),
        wall_s=float(raw["wall_s"]),
    )


# ---- safetensors weights -------------------------------------------------------------------------


def save_weights(state_dict: Mapping[str, torch.Tensor], path: PathLike, metadata: Mapping[str, str] | None = None) -> None:
    """Save a state dict as safetensors atomically (``metadata``: string pairs in the file's header).

    safetensors refuses tensors that share memory (tied weights); every tensor after the first one on
    a storage is stored as its own copy, which :func:`load_weights` loads into the tied parameters.
    """
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in state_dict.items():
        t = tensor.detach().cpu()
        ptr = t.untyped_storage().data_ptr()
        if ptr in seen:
            t = t.clone()
        seen.add(t.untyped_storage().data_ptr())
        out[name] = t.contiguous()
    with atomic_path(path) as tmp:
        save_file(out, str(tmp), metadata=dict(metadata) if metadata else None)


def load_weights(module: nn.Module, path: PathLike, strict: bool = True) -> None:
    """Load safetensors weights into ``module``, naming the file on a key mismatch."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"weights file {path} does not exist")
    state = load_safetensors(path)
    missing, unexpected = module.load_state_dict(state, strict=False)
    if strict and (missing or unexpected):
        raise RuntimeError(
            f"weights {path} do not match {type(module).__name__}: missing {sorted(missing)[:10]}, "
            f"unexpected {sorted(unexpected)[:10]}"
        )
