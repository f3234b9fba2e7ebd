"""The demo's optional "view" label (what is in view: a carer's face, a hand, a toy or only the room)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from demo_cases import GROUPS, TINY_DEMO, decode

from devcurriculum.config import DemoBenchmarkConfig, DemoConfig
from devcurriculum.demo import World, render_demo
from devcurriculum.demo.benchmark import VIEWS, render_benchmark_clip, render_view_clip

SKIN_MIN = 60  # every skin tone has a channel above this; rooms are desaturated


def test_views_are_off_by_default(demo_dir: Path) -> None:
    assert DemoBenchmarkConfig().views_per_class == 0
    assert not (demo_dir / "benchmark" / "views.csv").exists()
    assert not list((demo_dir / "benchmark").glob("view_*.mp4"))


def test_view_clips_are_deterministic_and_differ_by_view(world: World) -> None:
    kwargs = {"bench": DemoBenchmarkConfig(frames=6), "seed": 0, "item_index": 5, "size": 32, "fps": 8}
    clips = {v: render_view_clip(world, v, **kwargs).frames for v in VIEWS}
    for view, frames in clips.items():
        assert frames.shape == (6, 32, 32, 3) and frames.dtype == np.uint8
        np.testing.assert_array_equal(frames, render_view_clip(world, view, **kwargs).frames)
    # same stream, same room: the views differ only by what is drawn on top of it
    room = clips["room"].astype(int)
    for view in ("face", "hand", "toy"):
        assert np.abs(clips[view].astype(int) - room).max() > 0, view
    with pytest.raises(ValueError, match="unknown view"):
        render_view_clip(world, "cat", **kwargs)


def test_face_view_shows_a_large_face_and_room_view_shows_none(world: World) -> None:
    bench = DemoBenchmarkConfig(frames=4)
    kwargs = {"bench": bench, "seed": 1, "size": 48, "fps": 8}
    for item in range(3):
        face = render_view_clip(world, "face", item_index=item, **kwargs).frames.astype(int)
        room = render_view_clip(world, "room", item_index=item, **kwargs).frames.astype(int)
        changed = (np.abs(face - room).sum(-1) > 0).mean(axis=(1, 2))
        assert (changed > 0.1).all()  # the face covers a good part of every frame


def test_shape_direction_clips_do_not_depend_on_views(world: World) -> None:
    kwargs = {"seed": 0, "item_index": 3, "size": 32, "fps": 8}
    a = render_benchmark_clip(world, "cross", "left", bench=DemoBenchmarkConfig(frames=6), **kwargs).frames
    b = render_benchmark_clip(world, "cross", "left", bench=DemoBenchmarkConfig(frames=6, views_per_class=3),
                              **kwargs).frames
    np.testing.assert_array_equal(a, b)


def test_render_demo_writes_views_csv(tmp_path: Path, demo_dir: Path) -> None:
    mapping = TINY_DEMO.shaping() if hasattr(TINY_DEMO, "shaping") else {}
    demo = DemoConfig.from_mapping({**mapping, "benchmark": {**mapping.get("benchmark", {}), "views_per_class": 2}})
    render_demo(demo=demo, age_groups=GROUPS, out_dir=tmp_path)
    views = pd.read_csv(tmp_path / "benchmark" / "views.csv")
    assert list(views.columns) == ["item_id", "path", "view"]
    assert views.groupby("view").size().to_dict() == dict.fromkeys(VIEWS, 2)
    for path in views["path"]:
        assert decode(tmp_path / "benchmark" / path).shape == (6, 32, 32, 3)
    # the shape x direction benchmark is byte-identical with and without the views
    assert (tmp_path / "benchmark" / "labels.csv").read_bytes() == (demo_dir / "benchmark" / "labels.csv").read_bytes()


def test_view_toy_scale_is_checked() -> None:
    from devcurriculum.config import ConfigError

    with pytest.raises(ConfigError, match="view_toy_scale"):
        DemoBenchmarkConfig.from_mapping({"view_toy_scale": [0.3, 0.5]})
