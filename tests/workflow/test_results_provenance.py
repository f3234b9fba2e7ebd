"""Results carry the spec they were made under (issue 25, items 1, 3 and 10).

Snakemake decides reruns from metadata in ``.snakemake/`` of the working directory that made the
results. Results copied into another clone, or a results folder shared by a second workflow, have none
there, so each job also records its stamp next to its first output (``devcurriculum.stamps``): a plan
refuses, in one line naming the differing config keys, outputs made under another spec, adopts them
under the same spec, and a moved project (its ``.snakemake`` with it) plans nothing.

One tiny training run (target ``train``: demo data, one run of 6 steps) is made once, in a checkout
copied to a temp folder, and every test copies or dry-runs against it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from wfutil import copy_checkout, dry_run_jobs, job_counts, parse_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow

RUN = "results/runs/videomae/developmental/seed0"
#: the .test config cut to what one training run needs
TINY = {
    "demo.subjects_per_group": 1,
    "demo.seconds": 2,
    "data.chunk_shards": 1,
    "pretrain.steps_per_stage": 2,
    "pretrain.checkpoint_every": 2,
    "runs": [{"models": ["videomae"], "curricula": ["developmental"], "seeds": [0]}],
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout with one finished training run in it (its own working directory)."""
    root = copy_checkout(tmp_path_factory.mktemp("provenance") / "project")
    write_config(root, TINY)
    snakemake(root, "train", snakefile=root / "Snakefile")
    assert (root / RUN / "model.safetensors").exists()
    return root


def _plan(workdir: Path, snakefile: Path, overrides: dict | None = None, *args: str) -> subprocess.CompletedProcess:
    """A dry run of ``train`` in ``workdir`` with TINY (+ ``overrides``), not checked."""
    (workdir / "plan").mkdir(exist_ok=True)
    config = write_config(workdir / "plan", {**TINY, **(overrides or {})})
    return snakemake(workdir, "--dry-run", "train", *args, config=config, snakefile=snakefile, check=False)


def _errors(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("results error:")]


def test_a_moved_project_plans_zero_jobs(project: Path, tmp_path: Path) -> None:
    """Item 10: the checkout, its results and .snakemake copied elsewhere (times kept, as cp -a or rsync -a),
    and the original folder gone (as after mv): no absolute path in any params, no input left behind."""
    moved = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(project, moved, symlinks=True)
    away = project.with_name("project-moved-away")
    project.rename(away)
    try:
        assert dry_run_jobs(moved, None, "train", snakefile=moved / "Snakefile") == []
    finally:
        away.rename(project)


def test_copied_results_are_adopted_under_the_same_spec_and_refused_under_another(project: Path, tmp_path: Path) -> None:
    """Item 1 (a): results copied into another clone; then models.videomae.mask_ratio changed there."""
    clone = copy_checkout(tmp_path / "clone")
    shutil.copytree(project / "results", clone / "results", symlinks=True)
    write_config(clone, TINY)
    assert dry_run_jobs(clone, None, "train", snakefile=clone / "Snakefile") == []  # same spec: adopted

    proc = _plan(clone, clone / "Snakefile", {"models.videomae.mask_ratio": 0.9})
    assert proc.returncode == 1, proc.stdout[-3000:]
    (error,) = _errors(proc)
    assert f"{RUN}/model.safetensors (rule pretrain)" in error
    assert "models.videomae.mask_ratio: 0.5 there, 0.9 here" in error
    assert "--forcerun pretrain" in error and "results:" in error
    assert "rule pretrain:" not in proc.stdout  # nothing planned

    # the remedy the line gives: rerun it here
    proc = _plan(clone, clone / "Snakefile", {"models.videomae.mask_ratio": 0.9}, "--forcerun", "pretrain")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not _errors(proc) and "rule pretrain:" in proc.stdout


def test_another_workflow_on_the_same_results_folder_is_refused(project: Path, tmp_path: Path) -> None:
    """Item 1 (b): workflow B in another working directory, ``results`` pointing at A's folder."""
    other = tmp_path / "b"
    other.mkdir()
    results = str(project / "results")
    same = _plan(other, project / "Snakefile", {"results": results})
    assert same.returncode == 0 and "rule pretrain:" not in same.stdout, same.stderr[-3000:]

    for key, theirs, ours in (("models.videomae.hidden_size", 32, 48), ("pretrain.lr", 0.001, 0.002)):
        proc = _plan(other, project / "Snakefile", {"results": results, key: ours})
        assert proc.returncode == 1, proc.stdout[-3000:]
        (error,) = _errors(proc)
        assert f"{key}: {theirs} there, {ours} here" in error, error


def test_the_working_directory_that_made_the_results_reruns_them(project: Path) -> None:
    """Its own .snakemake metadata decides: a changed mask ratio retrains, nothing is refused."""
    proc = _plan(project, project / "Snakefile", {"models.videomae.mask_ratio": 0.9})
    assert proc.returncode == 0 and not _errors(proc), proc.stderr[-3000:]
    assert job_counts(parse_jobs(proc.stdout))["pretrain"] == 1


HOLD = "import sys, time\nfrom devcurriculum.utils.locks import folder_lock\n" \
       "with folder_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(300)\n"


def test_a_run_being_trained_elsewhere_is_refused_before_anything_is_touched(project: Path, tmp_path: Path) -> None:
    """Item 3: another trainer holds the run folder's lock (it is training, so the weights are not there
    yet); this workflow plans that run and is refused before any job starts: the live metrics and log
    are left as they were."""
    workdir = tmp_path / "live"
    shutil.copytree(project, workdir, symlinks=True)
    run = workdir / RUN
    (run / "model.safetensors").unlink()
    log = workdir / "results/logs/pretrain/videomae/developmental/seed0.log"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (run / "metrics.parquet", log)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        proc = snakemake(workdir, "train", snakefile=workdir / "Snakefile", check=False)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert proc.returncode == 1, proc.stdout[-3000:]
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "is in use" in line]
    assert len(lines) == 1 and f"run folder {RUN} is in use" in lines[0] and f"pid {holder.pid} on " in lines[0]
    assert "rule pretrain:" not in proc.stdout  # refused when planning, not as a failed job
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before} == before
