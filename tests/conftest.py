"""Session-wide test settings: offline, single-threaded, and where the shared real footage lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
REAL_VIDEOS = REPO.parent / "shared" / "data" / "real_videos"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def real_videos_dir() -> Path:
    if not (REAL_VIDEOS / "manifest.csv").exists():
        pytest.skip(f"real footage not available at {REAL_VIDEOS}")
    return REAL_VIDEOS
