"""devcurriculum: developmental curriculum pretraining of self-supervised video models."""

__version__ = "0.1.0"
