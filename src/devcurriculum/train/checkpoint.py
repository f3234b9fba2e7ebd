"""Resume state and final weights.

Resume state (``resume_dir/last.pt``) holds everything needed to continue a run bit-identically on
CPU: model and optimiser state, each rank's sampler state and RNG states (torch, numpy, python and the
objective's own ``torch.Generator`` attributes, e.g. mask generators), the step, the metrics rows so far
and the hash of the run spec. It is written with ``torch.save`` to a temp file and moved into place,
and holds only tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)`` (loading never executes pickled code, docs/reliability.md).

A resume state is verified twice, both checks inside the file itself (as atomic as the file, no
sidecar to fall out of step): ``torch.save`` writes a zip archive with a CRC32 of every member (the
pickle and each tensor's bytes), read back against its CRC before anything is unpickled; and the
state carries a CRC32 of its own content (every key, value and tensor byte, :func:`content_digest`),
recomputed from what ``torch.load`` returned, which also catches a damaged zip directory that
makes the loader read the wrong bytes. CRC32 (not sha256): it catches every single-bit flip and
every burst up to 32 bits, at about 2 GB/s, three times sha256 here (benchmarks/checksum_overhead.py);
the state is rewritten every ``checkpoint_every`` steps, so its check is on the training path. A state that fails either (a flipped bit, a truncated file)
is set aside as ``last.pt.corrupt-<time>`` (kept for inspection, never deleted) with a warning naming
both files, and training restarts from step 0.

Final weights are ``safetensors`` files with a ``.sha256`` sidecar (written by ``atomic_path``),
verified before they are loaded, and written byte-reproducibly (``utils.safe_save``: equal tensors
and metadata give an equal file). :func:`check_run_spec` checks a run folder's ``run_spec.json``
against the model config a later stage was given.
"""

from __future__ import annotations

import json
import logging
import random
import time
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from devcurriculum.utils import distributed as du
from devcurriculum.utils.atomic import atomic_path
from devcurriculum.utils.checksums import verify_checksum
from devcurriculum.utils.config import config_differences
from devcurriculum.utils.paths import PathLike
from devcurriculum.utils.safe_load import load_safetensors
from devcurriculum.utils.safe_save import save_safetensors

log = logging.getLogger("devcurriculum.train.checkpoint")

RESUME_FILE = "last.pt"
#: 2: with ``content_crc32``; 3: metrics with ``lr_groups``. A state of an older format is not resumed (logged)
FORMAT_VERSION = 3
DIGEST_KEY = "content_crc32"


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


def _crc_into(crc: int, obj: Any) -> int:
    """``crc`` continued over ``obj`` (nested dicts/lists of tensors, numbers, strings), types and order included."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        crc = zlib.crc32(f"T{t.dtype}{tuple(t.shape)}".encode(), crc)
        return zlib.crc32(t.reshape(-1).view(torch.uint8).numpy().data, crc)
    if isinstance(obj, Mapping):
        crc = zlib.crc32(f"D{len(obj)}".encode(), crc)
        for key, value in obj.items():
            crc = _crc_into(_crc_into(crc, key), value)
        return crc
    if isinstance(obj, list | tuple):
        crc = zlib.crc32(f"{type(obj).__name__[0]}{len(obj)}".encode(), crc)
        for value in obj:
            crc = _crc_into(crc, value)
        return crc
    if isinstance(obj, float):
        return zlib.crc32(f"f{obj.hex()};".encode(), crc)
    return zlib.crc32(f"{type(obj).__name__}{obj!r};".encode(), crc)  # str, int, bool, None: type and repr


def _tensor_bytes(obj: Any) -> int:
    """Bytes of every tensor in nested dicts/lists: about what a file of them needs on disk."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, Mapping):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def content_digest(obj: Any) -> str:
    """CRC32 (hex) of a resume state's content as loaded: structure, key order, types and every tensor byte."""
    return f"{_crc_into(0, obj):08x}"


def save_resume_state(resume_dir: PathLike, state: ResumeState) -> Path:
    """Write ``resume_dir/last.pt`` atomically (a crash mid-write keeps the previous state), with its digest."""
    path = resume_path(resume_dir)
    payload = state.to_dict()
    payload[DIGEST_KEY] = content_digest(payload)
    with atomic_path(path, size_hint=_tensor_bytes(payload)) as tmp:
        torch.save(payload, tmp)
    log.info("saved resume state at step %d to %s", state.step, path)
    return path


class CorruptResumeState(ValueError):
    """A resume state whose bytes are not what ``torch.save`` wrote (CRC mismatch, truncation)."""


def verify_resume_file(path: PathLike) -> None:
    """Read every member of the ``torch.save`` zip archive against its CRC32; raise :class:`CorruptResumeState`.

    Every single-bit flip of a resume state either fails this check, fails ``torch.load``, or lies in
    zip bookkeeping that does not change what loads (tests/train/test_resume_integrity.py flips each byte).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except FileNotFoundError:
        raise
    except Exception as exc:  # zipfile raises many kinds on damaged headers (BadZipFile, "encrypted", EOF...)
        raise CorruptResumeState(f"resume state {path} is not a readable archive ({exc})") from exc
    if bad is not None:
        raise CorruptResumeState(f"resume state {path}: member {bad} fails its CRC check")


def set_aside(path: Path) -> Path:
    """Rename a corrupt file to ``<name>.corrupt-<UTC time>`` next to it (kept for inspection); returns the new path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    path.rename(target)
    return target


def _load_verified(path: Path) -> Any:
    """The verified, safely loaded content of ``path`` (raises :class:`CorruptResumeState` otherwise).

    A state of another format is returned as loaded (the caller reports it); one of this format
    must match its recorded content digest.
    """
    verify_resume_file(path)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # an archive torch cannot read is as unusable as a corrupt one
        raise CorruptResumeState(f"resume state {path} could not be loaded ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_VERSION:
        return raw
    recorded = raw.pop(DIGEST_KEY, None)
    if recorded != content_digest(raw):
        raise CorruptResumeState(f"resume state {path}: its content does not match the CRC32 saved with it")
    return raw


def load_resume_state(resume_dir: PathLike, expected_hash: str, *, owner: bool | None = None) -> ResumeState | None:
    """The saved state if it exists, is intact, loads safely and belongs to this config; otherwise ``None``.

    A corrupt state is set aside (renamed, not deleted) by the ``owner`` (default: rank 0; the other
    ranks only read) with a warning naming it. Every reason for starting fresh is logged, so a
    surprising restart can be explained from the log.
    """
    owner = du.is_main() if owner is None else owner
    path = resume_path(resume_dir)
    if not path.exists():
        log.info("no resume state at %s: starting from step 0", path)
        return None
    try:
        raw = _load_verified(path)
    except FileNotFoundError:  # the owner rank set it aside meanwhile
        log.warning("resume state %s was set aside by rank 0: starting from step 0", path)
        return None
    except CorruptResumeState as exc:
        kept = f"set aside as {set_aside(path)}" if owner else "rank 0 sets it aside"
        log.warning("%s: %s; starting from step 0 (the weights in it cannot be trusted)", exc, kept)
        return None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_VERSION:
        log.warning("resume state %s has format %s, not %d (an older version wrote it): starting from step 0",
                    path, raw.get("format") if isinstance(raw, dict) else type(raw).__name__, FORMAT_VERSION)
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
    with atomic_path(path, size_hint=_tensor_bytes(out)) as tmp:
        save_safetensors(out, tmp, metadata)


def load_weights(module: nn.Module, path: PathLike, strict: bool = True) -> None:
    """Load safetensors weights into ``module`` after checking their sha256, naming the file on a mismatch."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"weights file {path} does not exist")
    verify_checksum(path)
    state = load_safetensors(path)
    missing, unexpected = module.load_state_dict(state, strict=False)
    if strict and (missing or unexpected):
        raise RuntimeError(
            f"weights {path} do not match {type(module).__name__}: missing {sorted(missing)[:10]}, "
            f"unexpected {sorted(unexpected)[:10]}"
        )


# ---- what a run folder was trained with ----------------------------------------------------------


class RunSpecMismatch(ValueError):
    """A run folder holds a model trained with another model config than the one given."""


def check_run_spec(spec_file: PathLike, network: Mapping[str, Any], *, model_key: str) -> None:
    """Check that the run whose ``run_spec.json`` is ``spec_file`` was trained with the network ``network``.

    ``network`` is ``models.<name>.network()`` of the config at hand; ``model_key`` (``models.<name>``)
    names it in the error. Two workflows sharing a results folder (or a run folder copied in from
    elsewhere) would otherwise embed one config's model as the other's. The error lists every
    differing key with both values.
    """
    path = Path(spec_file)
    try:
        recorded = json.loads(path.read_text())["spec"]["model"]
    except FileNotFoundError:
        raise FileNotFoundError(f"run spec {path} not found: the run folder is incomplete; rerun its pretrain job") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise RunSpecMismatch(f"run spec {path} has no spec.model ({exc!r}); rerun its pretrain job") from exc
    differences = config_differences(recorded, network, recorded_as=path.name, given_as=model_key)
    if differences:
        raise RunSpecMismatch(
            f"run folder {path.parent} was trained with another network than {model_key} of this config: "
            + "; ".join(differences)
            + ". Does another workflow write to the same results folder? Give each its own `results:`, "
            "or retrain this run (--forcerun pretrain)"
        )


def verify_run(*, weights: list[Path], network: Mapping[str, Any], model_key: str, spec_file: PathLike | None) -> None:
    """Before a run's weights are used: each is intact (sha256 sidecar) and, for a trained run
    (``spec_file`` given), it was trained with ``network`` (:func:`check_run_spec`)."""
    if spec_file is not None:
        check_run_spec(spec_file, network, model_key=model_key)
    for path in weights:
        verify_checksum(path)
