"""The ``score_difficulty`` rule: features + clip tables in, difficulty and k tables out."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd
import pyarrow as pa

from devcurriculum.config import DifficultyConfig
from devcurriculum.difficulty.scoring import score_difficulty
from devcurriculum.utils.config import set_threads
from devcurriculum.utils.embeddings import embedding_matrix
from devcurriculum.utils.io import provenance, read_schema, read_table, table_from_columns, write_table
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.difficulty.stage")

K_SCHEMA = pa.schema(
    [
        pa.field("k", pa.int64()),
        pa.field("davies_bouldin", pa.float64()),
        pa.field("inertia", pa.float64()),
        pa.field("chosen", pa.bool_()),
    ]
)


def difficulty_schema(clip_id_type: pa.DataType) -> pa.Schema:
    """Columns of ``results/difficulty/{extractor}.parquet`` (clip_id keeps the features' type)."""
    return pa.schema(
        [
            pa.field("clip_id", clip_id_type),
            pa.field("age_group", pa.string()),
            pa.field("cluster", pa.int64()),
            pa.field("distance", pa.float64()),
            pa.field("difficulty", pa.float64()),
        ]
    )


def read_clip_columns(clip_tables: Sequence[PathLike], columns: Sequence[str]) -> pd.DataFrame:
    """``clip_id`` plus ``columns`` of every clip table, concatenated; a missing column names its file."""
    frames = []
    for path in clip_tables:
        available = read_schema(path).names
        wanted = ["clip_id", *dict.fromkeys(c for c in columns if c != "clip_id")]
        missing = [c for c in wanted if c not in available]
        if missing:
            raise KeyError(f"clip table {path} has no column(s) {missing} (has {available})")
        frames.append(read_table(path, columns=wanted).to_pandas())
    if not frames:
        raise ValueError("score_difficulty needs at least one clip table")
    clips = pd.concat(frames, ignore_index=True)
    duplicated = clips["clip_id"].duplicated(keep=False)
    if duplicated.any():
        raise ValueError(f"clip_id appears more than once across the clip tables: {clips.loc[duplicated, 'clip_id'].unique()[:5].tolist()}")
    return clips


def _join_clip_columns(
    clip_ids: pd.Series, clip_tables: Sequence[PathLike], supervised_by: str | None, features: PathLike
) -> pd.DataFrame:
    """``clip_id``, ``age_group`` (and the ``supervised_by`` column) of every featured clip, in feature order."""
    clips = read_clip_columns(clip_tables, ["age_group"] + ([supervised_by] if supervised_by else []))
    joined = pd.DataFrame({"clip_id": clip_ids}).merge(clips, on="clip_id", how="left", validate="one_to_one", indicator=True)
    unmatched = joined["_merge"] != "both"
    if unmatched.any():
        raise ValueError(
            f"{int(unmatched.sum())} clip(s) of {features} are in no clip table, e.g. "
            f"{joined.loc[unmatched, 'clip_id'].head(5).tolist()}"
        )
    if len(clips) > len(joined):
        log.warning("%d clip(s) of the clip tables have no features and get no difficulty", len(clips) - len(joined))
    if supervised_by and pd.isna(joined[supervised_by]).any():
        raise ValueError(f"difficulty.supervised_by: column {supervised_by!r} has missing values")
    return joined


def run_score_difficulty(
    *,
    features: PathLike,
    clip_tables: Sequence[PathLike],
    cfg: DifficultyConfig,
    out_difficulty: PathLike,
    out_k_table: PathLike,
    threads: int | None = None,
) -> None:
    """Score the difficulty of every clip in the feature table ``features`` and write both tables atomically.

    ``threads`` (the rule's, runtime only) bounds torch's and, for the faiss backend, faiss's threads.
    """
    if threads:
        n_threads = set_threads(threads)
        if cfg.backend == "faiss":
            import faiss

            faiss.omp_set_num_threads(n_threads)
    table = read_table(features, columns=["clip_id", "embedding"])
    if table.num_rows == 0:
        raise ValueError(f"features table {features} is empty")
    x = embedding_matrix(table.column("embedding"))
    clip_ids = table.column("clip_id").to_pandas()
    if clip_ids.duplicated().any():
        raise ValueError(f"features table {features} repeats clip_id(s): {clip_ids[clip_ids.duplicated()].unique()[:5].tolist()}")
    joined = _join_clip_columns(clip_ids, clip_tables, cfg.supervised_by, features)
    result = score_difficulty(
        x,
        k=cfg.fixed_k,
        k_range=cfg.k_range,
        labels=joined[cfg.supervised_by].to_numpy() if cfg.supervised_by else None,
        normalize=cfg.normalize,
        seed=cfg.seed,
        db_subsample=cfg.db_subsample,
        backend=cfg.backend,
    )

    meta = provenance("score_difficulty", cfg.shaping(), k=result.k, features=str(features))
    difficulty_table = table_from_columns(
        {
            "clip_id": table.column("clip_id"),
            "age_group": joined["age_group"].astype(str).tolist(),
            "cluster": result.cluster,
            "distance": result.distance,
            "difficulty": result.difficulty,
        },
        difficulty_schema(table.schema.field("clip_id").type),
    )
    k_table = table_from_columns({c: result.k_table[c].to_numpy() for c in K_SCHEMA.names}, K_SCHEMA)
    write_table(difficulty_table, out_difficulty, metadata=meta)
    write_table(k_table, out_k_table, metadata=meta)
    log.info("wrote %s (%d clips, k=%d) and %s", out_difficulty, len(joined), result.k, out_k_table)
