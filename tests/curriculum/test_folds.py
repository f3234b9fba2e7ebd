"""stage_data: seed_folds: segments of the concatenated group, dealt round-robin, a fold per stage (the seed study's)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devcurriculum.config import ConfigError, CurriculumConfig, model_config
from devcurriculum.curriculum import CurriculumPlan, CurriculumSampler
from devcurriculum.curriculum.folds import (
    FOLD_SCHEMA,
    assign_folds,
    fold_rule_for,
    fold_stage_rows,
    run_fold_rows,
    stage_fold,
    video_offsets,
    write_fold_table,
)
from devcurriculum.curriculum.preview import FOLD_FIELDS, PREVIEW_FILE_SCHEMA, build_preview
from devcurriculum.utils.io import read_metadata, write_table

SEGMENT = 1800.0  # 30 min = 54 000 frames at 30 fps


def _videos(rows: list[tuple[str, str, str, float, float, int]]) -> pd.DataFrame:
    """videos.parquet rows: (video_id, subject, group, age_days, fps, n_frames), all ok, path = video_id."""
    return pd.DataFrame(
        [{"video_id": v, "path": f"/data/{v}.mp4", "subject": s, "age_days": a, "age_group": g, "fps": f,
          "n_frames": n, "status": "ok"} for v, s, g, a, f, n in rows]
    )


def reference_fold_of_frames(n_frames: list[int], fold: int, segment: int = 54000) -> np.ndarray:
    """Transcription of the seed study's ``get_fold`` on the concatenated frame list of a group: the indices
    (into the concatenation) of every frame of ``fold``: chunks ``F[k*S:(k+1)*S]`` kept when ``k % 3 == fold``."""
    total = sum(n_frames)
    frames = np.arange(total)
    kept = [frames[k * segment:(k + 1) * segment] for k in range(-(-total // segment)) if k % 3 == fold]
    return np.concatenate(kept) if kept else np.empty(0, dtype=np.int64)


def test_stage_fold_follows_the_seed_studys_slurm_scripts() -> None:
    # generative/: fold = (seed + s) % 3 for stages s = 1, 2, 3; predictive/, contrastive/, controls: seed % 3
    for seed in (0, 1, 2, 316, 681, 682, 683):
        assert [stage_fold("rotating", seed, k) for k in range(3)] == [(seed + s) % 3 for s in (1, 2, 3)]
        assert [stage_fold("fixed", seed, k) for k in range(3)] == [seed % 3] * 3
    # a rotating run sees every third of the data once over three stages
    assert sorted(stage_fold("rotating", 5, k) for k in range(3)) == [0, 1, 2]
    with pytest.raises(ValueError, match="fold_rule must be 'rotating' or 'fixed', got 'other'"):
        stage_fold("other", 0, 0)  # type: ignore[arg-type]


def test_folds_equal_the_reference_chunks_of_the_concatenated_group() -> None:
    # the notes' example: subjects with 100 000 and 70 000 frames at 30 fps;
    # fold 0 = F[0:54000] + F[162000:170000], fold 1 = F[54000:108000] (across the subjects), fold 2 = F[108000:162000]
    videos = _videos([("b", "s2", "g0", 40.0, 30.0, 70000), ("a", "s1", "g0", 35.0, 30.0, 100000)])
    starts = np.arange(0, 170000, 250)
    rows = pd.DataFrame({"video_id": np.where(starts < 100000, "a", "b"),
                         "start_frame": np.where(starts < 100000, starts, starts - 100000)})
    placed = assign_folds(rows, videos, SEGMENT)
    for fold in range(3):
        reference = set(reference_fold_of_frames([100000, 70000], fold).tolist())
        assert set(starts[placed["fold"].to_numpy() == fold].tolist()) == reference & set(starts.tolist())
    assert placed["segment"].max() == 3 and placed["position_s"].iloc[-1] == pytest.approx(169750 / 30)
    assert len(rows) == len(placed) and (placed["video_id"] == rows["video_id"]).all()  # same rows, same order


def test_positions_are_seconds_of_each_videos_own_fps_and_a_clip_goes_by_its_start_frame() -> None:
    # subject order, not row order: s1 (25 fps, 1 h) comes before s2 (30 fps)
    videos = _videos([("x", "s2", "g0", 50.0, 30.0, 30 * 3600), ("y", "s1", "g0", 50.0, 25.0, 25 * 3600)])
    rows = pd.DataFrame({"video_id": ["y", "y", "y", "x", "x"], "start_frame": [0, 44999, 45000, 0, 30 * 1800]})
    placed = assign_folds(rows, videos, SEGMENT)
    # y frame 44 999 starts at 1799.96 s: segment 0 even if its frames run past 1800 s; 45 000 at 1800 s: segment 1
    assert placed["segment"].tolist() == [0, 0, 1, 2, 3]
    assert placed["fold"].tolist() == [0, 0, 1, 2, 0]
    assert placed["start_s"].tolist() == pytest.approx([0.0, 1799.96, 1800.0, 0.0, 1800.0])
    offsets = video_offsets(videos, SEGMENT).set_index("video_id")["offset_s"]
    assert offsets.to_dict() == pytest.approx({"y": 0.0, "x": 3600.0})


def test_each_group_is_concatenated_on_its_own() -> None:
    videos = _videos([("a", "s1", "g0", 10.0, 30.0, 30 * 5400), ("b", "s9", "g1", 200.0, 30.0, 30 * 5400)])
    rows = pd.DataFrame({"video_id": ["a", "b"], "start_frame": [30 * 2000, 30 * 2000]})
    assert assign_folds(rows, videos, SEGMENT)["fold"].tolist() == [1, 1]


def test_a_group_shorter_than_three_segments_is_refused() -> None:
    videos = _videos([("a", "s1", "g0", 10.0, 30.0, 30 * 5400), ("b", "s2", "g1", 200.0, 15.0, 15 * 64)])
    with pytest.raises(ValueError, match=r"needs at least 3 segments of segment_seconds=1800 s of video per age group, "
                                         r"but group g1 has 64.0 s \(0.04 segments\).*segment_seconds to at most 21.3"):
        video_offsets(videos, SEGMENT)
    assert len(video_offsets(videos, 20.0)) == 2  # shorter segments fit a small corpus


def test_rows_of_unknown_or_failed_videos_are_an_error() -> None:
    videos = _videos([("a", "s1", "g0", 10.0, 30.0, 30 * 5400)])
    videos.loc[len(videos)] = {"video_id": "bad", "path": "/x", "subject": "s1", "age_days": 1.0, "age_group": "g0",
                               "fps": None, "n_frames": None, "status": "error"}
    with pytest.raises(ValueError, match=r"1 row\(s\) come from videos that are not ok videos of the index, e.g. \['bad'\]"):
        assign_folds(pd.DataFrame({"video_id": ["a", "bad"], "start_frame": [0, 0]}), videos, SEGMENT)


def test_the_fold_rule_is_the_curriculums_else_the_models() -> None:
    folds = CurriculumConfig.from_mapping({"order": ["g0"], "stage_data": "seed_folds"})
    fixed = CurriculumConfig.from_mapping({"order": ["g0"], "stage_data": "seed_folds", "fold_rule": "fixed"})
    videomae, vjepa = model_config({"objective": "videomae"}), model_config({"objective": "vjepa"})
    assert (videomae.fold_rule, vjepa.fold_rule, model_config({"objective": "simclr"}).fold_rule) == (
        "rotating", "fixed", "fixed")
    assert fold_rule_for(folds, videomae) == "rotating" and fold_rule_for(folds, vjepa) == "fixed"
    assert fold_rule_for(fixed, videomae) == "fixed"
    # opt-in keys: a config that does not set them keeps its params
    assert "fold_rule" not in videomae.to_dict() and "stage_data" not in CurriculumConfig.from_mapping(
        {"order": ["g0"]}).to_dict()
    assert folds.to_dict()["stage_data"] == "seed_folds"


def test_seed_folds_config_checks() -> None:
    with pytest.raises(ConfigError, match=r"curricula.p.stage_data: seed_folds cannot run with a weighting block"):
        CurriculumConfig.from_mapping({"order": "mixed", "stage_data": "seed_folds", "weighting": {}}, where="curricula.p")
    with pytest.raises(ConfigError, match=r"curricula.d.fold_rule / segment_seconds: set only with stage_data: seed_folds"):
        CurriculumConfig.from_mapping({"order": ["g0"], "fold_rule": "fixed"}, where="curricula.d")
    with pytest.raises(ConfigError, match="stage_data"):
        CurriculumConfig.from_mapping({"order": ["g0"], "stage_data": "thirds"})


def _three_groups(tmp_path, seconds: int = 90) -> tuple[pd.DataFrame, list]:
    """Three groups of two 15-fps videos of ``seconds`` s each, clips every second; their clip tables on disk."""
    videos, tables = [], []
    for gi, group in enumerate(("g0", "g1", "g2")):
        clips = []
        for vi in range(2):
            vid = f"{group}v{vi}"
            videos.append((vid, f"s{gi}{vi}", group, 10.0 + 100 * gi, 15.0, 15 * seconds))
            clips += [{"clip_id": f"{vid}:{s}", "age_group": group, "video_id": vid, "subject": f"s{gi}{vi}",
                       "start_frame": s} for s in range(0, 15 * seconds - 15, 15)]
        path = tmp_path / f"{group}.parquet"
        write_table(pa.Table.from_pylist(clips), path)
        tables.append(path)
    return _videos(videos), tables


def test_training_draws_each_stage_from_its_fold(tmp_path) -> None:
    videos, tables = _three_groups(tmp_path)
    clips = pd.concat([pq.read_table(t).to_pandas() for t in tables], ignore_index=True)
    videos_path = tmp_path / "videos.parquet"
    write_table(pa.Table.from_pandas(videos, preserve_index=False), videos_path)
    curriculum = CurriculumConfig.from_mapping({"order": ["g0", "g1", "g2"], "stage_data": "seed_folds",
                                                "segment_seconds": 20})
    plan = CurriculumPlan.from_config(name="dev", curriculum=curriculum, groups=["g0", "g1", "g2"], steps_per_stage=40)
    pools = {g: np.flatnonzero(clips["age_group"] == g) for g in ("g0", "g1", "g2")}
    folds = assign_folds(clips, videos, 20.0)["fold"].to_numpy()
    for objective, rule in (("videomae", "rotating"), ("simclr", "fixed")):
        for seed in (0, 1, 2):
            rows = run_fold_rows(curriculum, model_config({"objective": objective}), seed, clips, videos_path,
                                 name="dev", blocks=3)
            sampler = CurriculumSampler(plan, pools, batch_size=8, seed=seed, stage_rows=rows, block_steps=40)
            for stage in range(3):
                drawn = np.concatenate([sampler.global_batch(step) for step in range(40 * stage, 40 * stage + 40)])
                want = stage_fold(rule, seed, stage)
                assert set(folds[drawn].tolist()) == {want}, (objective, seed, stage)
                # the whole fold of the stage's group, and nothing else, can be drawn
                pool = sampler.pool_at(40 * stage)
                assert set(pool.tolist()) == set(pools[f"g{stage}"][folds[pools[f"g{stage}"]] == want].tolist())
                assert 0.2 < len(pool) / len(pools[f"g{stage}"]) < 0.45  # about a third
    whole = CurriculumConfig.from_mapping({"order": ["g0"]})
    assert run_fold_rows(whole, model_config({"objective": "videomae"}), 0, clips, None, name="w", blocks=1) is None
    with pytest.raises(ValueError, match="curricula.dev.stage_data is seed_folds: pass the video index"):
        run_fold_rows(curriculum, model_config({"objective": "videomae"}), 0, clips, None, name="dev", blocks=3)


def test_fold_stage_rows_select_the_stage_fold() -> None:
    rows = fold_stage_rows(np.array([0, 1, 2, 0, 1, 2]), "rotating", 1)
    assert rows(0).tolist() == [False, False, True, False, False, True]  # (1 + 1) % 3 = 2
    assert rows(1).tolist() == [True, False, False, True, False, False]


def test_fold_table_and_preview_show_what_each_seed_trains_on(tmp_path) -> None:
    videos, tables = _three_groups(tmp_path)
    videos_path = tmp_path / "videos.parquet"
    write_table(pa.Table.from_pandas(videos, preserve_index=False), videos_path)
    folds_path = tmp_path / "dev.folds.parquet"
    placed = write_fold_table(clip_tables=tables, videos_parquet=videos_path, segment_seconds=20.0, curriculum="dev",
                              out_path=folds_path)
    table = pq.read_table(folds_path)
    assert table.schema.remove_metadata().equals(FOLD_SCHEMA) and table.num_rows == len(placed)
    # each group: 180 s of video in 20 s segments, 9 segments, 3 per fold
    assert placed.groupby("age_group")["segment"].max().tolist() == [8, 8, 8]
    assert placed.groupby(["age_group", "fold"])["segment"].nunique().eq(3).all()
    assert '"g0": [' in read_metadata(folds_path)["devcurriculum.clips_per_fold"]

    cfg = CurriculumConfig.from_mapping({"order": ["g2", "g1", "g0"], "stage_data": "seed_folds", "segment_seconds": 20})
    out, png = tmp_path / "out" / "adev.parquet", tmp_path / "out" / "adev.png"
    preview = build_preview(name="adev", curriculum=cfg, groups=["g0", "g1", "g2"], clip_tables=tables, difficulty=None,
                            steps_per_stage=30, bucket_steps=10, out_table=out, out_plot=png, folds=folds_path)
    written = pq.read_table(out)
    assert written.schema.remove_metadata().equals(pa.schema([*PREVIEW_FILE_SCHEMA, *FOLD_FIELDS]))
    for row in preview.itertuples():
        stage = row.step // 30
        # entry s of the list: the fold a run with seed s (mod 3) trains on at this step
        assert row.fold_rotating == [(s + stage + 1) % 3 for s in range(3)]
        assert row.fold_fixed == [0, 1, 2]
        group = row.pool[0]
        assert row.fold_clips == placed[placed["age_group"] == group].groupby("fold").size().tolist()
    # a curriculum that sets its rule shows only that rule; a whole-data curriculum keeps the plain schema
    pinned = CurriculumConfig.from_mapping({"order": ["g0"], "stage_data": "seed_folds", "segment_seconds": 20,
                                            "fold_rule": "fixed"})
    one = build_preview(name="p", curriculum=pinned, groups=["g0", "g1", "g2"], clip_tables=tables, difficulty=None,
                        steps_per_stage=30, bucket_steps=10, out_table=out, out_plot=png, folds=folds_path)
    assert one["fold_rotating"].isna().all() and one["fold_fixed"].tolist()[0] == [0, 1, 2]
    plain = CurriculumConfig.from_mapping({"order": ["g0"]})
    build_preview(name="w", curriculum=plain, groups=["g0", "g1", "g2"], clip_tables=tables, difficulty=None,
                  steps_per_stage=30, bucket_steps=10, out_table=out, out_plot=png)
    assert pq.read_table(out).schema.remove_metadata().equals(PREVIEW_FILE_SCHEMA)
    with pytest.raises(ValueError, match="curricula.adev.stage_data is seed_folds: the preview needs its fold table"):
        build_preview(name="adev", curriculum=cfg, groups=["g0", "g1", "g2"], clip_tables=tables, difficulty=None,
                      steps_per_stage=30, bucket_steps=10, out_table=out, out_plot=png)


def test_an_empty_fold_is_an_error_naming_it(tmp_path) -> None:
    # 3 s videos with clips in their first 2 s only: with 1 s segments fold 2 never holds a clip start
    videos = _videos([("a", "s1", "g0", 10.0, 10.0, 30), ("b", "s2", "g0", 11.0, 10.0, 30)])
    clips = [{"clip_id": f"{v}:{s}", "age_group": "g0", "video_id": v, "subject": "s", "start_frame": s}
             for v in ("a", "b") for s in (0, 6, 12, 18)]
    table = tmp_path / "g0.parquet"
    write_table(pa.Table.from_pylist(clips), table)
    videos_path = tmp_path / "videos.parquet"
    write_table(pa.Table.from_pandas(videos, preserve_index=False), videos_path)
    assert sorted(set(assign_folds(pd.DataFrame(clips), videos, 1.0)["fold"])) == [0, 1]
    with pytest.raises(ValueError, match=r"curricula.d: fold 2 of group g0 holds no clip \(segments of segment_seconds=1 s"):
        write_fold_table(clip_tables=[table], videos_parquet=videos_path, segment_seconds=1.0, curriculum="d",
                         out_path=tmp_path / "d.folds.parquet")
    curriculum = CurriculumConfig.from_mapping({"order": ["g0"], "stage_data": "seed_folds", "segment_seconds": 1})
    with pytest.raises(ValueError, match=r"curricula.d: fold 2 of group g0 holds no training row"):
        run_fold_rows(curriculum, model_config({"objective": "videomae"}), 0, pd.DataFrame(clips), videos_path,
                      name="d", blocks=1)
