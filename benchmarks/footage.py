"""Footage for the data benchmarks: the demo world, or the real Ego4D head-camera clips (shared folder)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from devcurriculum.config import ClipConfig, DemoConfig
from devcurriculum.demo import render_demo

REPO = Path(__file__).resolve().parents[1]
#: ../shared/data/real_videos seen from the checkout; a git worktree (/work/wt/<name>) sits one level deeper
REAL_VIDEOS = next(
    (p / "shared" / "data" / "real_videos" for p in (REPO.parent, REPO.parent.parent)
     if (p / "shared" / "data" / "real_videos").is_dir()),
    REPO.parent / "shared" / "data" / "real_videos",
)
#: the seed study's clips: 16 frames (every 2nd) at 224 px
SEED_STUDY_CLIP = ClipConfig(frames=16, frame_step=2, stride=16, size=224)


def demo_config() -> dict:
    """config.yaml as a dict (the embedded demo's settings)."""
    return yaml.safe_load((REPO / "config.yaml").read_text())


def demo_manifest(out: Path, size: int | None = None) -> Path:
    """The demo world of config.yaml (at ``size`` px when given) rendered into ``out``; its manifest."""
    cfg = demo_config()
    demo = DemoConfig.from_mapping({**cfg.get("demo", {}), **({"size": size} if size else {})})
    return render_demo(demo=demo, age_groups=cfg["data"]["age_groups"], out_dir=out)


def seed_study_footage(out: Path) -> tuple[Path, str]:
    """A manifest of the Ego4D clips of ../shared/data/real_videos (the demo world at 256 px if absent)."""
    listing = REAL_VIDEOS / "manifest.csv"
    if not listing.is_file():
        return demo_manifest(out / "demo", 256), "demo world at 256 px (no real footage here)"
    rows = pd.read_csv(listing)
    ego = rows[rows["file"].str.startswith("egocentric/")]
    manifest = pd.DataFrame({"path": [str(REAL_VIDEOS / f) for f in ego["file"]], "subject": "ego", "age_days": 1.0})
    path = out / "manifest.csv"
    manifest.to_csv(path, index=False)
    return path, f"{len(manifest)} Ego4D head-camera clips (real footage)"
