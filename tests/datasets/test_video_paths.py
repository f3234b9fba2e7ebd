"""Video paths that survive a moved project (issue 25, item 10): the chunk plans name videos next to the
manifest under its folder as configured now; the fingerprint counts them by their path from there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa

from devcurriculum.datasets.video_index import video_fingerprint
from devcurriculum.datasets.video_paths import (
    manifest_folder,
    rebase_video_paths,
    recorded_manifest_dir,
    relative_to,
)
from devcurriculum.utils.io import provenance, write_table

ROWS = [{"video_id": "a", "path": "/old/proj/results/demo/videos/a.mp4"},
        {"video_id": "b", "path": "/data/corpus/b.mp4"},
        {"video_id": "c", "path": "/old/proj/results/demo-other/c.mp4"}]


def test_videos_under_the_recorded_manifest_folder_are_named_under_the_current_one() -> None:
    rebased = rebase_video_paths(ROWS, "/old/proj/results/demo", "results/demo")
    assert [r["path"] for r in rebased] == [
        "results/demo/videos/a.mp4",            # next to the manifest: relative to its folder as configured
        "/data/corpus/b.mp4",                   # elsewhere: as recorded
        "/old/proj/results/demo-other/c.mp4",   # a sibling folder is not inside it
    ]
    assert [r["video_id"] for r in rebased] == ["a", "b", "c"] and ROWS[0]["path"].startswith("/old")  # a copy
    # moved, or named by an absolute path: the same videos
    assert rebase_video_paths(ROWS, "/old/proj/results/demo", "/new/place/results/demo")[0]["path"] == (
        "/new/place/results/demo/videos/a.mp4")
    assert rebase_video_paths(ROWS, None, "results/demo") == ROWS  # a table indexed before the folder was recorded


def test_relative_to() -> None:
    assert relative_to("/a/b/c.mp4", "/a") == "b/c.mp4"
    assert relative_to("/a/b/c.mp4", "/a/") == "b/c.mp4"
    assert relative_to("/ab/c.mp4", "/a") is None


def test_videos_parquet_records_the_manifest_folder(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "manifest.csv").write_text("path,subject,age_days\n")
    table = pa.table({"path": ["x"]})
    write_table(table, tmp_path / "videos.parquet",
                metadata=provenance("index_videos", manifest_dir=manifest_folder(tmp_path / "m" / "manifest.csv")))
    assert recorded_manifest_dir(tmp_path / "videos.parquet") == str(tmp_path.resolve() / "m")
    write_table(table, tmp_path / "old.parquet", metadata=provenance("index_videos"))
    assert recorded_manifest_dir(tmp_path / "old.parquet") is None


def test_fingerprint_of_a_moved_project_is_unchanged_and_outside_videos_count_by_path(tmp_path: Path) -> None:
    project = tmp_path / "home" / "proj"
    (project / "videos").mkdir(parents=True)
    outside = tmp_path / "data" / "o.mp4"
    outside.parent.mkdir()
    for path in (project / "videos" / "a.mp4", outside):
        path.write_bytes(b"video bytes")
    (project / "manifest.csv").write_text(f"path,subject,age_days\nvideos/a.mp4,s1,30\n{outside},s2,40\n")
    before = video_fingerprint(project / "manifest.csv")
    moved = tmp_path / "scratch" / "proj"
    moved.parent.mkdir()
    shutil.copytree(project, moved)  # copy2 keeps mtimes, as cp -a does
    assert video_fingerprint(moved / "manifest.csv") == before
    shutil.rmtree(project)
    assert video_fingerprint(moved / "manifest.csv") == before  # the original gone: still the same videos
    other = tmp_path / "data2" / "o.mp4"
    other.parent.mkdir()
    shutil.copy2(outside, other)
    (moved / "manifest.csv").write_text(f"path,subject,age_days\nvideos/a.mp4,s1,30\n{other},s2,40\n")
    assert video_fingerprint(moved / "manifest.csv") != before  # another file outside: another input
