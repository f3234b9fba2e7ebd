"""Shared fixtures of the training tests."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def restore_globals() -> Iterator[None]:
    """main() configures logging, deterministic algorithms and threads process-wide: undo that."""
    logger = logging.getLogger("devcurriculum")
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
    threads = torch.get_num_threads()
    yield
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    for h in handlers:
        logger.addHandler(h)
    logger.propagate, logger.level = propagate, level
    torch.use_deterministic_algorithms(False)
    torch.set_num_threads(threads)
