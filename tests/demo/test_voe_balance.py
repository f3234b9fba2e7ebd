"""The demo's balanced VoE design: pixels cannot answer it. On the demo config's set (20 pairs per property),
a "nothing changes" predictor and the untrained learners sit at chance on every property, while a model
that uses the violation (an oracle continuing the first frame) is right on every pair."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from devcurriculum.config import ClipConfig, DemoConfig, DemoVoESource, WorkflowConfig, model_config
from devcurriculum.demo.voe import render_voe_quadruplets
from devcurriculum.eval.embed import BenchmarkFiles
from devcurriculum.eval.surprise import PersistenceSurprise, SurpriseModel, score_windows, surprise_model, window_starts
from devcurriculum.eval.voe_metrics import voe_metrics
from devcurriculum.evalsets.voe import prepare_voe

REPO = Path(__file__).resolve().parents[2]
DEMO = yaml.safe_load((REPO / "config.yaml").read_text())
CLIP = ClipConfig.from_mapping(DEMO["data"]["clip"])
VOE = WorkflowConfig.from_mapping(DEMO).voe.sets["demo_physics"]  # frames: null filled in (two windows)
assert isinstance(VOE, DemoVoESource)
CONTEXTS = DEMO["voe"]["context_frames"]
AGE_GROUPS = {name: (float(lo), float(hi)) for name, (lo, hi) in DEMO["data"]["age_groups"].items()}


class FrameChange(SurpriseModel):
    """Surprise = the mean absolute pixel change from each frame of the window to the next: a fixed function of
    the frames that knows nothing of objects (the same for every context length)."""

    def __init__(self, frames: int) -> None:
        self.frames = frames

    def __call__(self, windows: torch.Tensor, context: int | None = None) -> torch.Tensor:
        return (windows[:, 1:] - windows[:, :-1]).abs().mean(dim=(1, 2, 3, 4))


@pytest.fixture(scope="module")
def demo_set(tmp_path_factory) -> tuple[BenchmarkFiles, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("voe")
    prepare_voe(name="demo_physics", voe_set=VOE, clip=CLIP, demo=DemoConfig.from_mapping(DEMO["demo"]),
                age_groups=AGE_GROUPS, out_table=folder / "demo.parquet", out_cache=folder / "demo.npy")
    return BenchmarkFiles("demo_physics", folder / "demo.parquet", folder / "demo.npy"), pd.read_parquet(folder / "demo.parquet")


def _table(model: SurpriseModel, voe: BenchmarkFiles, items: pd.DataFrame, contexts: list[int]) -> pd.DataFrame:
    """The surprise table voe_metrics reads, at each context length (column ``context``)."""
    _, rows, cache = voe.rows()
    starts = window_starts(cache.shape[1], model.frames, DEMO["voe"]["window_stride"])
    with torch.no_grad():
        scores = score_windows(model, cache, rows, starts, batch_size=64, contexts=contexts)
    n_rows, n_starts, n_ctx = scores.shape
    return pd.DataFrame({
        "pair_id": np.repeat(items["pair_id"].to_numpy(), n_starts * n_ctx),
        "property": np.repeat(items["property"].to_numpy(), n_starts * n_ctx),
        "possible": np.repeat(items["possible"].to_numpy(), n_starts * n_ctx),
        "window": np.tile(np.repeat(starts, n_ctx), n_rows),
        "context": np.tile(contexts, n_rows * n_starts),
        "after_onset": True,
        "surprise": scores.ravel(),
    })


def _by_property(table: pd.DataFrame, metric: str, protocol: str = "garrido2025") -> dict[str, float]:
    return {prop: values[metric] for prop, values in voe_metrics(table, protocol=protocol).by_property.items()}


def test_the_demo_set_weighs_each_pair_at_most_005_of_a_property(demo_set) -> None:
    _, items = demo_set
    assert VOE.pairs_per_property >= 20
    assert items.groupby("property")["pair_id"].nunique().min() >= 20


def test_a_frame_change_predictor_sits_exactly_at_chance(demo_set) -> None:
    voe, items = demo_set
    table = _table(FrameChange(CLIP.frames), voe, items, [CONTEXTS[0]])
    # a sum over consecutive frames splits into the beginning's part and the end's: per quadruplet exactly
    # one of its two pairs goes each way
    assert _by_property(table, "relative_accuracy_mean") == dict.fromkeys(VOE.properties, 0.5)
    for prop, value in _by_property(table, "relative_accuracy_max").items():
        assert abs(value - 0.5) <= 0.15, prop
    for prop, value in _by_property(table, "auroc_mean").items():
        assert abs(value - 0.5) <= 0.1, prop


def test_persistence_and_a_constant_sit_at_chance(demo_set) -> None:
    voe, items = demo_set
    for context in CONTEXTS:
        table = _table(PersistenceSurprise(CLIP.frames, tubelet_size=2), voe, items, [context])
        for prop, value in _by_property(table, "relative_accuracy_mean").items():
            assert abs(value - 0.5) <= 0.1, (context, prop)
    constant = table.assign(surprise=1.0)
    # every pair a tie: wrong under the reference's strict <, one half under the project's protocol
    assert _by_property(constant, "relative_accuracy_mean") == dict.fromkeys(VOE.properties, 0.0)
    assert _by_property(constant, "relative_accuracy_mean", "devcurriculum") == dict.fromkeys(VOE.properties, 0.5)
    assert _by_property(constant, "auroc_max") == dict.fromkeys(VOE.properties, 0.5)


@pytest.mark.parametrize("name", ["videomae", "vjepa", "simclr"])
def test_untrained_learners_sit_at_chance(demo_set, name: str) -> None:
    from devcurriculum.models.registry import build_objective

    voe, items = demo_set
    torch.manual_seed(0)
    objective = build_objective(model_config(DEMO["models"][name]), CLIP).eval()
    table = _table(surprise_model(objective), voe, items, CONTEXTS)
    for context in CONTEXTS:
        at = table[table["context"] == context]
        for prop, value in _by_property(at, "relative_accuracy_mean").items():
            assert abs(value - 0.5) <= 0.15, (name, context, prop)  # 20 pairs: one sd of a coin is 0.11


def test_an_oracle_that_continues_the_first_frame_is_always_right(demo_set) -> None:
    voe, items = demo_set
    _, rows, cache = voe.rows()
    quadruplets = render_voe_quadruplets(VOE, world=DemoConfig.from_mapping(DEMO["demo"]).world, age_groups=AGE_GROUPS,
                                         clip=CLIP, size=DEMO["demo"]["size"], fps=DEMO["demo"]["fps"])
    possible = [movie for q in quadruplets for movie in (q.a, q.b)]
    starts = window_starts(cache.shape[1], CLIP.frames, DEMO["voe"]["window_stride"])
    scores = []
    for row in rows:
        clip = cache[row]
        # the possible movie that begins like this clip: what the first frame's scene does if nothing breaks
        continuation = next(movie for movie in possible if np.array_equal(movie[0], clip[0]))
        ends = starts + CLIP.frames - 1
        scores.append(np.abs(clip[ends].astype(float) - continuation[ends]).mean(axis=(1, 2, 3)))
    table = pd.DataFrame({
        "pair_id": np.repeat(items["pair_id"].to_numpy(), len(starts)),
        "property": np.repeat(items["property"].to_numpy(), len(starts)),
        "possible": np.repeat(items["possible"].to_numpy(), len(starts)),
        "window": np.tile(starts, len(rows)), "surprise": np.concatenate(scores),
    })
    assert _by_property(table, "relative_accuracy_mean") == dict.fromkeys(VOE.properties, 1.0)
    assert _by_property(table, "auroc_max") == dict.fromkeys(VOE.properties, 1.0)
