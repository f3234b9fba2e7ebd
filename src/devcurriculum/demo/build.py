"""Entry point of the rule ``make_demo_videos``: render the whole demo into a folder."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from devcurriculum.config import DemoConfig
from devcurriculum.datasets.manifest import validate_age_groups
from devcurriculum.demo.benchmark import n_items, render_benchmark
from devcurriculum.demo.subjects import plan_subjects
from devcurriculum.demo.video import render_video, write_csv, write_mp4
from devcurriculum.demo.world import World
from devcurriculum.utils.progress import progress_bar

log = logging.getLogger("devcurriculum.demo")


def _render_training_videos(
    demo: DemoConfig, world: World, age_groups: Mapping[str, tuple[float, float]], out: Path,
    progress: Callable[[], object],
) -> list[dict[str, Any]]:
    """Render and encode ``videos/<subject>_v<k>.mp4`` for every child; returns their manifest rows."""
    rows: list[dict[str, Any]] = []
    for subject in plan_subjects(age_groups, demo.subjects_per_group, demo.seed):
        for k in range(demo.videos_per_subject):
            rendered = render_video(
                world, subject.age_days, seed=demo.seed, subject_index=subject.index, video_index=k,
                n_frames=demo.n_frames, size=demo.size, fps=demo.fps,
            )
            rel = f"videos/{subject.name}_v{k}.mp4"
            write_mp4(rendered.frames, out / rel, demo.fps)
            rows.append({"path": rel, "subject": subject.name, "age_days": subject.age_days,
                         "demo_group": subject.group, **rendered.stats})
            progress()
    return rows


def render_demo(*, demo: DemoConfig, age_groups: Mapping[str, tuple[float, float]], out_dir: str | Path) -> Path:
    """Render the demo's training videos and held-out benchmark; return the path of ``manifest.csv``.

    Writes ``videos/<subject>_v<k>.mp4``, ``benchmark/<item_id>.mp4``, ``benchmark/labels.csv`` and,
    last (so its presence means the rest is complete), ``manifest.csv``; every file atomically.
    """
    validate_age_groups(age_groups)  # the demo is also rendered from Python, without the workflow's checks
    world = World.from_config(demo.world, age_groups)
    out = Path(out_dir)
    n_videos = len(age_groups) * demo.subjects_per_group * demo.videos_per_subject
    n_bench = n_items(demo.benchmark)
    log.info(
        "rendering %d videos (%d frames at %dx%d, %d fps) and %d benchmark clips into %s; ages %s days map to "
        "the world's endpoints", n_videos, demo.n_frames, demo.size, demo.size, demo.fps,
        n_bench, out, list(world.age_span),
    )
    started = time.perf_counter()
    with progress_bar(total=n_videos + n_bench, desc="demo world", unit="video", mininterval=1.0) as bar:
        rows = _render_training_videos(demo, world, age_groups, out, bar.update)
        render_benchmark(
            world, demo.benchmark, seed=demo.seed, size=demo.size, fps=demo.fps, out_dir=out / "benchmark",
            progress=bar.update,
        )
    manifest = out / "manifest.csv"
    write_csv(pd.DataFrame(rows).round(6), manifest)
    log.info("rendered %d videos and %d benchmark clips in %.1f s", n_videos, n_bench, time.perf_counter() - started)
    return manifest
