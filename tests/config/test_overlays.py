"""The shipped overlays: own data without the demo's leftovers, results folders git ignores, and the
one-line answer to a target written after --configfile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from devcurriculum.config import WorkflowConfig
from devcurriculum.workflow import drop_null_entries

REPO = Path(__file__).resolve().parents[2]
CONFIGS = [REPO / "config.yaml", *sorted((REPO / "configs").rglob("*.yaml"))]


def merged(*files: Path) -> dict:
    """Config files merged key by key, as Snakemake merges --configfile overlays."""
    def update(base: dict, new: dict) -> dict:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                update(base[key], value)
            else:
                base[key] = value
        return base

    out: dict = {}
    for f in files:
        update(out, yaml.safe_load(f.read_text()) or {})
    return out


def as_snakemake_merges(*overlays: Path) -> dict:
    """What the Snakefile sees for ``--configfile config.yaml <overlays>``: the command-line files merged in
    order, then laid once more over the Snakefile's own ``configfile: config.yaml`` (snakemake.utils.update_config)."""
    command_line: dict = {}
    for f in (REPO / "config.yaml", *overlays):
        update_config(command_line, yaml.safe_load(f.read_text()) or {})
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, command_line)
    drop_null_entries(config)
    return config


PRESET_DIR = REPO / "configs" / "presets"
#: each preset with the files it is laid over (lin2025_prototype extends the VideoMAE preset)
PRESETS = {p.stem: [PRESET_DIR / "sheybani2023_videomae.yaml"] * p.stem.startswith("lin2025") + [p]
           for p in sorted(PRESET_DIR.glob("*.yaml"))}


@pytest.mark.parametrize("preset", [None, *PRESETS], ids=lambda p: p or "alone")
def test_the_own_data_overlay_drops_the_demo_voe_set_and_benchmarks(preset: str | None) -> None:
    """Also under a preset listed after it: a preset naming the demo set (even one key) would bring it back."""
    config = as_snakemake_merges(REPO / "configs" / "own_data.yaml", *(PRESETS[preset] if preset else []))
    cfg = WorkflowConfig.from_mapping(config)
    assert dict(cfg.voe.sets) == {}  # no demo_physics rendered into a real-video study
    assert set(cfg.benchmarks) == {"digits"}
    assert all(b.source != "demo" for b in cfg.benchmarks.values())


def test_the_demo_voe_set_holds_two_windows_of_the_longest_clip() -> None:
    assert WorkflowConfig.from_mapping(as_snakemake_merges()).voe.sets["demo_physics"].frames == 8 + 2
    videomae = REPO / "configs" / "presets" / "sheybani2023_videomae.yaml"
    assert WorkflowConfig.from_mapping(as_snakemake_merges(videomae)).voe.sets["demo_physics"].frames == 16 + 2


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_results_folder_a_shipped_config_names_is_ignored_by_git(config: Path) -> None:
    results = (yaml.safe_load(config.read_text()) or {}).get("results")
    if results is None:
        pytest.skip("no results folder of its own")
    for path in (f"{results}/", f"{results}/summary.parquet", f"{results}/runs/videomae/mixed/seed0/model.safetensors"):
        check = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=REPO)
        assert check.returncode == 0, f"{path} ({config.name}'s results) is not ignored by .gitignore"


def test_a_target_after_configfile_is_read_as_a_config_file_and_the_readme_says_what_to_do(tmp_path: Path) -> None:
    """Snakemake raises this before it reads the Snakefile, so the workflow cannot catch it: the README
    names the message and the fix in one line."""
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    run = subprocess.run([snakemake, "-n", "--cores", "1", "--configfile", "config.yaml", "train"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    last = [line for line in (run.stdout + run.stderr).splitlines() if "Error" in line][-1]
    assert last == "FileNotFoundError: [Errno 2] No such file or directory: 'train'"
    readme = (REPO / "README.md").read_text()
    assert "FileNotFoundError: [Errno 2] No such file or directory: '<your target>'" in readme
    assert "snakemake --cores 8 train --configfile config.yaml configs/own_data.yaml" in readme


@pytest.mark.workflow
def test_an_own_data_dry_run_plans_no_voe_job(tmp_path: Path) -> None:
    """With the overlay's voe.sets emptied the workflow has no VoE jobs at all (summarize still runs)."""
    video = tmp_path / "a.mp4"
    video.touch()
    (tmp_path / "manifest.csv").write_text(f"path,subject,age_days\n{video},s1,30\n")
    (tmp_path / "lab.yaml").write_text(f"data: {{manifest: {tmp_path / 'manifest.csv'}}}\nresults: {tmp_path / 'res'}\n")
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    run = subprocess.run([snakemake, "-n", "--cores", "2", "--configfile", "config.yaml", "configs/own_data.yaml",
                          str(tmp_path / "lab.yaml")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    jobs = {line.split()[0] for line in run.stdout.splitlines() if line.strip() and line.split()[-1].isdigit()}
    assert "summarize" in jobs and "index_videos" in jobs
    assert not jobs & {"prepare_voe", "surprise", "voe_readout"}, jobs
