"""A corpus of 400 videos through index -> chunk (3 shards per group) -> features -> difficulty.

Also: the sharded clip index and its pixels equal an unsharded run, and appending one video to the
manifest re-chunks only the one shard that receives it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from wfutil import REPO, dry_run_jobs, job_counts, snakemake, write_config

from devcurriculum.config import ClipConfig, DemoConfig
from devcurriculum.datasets.clip_dataset import GroupCache
from devcurriculum.datasets.clips import CLIP_SCHEMA, assign_shards, chunk_group, group_videos
from devcurriculum.datasets.synthetic_corpus import replicate_corpus
from devcurriculum.demo import render_demo

pytestmark = pytest.mark.workflow

COPIES = 67  # 6 demo videos x 67 = 402 videos
SHARDS = 3


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scale")
    cfg = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    demo = render_demo(demo=DemoConfig.from_mapping(cfg["demo"]), age_groups=cfg["data"]["age_groups"], out_dir=root / "demo")
    manifest = replicate_corpus(demo, root / "corpus", COPIES)
    workdir = root / "wf"
    workdir.mkdir()
    write_config(workdir, {"data.source": "manifest", "data.manifest": str(manifest), "data.chunk_shards": SHARDS})
    snakemake(workdir, "features")
    return workdir


def test_every_data_stage_covers_the_whole_corpus(corpus: Path) -> None:
    res = corpus / "results"
    videos = pd.read_parquet(res / "data/videos.parquet")
    assert len(videos) == 6 * COPIES and (videos["status"] == "ok").all()
    n_clips = 0
    for group in ("g0", "g1", "g2"):
        index = pd.read_parquet(res / f"data/clips/{group}.parquet")
        shard_rows = [pq.read_metadata(res / f"data/clips/{group}/shard-{i}-of-{SHARDS}.parquet").num_rows
                      for i in range(SHARDS)]
        assert min(shard_rows) > 0 and sum(shard_rows) == len(index)
        assert index["shard"].value_counts().sort_index().tolist() == shard_rows
        assert index["cache_row"].tolist() == list(range(len(index)))
        n_clips += len(index)
    assert n_clips == 6 * COPIES * 4  # 3 s at 10 fps, clips of 4 frames every 2nd, stride 6: 4 per video
    features = pq.read_table(res / "features/vit-random.parquet")
    difficulty = pd.read_parquet(res / "difficulty/vit-random.parquet")
    assert features.num_rows == len(difficulty) == n_clips
    assert difficulty["difficulty"].between(0, 1).all() and difficulty["clip_id"].is_unique


def test_sharded_index_and_pixels_equal_an_unsharded_run(corpus: Path, tmp_path: Path) -> None:
    res = corpus / "results"
    cfg = yaml.safe_load((corpus / "config.yaml").read_text())
    clip = ClipConfig.from_mapping(cfg["data"]["clip"])
    chunk_group(videos=res / "data/videos.parquet", group="g1", clip=clip, out_table=tmp_path / "g1.parquet",
                out_cache=tmp_path / "g1.npy")
    sharded, whole = GroupCache(res / "data/clips/g1.parquet"), GroupCache(tmp_path / "g1.parquet")
    assert sharded.table[CLIP_SCHEMA.names].equals(whole.table[CLIP_SCHEMA.names])
    assert set(sharded.table["shard"]) == {0, 1, 2} and set(whole.table["shard"]) == {0}
    rows = np.arange(len(whole))
    assert np.array_equal(sharded.read(rows), whole.read(rows))


def test_appending_one_video_rechunks_only_the_shard_that_receives_it(corpus: Path) -> None:
    cfg = yaml.safe_load((corpus / "config.yaml").read_text())
    manifest = Path(cfg["data"]["manifest"])
    rows = pd.read_csv(manifest)
    g1 = rows[rows["age_days"].between(120, 240, inclusive="left")].iloc[0]
    extra = manifest.parent / "videos" / "appended.mp4"
    extra.hardlink_to(manifest.parent / g1["path"])
    appended = pd.concat([rows, pd.DataFrame([{"path": "videos/appended.mp4", "subject": "new", "age_days": g1["age_days"]}])])
    appended.to_csv(manifest, index=False)

    snakemake(corpus, "results/data/videos.parquet")  # the checkpoint: chunk jobs are planned from its table
    plan = assign_shards(group_videos(corpus / "results/data/videos.parquet", "g1"), SHARDS)
    receiving = next(i for i, videos in enumerate(plan) if any(v["path"].endswith("appended.mp4") for v in videos))
    jobs = dry_run_jobs(corpus)
    chunk_jobs = [wc for rule, wc in jobs if rule == "chunk_clips"]
    assert chunk_jobs == [{"clipset": "", "group": "g1", "shard": str(receiving)}]  # the default clip setting
    assert [wc for rule, wc in jobs if rule == "gather_clips"] == [{"clipset": "", "group": "g1"}]
    counts = job_counts(jobs)
    assert counts["index_videos"] == 0 and counts["extract_features"] == 2 and counts["score_difficulty"] == 1
