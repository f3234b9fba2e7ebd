"""Curricula: age-ordered stages, prototype-first weighting, blur and LeRaC.

Public API (docs/architecture.md "Public Python API"). Names are imported lazily so that ``import devcurriculum.curriculum``
stays cheap and a user's training loop pulls in only what it uses.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "effective_fraction": "prototype",
    "PrototypeSchedule": "prototype",
    "CurriculumSampler": "sampler",
    "CurriculumPlan": "plan",
    "resolve_bucket_steps": "plan",
    "blur_schedule": "blur",
    "BlurSchedule": "blur",
    "apply_blur": "blur",
    "gaussian_kernel1d": "blur",
    "lerac_learning_rates": "lerac",
    "LeracSchedule": "lerac",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
    return getattr(module, name)
