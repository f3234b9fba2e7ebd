"""The VoE readout: one row of the sweep per context length, Filtered (min over context lengths per window),
the pre-registered and the best row, the project's pairwise accuracy, and Hedges' g against the untrained
inits, each equal to voe_metrics / hedges_g on the corresponding table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from devcurriculum.eval.surprise import SURPRISE_SCHEMA
from devcurriculum.eval.voe import compared, voe_readout
from devcurriculum.eval.voe_metrics import METRICS, hedges_g, voe_metrics
from devcurriculum.evalsets.voe import VOE_SCHEMA
from devcurriculum.utils.io import provenance, table_from_columns, write_table

PROPS = {"continuity": 10, "permanence": 12}
CONTEXTS = (4, 2)
WINDOWS = (0, 2)


def _items(folder: Path) -> Path:
    pairs = [(f"{prop[:4]}{k:02d}", prop) for prop, n in PROPS.items() for k in range(n)]
    ids = [f"{p}/{side}" for p, _ in pairs for side in ("possible", "impossible")]
    table = table_from_columns(
        {"item_id": ids, "pair_id": [i.split("/")[0] for i in ids], "property": [prop for _, prop in pairs for _ in (0, 1)],
         "possible": [i.endswith("/possible") for i in ids], "onset_frame": [3] * len(ids),
         "cache_row": list(range(len(ids)))},
        VOE_SCHEMA,
    )
    write_table(table, folder / "set.parquet")
    return folder / "set.parquet"


def _part(folder: Path, items: pd.DataFrame, run: tuple[str, str, int], stages: list[int], seed: int) -> Path:
    """A surprise table of dyadic values (exact in float32), the windows at 2 after the onset."""
    rng = np.random.default_rng(seed)
    rows = {name: [] for name in SURPRISE_SCHEMA.names}
    for stage in stages:
        for item in items["item_id"]:
            for window in WINDOWS:
                for context in CONTEXTS:
                    for key, value in (("after_stage", stage), ("step", 10 * stage), ("voe", "toy"), ("item_id", item),
                                       ("window_start", window), ("context", context), ("after_onset", window == 2),
                                       ("surprise", float(rng.integers(0, 16)) / 8)):
                        rows[key].append(value)
    path = folder / f"{run[0]}_{run[1]}_{run[2]}.parquet"
    model, curriculum, seed_ = run
    write_table(table_from_columns(rows, SURPRISE_SCHEMA), path,
                metadata=provenance("surprise", run={"model": model, "curriculum": curriculum, "seed": seed_}))
    return path


@pytest.fixture(scope="module")
def readout(tmp_path_factory) -> tuple[pd.DataFrame, dict[tuple[str, int], pd.DataFrame], pd.DataFrame]:
    folder = tmp_path_factory.mktemp("voe_readout")
    table = _items(folder)
    items = pd.read_parquet(table)
    runs = [("m", "init", s) for s in (0, 1, 2, 5)] + [("m", "dev", s) for s in (0, 1, 2)]
    parts = [_part(folder, items, run, [0] if run[1] == "init" else [1, 2], seed=k) for k, run in enumerate(runs)]
    voe_readout(surprise_parts=parts, sets={"toy": table}, out_path=folder / "eval.parquet", preregistered_context=4)
    windows = {(r[1], r[2]): pd.read_parquet(p) for r, p in zip(runs, parts, strict=True)}
    return pd.read_parquet(folder / "eval.parquet"), windows, items


def _table(windows: pd.DataFrame, items: pd.DataFrame, stage: int) -> pd.DataFrame:
    merged = windows[windows["after_stage"] == stage].merge(items, on="item_id")
    return merged.rename(columns={"window_start": "window"})


def _value(out: pd.DataFrame, curriculum: str, seed: int, stage: int, benchmark: str, metric: str) -> float:
    row = out[(out["curriculum"] == curriculum) & (out["seed"] == seed) & (out["after_stage"] == stage)
              & (out["benchmark"] == benchmark) & (out["metric"] == metric)]
    assert len(row) == 1, (curriculum, seed, stage, benchmark, metric)
    return float(row["value"].iloc[0])


def test_sweep_rows_filtered_preregistered_and_best_row(readout) -> None:
    out, windows, items = readout
    table = _table(windows[("dev", 1)], items, stage=2)
    rows = {f"ctx{c}": voe_metrics(table[table["context"] == c]) for c in CONTEXTS}
    rows["filtered"] = voe_metrics(table.groupby(["pair_id", "possible", "window", "property"], as_index=False)["surprise"].min())
    for metric in METRICS:
        for prop in PROPS:
            bench = f"toy:{prop}"
            for row, suite in rows.items():
                expected = suite.by_property[prop][metric]
                assert _value(out, "dev", 1, 2, bench, f"{metric}_{row}") == pytest.approx(expected, nan_ok=True)
            assert _value(out, "dev", 1, 2, bench, metric) == pytest.approx(rows["ctx4"].by_property[prop][metric])
            best = max(s.by_property[prop][metric] for s in rows.values())
            assert _value(out, "dev", 1, 2, bench, f"{metric}_best_row") == pytest.approx(best)
        # overall: the unweighted mean over properties, of the best rows too
        assert _value(out, "dev", 1, 2, "toy:overall", metric) == pytest.approx(rows["ctx4"][metric])
        assert _value(out, "dev", 1, 2, "toy:overall", f"{metric}_best_row") == pytest.approx(
            np.mean([max(s.by_property[p][metric] for s in rows.values()) for p in PROPS]))
    project = voe_metrics(table[table["context"] == 4], protocol="devcurriculum")
    assert _value(out, "dev", 1, 2, "toy:overall", "pairwise_accuracy_mean") == project.pooled["relative_accuracy_mean"]
    assert _value(out, "dev", 1, 2, "toy:permanence", "pairwise_accuracy_max") == \
        project.by_property["permanence"]["relative_accuracy_max"]


def test_hedges_g_against_every_untrained_init_on_every_seed_of_a_stage(readout) -> None:
    out, _, _ = readout
    for metric in ("relative_accuracy_mean", "auroc_max_best_row"):
        for stage in (1, 2):
            trained = [_value(out, "dev", s, stage, "toy:overall", metric) for s in (0, 1, 2)]
            untrained = [_value(out, "init", s, 0, "toy:overall", metric) for s in (0, 1, 2, 5)]  # 5: no trained run
            g = hedges_g(trained, untrained)
            assert [_value(out, "dev", s, stage, "toy:overall", f"hedges_g_{metric}") for s in (0, 1, 2)] == [g] * 3
    assert not out[(out["curriculum"] == "init") & out["metric"].str.startswith("hedges_g_")].size


def test_which_metrics_curricula_are_compared_on() -> None:
    assert compared("relative_accuracy_mean") and compared("auroc_max_best_row") and compared("pairwise_accuracy_max")
    assert not compared("relative_accuracy_mean_ctx4") and not compared("auprc_mean_filtered")
    assert not compared("hedges_g_relative_accuracy_mean")


def test_a_preregistered_context_that_was_not_scored_is_named(readout, tmp_path: Path) -> None:
    _, windows, _ = readout
    part = tmp_path / "one.parquet"
    one = windows[("dev", 0)]
    write_table(table_from_columns({c: one[c].tolist() for c in SURPRISE_SCHEMA.names}, SURPRISE_SCHEMA), part,
                metadata=provenance("surprise", run={"model": "m", "curriculum": "dev", "seed": 0}))
    table = _items(tmp_path)
    with pytest.raises(ValueError, match=r"voe.preregistered_context 6 is not among the context lengths scored \(\[2, 4\]\)"):
        voe_readout(surprise_parts=[part], sets={"toy": table}, out_path=tmp_path / "e.parquet", preregistered_context=6)
    with pytest.raises(ValueError, match="say which one is pre-registered"):
        voe_readout(surprise_parts=[part], sets={"toy": table}, out_path=tmp_path / "e.parquet")
