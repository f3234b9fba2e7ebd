"""Inputs checked before anything is queued (issue 25, items 7 and 8).

Reproduced: a manifest with negative or non-numeric ages passed ``snakemake -n`` (21 jobs planned)
and failed only when ``index_videos`` ran, with a doubled traceback, its rows listed out of order and
"row 1" meaning the first data row; a manifest whose paths were all wrong passed index and chunk with
warnings and failed at pretrain ("stage 0 has an empty pool"); ages in months (every age < 40 with
day-based groups) failed at pretrain ("stage 1 has an empty pool"); a text file was indexed ``ok`` as a
52.6 s video at 25 fps (FFmpeg's tty demuxer).
"""

from __future__ import annotations

import copy
import logging
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_video_index import make_video, write_manifest

from devcurriculum.config import WorkflowConfig
from devcurriculum.datasets.decode import VideoDecodeError, probe_video
from devcurriculum.datasets.manifest import ManifestError, age_unit_warning, read_manifest
from devcurriculum.datasets.video_index import index_videos
from devcurriculum.workflow import check_manifest

REPO = Path(__file__).resolve().parents[2]
GROUPS = {"g0": [0, 120], "g1": [120, 240], "g2": [240, 400]}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ---- rows named as the file numbers them, in ascending order ------------------------------------


def test_csv_rows_are_named_by_their_line_in_the_file(tmp_path: Path) -> None:
    m = write(tmp_path / "m.csv", "path,subject,age_days\na.mp4,s1,10\n\nb.mp4,s1,ten\n")  # a blank line 3
    with pytest.raises(ManifestError) as err:
        read_manifest(m)
    assert str(err.value) == f"manifest {m}: age_days must be a number of days >= 0, got line 4 ('ten')"


def test_age_problems_are_listed_in_ascending_order_in_one_line(tmp_path: Path) -> None:
    m = write(tmp_path / "m.csv", "path,subject,age_days\na.mp4,s1,-5\nb.mp4,s1,x\nc.mp4,s2,-1\nd.mp4,s2,y\ne.mp4,s3,3\n")
    with pytest.raises(ManifestError) as err:
        read_manifest(m)
    assert str(err.value) == (
        f"manifest {m}: age_days must be a number of days >= 0, got lines 2 ('-5'), 3 ('x'), 4 ('-1'), 5 ('y')"
    )


def test_problems_are_ordered_by_their_first_line(tmp_path: Path) -> None:
    m = write(tmp_path / "m.csv", "path,subject,age_days\na.mp4,,10\n,s1,-3\n")
    with pytest.raises(ManifestError) as err:
        read_manifest(m)
    assert str(err.value) == (
        f"manifest {m}: empty subject in line 2; empty path in line 3; age_days must be a number of days >= 0, "
        "got line 3 ('-3')"
    )


def test_a_quoted_value_over_two_lines_keeps_the_line_numbers_of_the_file(tmp_path: Path) -> None:
    m = write(tmp_path / "m.csv", 'path,subject,age_days\n"a\nb.mp4",s1,10\nc.mp4,s2,-1\n')
    with pytest.raises(ManifestError, match=r"got line 4 \('-1'\)$"):
        read_manifest(m)


def test_an_overlong_row_is_named_by_its_line(tmp_path: Path) -> None:
    m = write(tmp_path / "m.csv", "path,subject,age_days\na.mp4,s1,30,31\n")
    with pytest.raises(ManifestError, match=r"^manifest .*: line 2 \(4 fields\) has more fields than the header's 3"):
        read_manifest(m)


def test_parquet_rows_are_named_row_n_from_1(tmp_path: Path) -> None:
    m = tmp_path / "m.parquet"
    pd.DataFrame({"path": ["a.mp4", "b.mp4"], "subject": ["s1", "s2"], "age_days": ["10", "-4"]}).to_parquet(m)
    with pytest.raises(ManifestError, match=r"got row 2 \('-4'\)$"):
        read_manifest(m)


# ---- checked when the DAG is built ---------------------------------------------------------------


def workflow_config(manifest: Path, **data: object) -> WorkflowConfig:
    cfg = yaml.safe_load((REPO / ".test/config.yaml").read_text())
    cfg = copy.deepcopy(cfg)
    cfg["data"].update({"source": "manifest", "manifest": str(manifest), **data})
    return WorkflowConfig.from_mapping(cfg)


def test_a_bad_manifest_stops_the_workflow_in_one_line(tmp_path: Path) -> None:
    m = write(tmp_path / "m.csv", "path,subject,age_days\na.mp4,s1,-5\n")
    with pytest.raises(SystemExit) as err:
        check_manifest(workflow_config(m))
    assert str(err.value) == f"manifest error: manifest {m}: age_days must be a number of days >= 0, got line 2 ('-5')"


def test_a_manifest_whose_paths_all_miss_stops_the_workflow_naming_them(tmp_path: Path) -> None:
    rows = "".join(f"v{i}.mp4,s{i},{10 * i}\n" for i in range(12))
    m = write(tmp_path / "m.csv", "path,subject,age_days\n" + rows)
    with pytest.raises(SystemExit) as err:
        check_manifest(workflow_config(m))
    text = str(err.value)
    assert text.startswith(f"manifest error: manifest {m}: none of its 12 video paths exists: line 2 ({tmp_path / 'v0.mp4'}), ")
    assert text.endswith(f"and 7 more (relative paths resolve against the manifest's folder {tmp_path})")
    assert "\n" not in text


def test_a_good_manifest_passes_and_months_are_warned_about(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.mp4").write_bytes(b"x")
    m = write(tmp_path / "m.csv", "path,subject,age_days\na.mp4,s1,30\nb.mp4,s2,150\n")
    check_manifest(workflow_config(m))
    assert capsys.readouterr().err == ""
    months = write(tmp_path / "months.csv", "path,subject,age_days\na.mp4,s1,3\nb.mp4,s2,11\nc.mp4,s3,24\n")
    check_manifest(workflow_config(months))
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"warning: {age_unit_warning(read_manifest(months)['age_days'], GROUPS, months)}"


def test_month_like_ages_get_a_warning_that_names_the_unit() -> None:
    text = age_unit_warning(pd.Series([3.0, 11.0, 24.0]), GROUPS, "m.csv")
    assert text == (
        "manifest m.csv: every age_days is below 40 (the largest is 24) but data.age_groups reach 400 days: "
        "are these ages in months? age_days counts days (months x 30.44); groups g1, g2 get no videos"
    )
    assert age_unit_warning(pd.Series([3.0, 80.0]), GROUPS, "m.csv") is None  # some ages beyond 40 days
    assert age_unit_warning(pd.Series([3.0, 11.0]), {"m0": [0, 12], "m1": [12, 36]}, "m.csv") is None  # month groups


def test_the_dry_run_of_a_bad_manifest_plans_nothing_and_prints_one_line(tmp_path: Path) -> None:
    m = write(tmp_path / "m.csv", "path,subject,age_days\na.mp4,s1,-5\nb.mp4,s2,abc\n")
    cfg = yaml.safe_load((REPO / ".test/config.yaml").read_text())
    cfg["data"].update({"source": "manifest", "manifest": str(m)})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(tmp_path / "config.yaml"), "--cores", "1", "--dry-run"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert (f"manifest error: manifest {m}: age_days must be a number of days >= 0, got lines 2 ('-5'), 3 ('abc')"
            in lines), lines
    assert len(lines) <= 3 and "Traceback" not in proc.stderr, lines


# ---- at index time -------------------------------------------------------------------------------


def test_index_fails_when_no_video_can_be_used_naming_how_many_and_which(tmp_path: Path) -> None:
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"not a video")
    rows = [("a.mp4", "s1", 10), ("b.mp4", "s1", 20), *[(f"gone{i}.mp4", "s2", 30) for i in range(6)]]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    with pytest.raises(ManifestError) as err:
        index_videos(manifest=manifest, out_path=tmp_path / "videos.parquet", age_groups=GROUPS)
    text = str(err.value)
    assert text.startswith(f"manifest {manifest}: none of its 8 videos can be used: 6 not found (line 4 "
                           f"({tmp_path / 'gone0.mp4'}), line 5 ({tmp_path / 'gone1.mp4'}), line 6 ")
    assert "and 3 more); 2 unopenable (line 2 (" in text and "\n" not in text
    assert not (tmp_path / "videos.parquet").exists()


def test_index_warns_about_month_like_ages_and_groups_left_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    video = make_video(tmp_path / "a.mp4", n=6)
    manifest = write_manifest(tmp_path / "m.csv", [(str(video), "s1", 5), (str(video.with_name("b.mp4")), "s2", 30)])
    make_video(tmp_path / "b.mp4", n=6)
    with caplog.at_level(logging.WARNING, logger="devcurriculum"):
        summary = index_videos(manifest=manifest, out_path=tmp_path / "videos.parquet", age_groups=GROUPS)
    assert summary["ok_per_group"] == {"g0": 2, "g1": 0, "g2": 0}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert age_unit_warning(pd.Series([5.0, 30.0]), GROUPS, manifest) in warnings
    assert ("age groups g1 [120, 240), g2 [240, 400) have no usable video: a curriculum stage over one of them "
            "would have an empty pool") in warnings


def test_a_text_file_is_not_a_video(tmp_path: Path) -> None:
    text = write(tmp_path / "notes.txt", "hello world this is a text file line\n" * 9000)  # FFmpeg: tty, 'ansi' video
    with pytest.raises(VideoDecodeError) as err:
        probe_video(text)
    assert err.value.kind == "not_a_video"
    assert str(err.value) == "not a video: FFmpeg reads it as text (tty demuxer, ansi codec)"
    video = make_video(tmp_path / "a.mp4", n=6)
    manifest = write_manifest(tmp_path / "m.csv", [(str(video), "s1", 10), (str(text), "s1", 20)])
    summary = index_videos(manifest=manifest, out_path=tmp_path / "videos.parquet", age_groups=GROUPS)
    assert summary["ok"] == 1 and summary["error_reasons"] == {"not_a_video": 1}
