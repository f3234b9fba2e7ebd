"""The embedded demo world: procedurally rendered "infant-like" egocentric videos whose visual
statistics change with the simulated child's age, plus a held-out labelled benchmark of moving shapes.

Entry point (rule ``make_demo_videos``): :func:`render_demo`. The modules, each with one job:
:mod:`.world` (age -> statistics, random streams), :mod:`.subjects` (the simulated children),
:mod:`.room`, :mod:`.camera`, :mod:`.actors`, :mod:`.figures`, :mod:`.draw` (drawing),
:mod:`.scene` (one video from a set of statistics), :mod:`.measure` (pixel measures),
:mod:`.video` (training videos and files), :mod:`.benchmark` (the labelled clips), :mod:`.build`
(the whole demo). See ``docs/demo_world.md``.
"""

from typing import TYPE_CHECKING

from devcurriculum.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from devcurriculum.demo.benchmark import render_benchmark_clip
    from devcurriculum.demo.build import render_demo
    from devcurriculum.demo.scene import RenderedVideo
    from devcurriculum.demo.subjects import Subject, plan_subjects
    from devcurriculum.demo.video import render_video, render_video_frames, write_mp4
    from devcurriculum.demo.world import SceneStats, World
else:  # at run time each name is imported from its module when first used (utils/lazy.py)
    __getattr__, __dir__ = lazy_exports(__name__, __file__)

__all__ = [
    "RenderedVideo",
    "SceneStats",
    "Subject",
    "World",
    "plan_subjects",
    "render_benchmark_clip",
    "render_demo",
    "render_video",
    "render_video_frames",
    "write_mp4",
]
