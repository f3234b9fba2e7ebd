"""run_score_difficulty: the rule's table I/O (join on clip_id, schemas, provenance, errors)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devcurriculum.config import ConfigError, DifficultyConfig
from devcurriculum.difficulty.stage import run_score_difficulty
from devcurriculum.utils.embeddings import embedding_array
from devcurriculum.utils.io import read_metadata, write_table

CFG = {"k": "auto", "k_range": [2, 5], "normalize": True, "supervised_by": None, "seed": 42, "db_subsample": None}


def run(features, tables, cfg, out, out_k) -> None:
    run_score_difficulty(
        features=features, clip_tables=tables, cfg=DifficultyConfig.from_mapping(cfg), out_difficulty=out, out_k_table=out_k
    )


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0, 0], [8, 0, 0, 0], [0, 8, 0, 0]], dtype=np.float32)
    x = np.concatenate([c + rng.standard_normal((15, 4)).astype(np.float32) for c in centres])
    ids = [f"clip{i:03d}" for i in range(45)]
    order = rng.permutation(45)  # features in a different order than the clip tables
    features = tmp_path / "features.parquet"
    write_table(pa.table({"clip_id": [ids[i] for i in order], "embedding": embedding_array(x[order])}), features)
    tables = []
    for g, rows in (("g0", range(0, 20)), ("g1", range(20, 45))):
        path = tmp_path / f"{g}.parquet"
        write_table(
            pa.table({"clip_id": [ids[i] for i in rows], "age_group": [g] * len(rows), "subject": [f"s{i % 2}" for i in rows]}),
            path,
        )
        tables.append(path)
    return tmp_path, features, tables, [ids[i] for i in order]


def test_writes_both_tables_with_schema_and_provenance(inputs) -> None:
    tmp, features, tables, feature_ids = inputs
    out, out_k = tmp / "out" / "d.parquet", tmp / "out" / "d.k.parquet"
    run(features, tables, CFG, out, out_k)
    table = pq.read_table(out)
    assert table.schema.names == ["clip_id", "age_group", "cluster", "distance", "difficulty"]
    assert str(table.schema.field("difficulty").type) == "double"
    assert table.column("clip_id").to_pylist() == feature_ids
    groups = dict(zip(table.column("clip_id").to_pylist(), table.column("age_group").to_pylist()))
    assert groups["clip000"] == "g0" and groups["clip044"] == "g1"
    d = table.column("difficulty").to_numpy()
    assert d.min() == 0.0 and d.max() == 1.0
    k = pq.read_table(out_k).to_pandas()
    chosen = int(k.loc[k["davies_bouldin"].idxmin(), "k"])
    assert k["k"].tolist() == [2, 3, 4, 5] and k.loc[k["chosen"], "k"].tolist() == [chosen]
    meta = read_metadata(out)
    assert meta["devcurriculum.stage"] == "score_difficulty"
    assert json.loads(meta["devcurriculum.config"])["k_range"] == [2, 5]
    assert meta["devcurriculum.k"] == str(chosen)
    assert len(np.unique(table.column("cluster").to_numpy())) == chosen


def test_given_k_and_supervised_column(inputs) -> None:
    tmp, features, tables, _ = inputs
    out, out_k = tmp / "s.parquet", tmp / "s.k.parquet"
    run(features, tables, {**CFG, "k": 2, "supervised_by": "subject"}, out, out_k)
    table = pq.read_table(out).to_pandas()
    assert pq.read_table(out_k).to_pandas()["k"].tolist() == [2]
    # Two subjects x k=2 clusters, difficulty min-max within each subject.
    assert table["cluster"].nunique() == 4
    subject = table["clip_id"].str[4:].astype(int) % 2
    for s in (0, 1):
        assert table.loc[subject == s, "difficulty"].min() == 0.0
        assert table.loc[subject == s, "difficulty"].max() == 1.0


def test_errors_name_file_and_key(inputs) -> None:
    tmp, features, tables, _ = inputs
    with pytest.raises(KeyError, match=r"g0.parquet has no column\(s\) \['cohort'\]"):
        run(features, tables, {**CFG, "supervised_by": "cohort"}, tmp / "x", tmp / "y")
    with pytest.raises(ValueError, match=r"25 clip\(s\) of .*features.parquet are in no clip table"):
        run(features, tables[:1], CFG, tmp / "x", tmp / "y")
    with pytest.raises(ConfigError, match=r"difficulty\.k: 'many' is not valid"):
        run(features, tables, {**CFG, "k": "many"}, tmp / "x", tmp / "y")
    assert not (tmp / "x").exists()
