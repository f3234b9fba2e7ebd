"""Labelled benchmarks from a lab's own data: generic sources, dataset adapters, splits, bad-input handling.

Every source yields the same generic labelled manifest (``manifest.MANIFEST_COLUMNS``); the shared
steps decode it into clips, split it, check it and write it in the ``prepare_benchmark`` contract::

    manifest = ucf101_manifest(root="/data/UCF-101")            # or any other source below
    items, clips, status = build_benchmark(manifest, media="video", frames=16, size=64, frame_step=2)
    write_benchmark(items, clips, status=status, out_table=..., out_cache=..., out_status=...)

Clips are placed by ``frame_step`` / ``target_fps`` and a start, or by one of the seed study's sampling
policies (``seed_frame_indices``, ``seed_clip_indices``; ``sampling``).

Sources: ``read_labelled_manifest`` (``video_manifest`` / ``image_manifest``), ``video_folder_manifest``,
``image_folder_manifest``; adapters ``ucf101_manifest``, ``ssv2_manifest``, ``toybox_manifest``,
``cifar10_manifest``. See ``docs/benchmarks.md``.
"""

from typing import TYPE_CHECKING

from devcurriculum.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from devcurriculum.evalsets.labelled.build import DEFAULT_SPLIT_MODE, SOURCE_MEDIA, build_benchmark
    from devcurriculum.evalsets.labelled.cifar10 import cifar10_manifest, read_cifar10
    from devcurriculum.evalsets.labelled.folders import image_folder_manifest, video_folder_manifest
    from devcurriculum.evalsets.labelled.loading import STATUS_COLUMNS, load_clips, still_image_clip
    from devcurriculum.evalsets.labelled.manifest import (
        MANIFEST_COLUMNS,
        LabelledDataError,
        read_labelled_manifest,
        validate_manifest,
    )
    from devcurriculum.evalsets.labelled.sampling import (
        SEED_POLICIES,
        frame_offsets,
        plan_clip,
        seed_clip_indices,
        seed_frame_indices,
    )
    from devcurriculum.evalsets.labelled.splits import assign_splits, check_usable, limit_per_class, split_by_groups
    from devcurriculum.evalsets.labelled.ssv2 import ssv2_manifest
    from devcurriculum.evalsets.labelled.toybox import toybox_manifest
    from devcurriculum.evalsets.labelled.ucf101 import ucf101_manifest
    from devcurriculum.evalsets.labelled.writer import BENCHMARK_SCHEMA, STATUS_SCHEMA, write_benchmark
else:  # at run time each name is imported from its module when first used (utils/lazy.py)
    __getattr__, __dir__ = lazy_exports(__name__, __file__)

__all__ = [
    "BENCHMARK_SCHEMA",
    "DEFAULT_SPLIT_MODE",
    "MANIFEST_COLUMNS",
    "SEED_POLICIES",
    "SOURCE_MEDIA",
    "STATUS_COLUMNS",
    "STATUS_SCHEMA",
    "LabelledDataError",
    "assign_splits",
    "build_benchmark",
    "check_usable",
    "cifar10_manifest",
    "frame_offsets",
    "image_folder_manifest",
    "limit_per_class",
    "load_clips",
    "plan_clip",
    "read_cifar10",
    "read_labelled_manifest",
    "seed_clip_indices",
    "seed_frame_indices",
    "split_by_groups",
    "ssv2_manifest",
    "still_image_clip",
    "toybox_manifest",
    "ucf101_manifest",
    "validate_manifest",
    "video_folder_manifest",
    "write_benchmark",
]
