"""k-means difficulty (docs/algorithms.md §B, "Difficulty"): ``score_difficulty(features, ...) -> DifficultyResult``."""

from typing import TYPE_CHECKING

from devcurriculum.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from devcurriculum.difficulty.scoring import DifficultyResult, score_difficulty
else:  # at run time each name is imported from its module when first used (utils/lazy.py)
    __getattr__, __dir__ = lazy_exports(__name__, __file__)

__all__ = ["DifficultyResult", "score_difficulty"]
