"""Session-wide test settings: offline, single-threaded, and where the shared real footage lives."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Test this checkout's library, also in the subprocesses tests start (snakemake, torchrun workers),
# whatever checkout an installed (editable) devcurriculum in the venv points to.
SRC = str(REPO / "src")
sys.path.insert(0, SRC)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

REAL_VIDEOS = REPO.parent / "shared" / "data" / "real_videos"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def real_videos_dir() -> Path:
    if not (REAL_VIDEOS / "manifest.csv").exists():
        pytest.skip(f"real footage not available at {REAL_VIDEOS}")
    return REAL_VIDEOS


#: the longest test files, longest first (measured with --durations on 2 cores, 2026-12-06): ``make test``
#: runs files on two workers (pytest-xdist, --dist loadfile, --no-loadscope-reorder: without it xdist
#: hands out the files with the most tests first, and the SLURM file, 3 tests and 5 minutes, ran alone
#: at the end), so starting these first keeps one long file from running alone at the end
LONGEST_FIRST = (
    "tests/workflow/test_slurm_cluster.py",
    "tests/workflow/test_workflow.py",
    "tests/workflow/test_voe_workflow.py",
    "tests/test_documented_commands.py",
    "tests/workflow/test_sweeps_workflow.py",
    "tests/train/test_orphan.py",
    "tests/train/test_resume.py",
    "tests/features/test_onnx_dinov2.py",
    "tests/workflow/test_folds_controls_workflow.py",
    "tests/workflow/test_results_provenance.py",
    "tests/workflow/test_scale.py",
    "tests/workflow/test_presets.py",
    "tests/train/test_run_lock.py",
    "tests/workflow/test_labelled_benchmarks.py",
    "tests/workflow/test_shell_safety.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}

    def key(item: pytest.Item) -> int:
        path = Path(str(item.fspath)).resolve().relative_to(REPO).as_posix()
        return rank.get(path, len(LONGEST_FIRST))

    items.sort(key=key)  # stable: the order inside a file and among the others is unchanged
