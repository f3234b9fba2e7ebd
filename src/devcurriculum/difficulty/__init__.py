"""k-means difficulty (docs/algorithms.md §B, "Difficulty"): ``score_difficulty(features, ...) -> DifficultyResult``."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"score_difficulty": "scoring", "DifficultyResult": "scoring"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
