"""Surprise and the VoE readout: the readout detects what it claims to, each learner reads the future with
weights as trained, windows and onsets, pairwise accuracy, the stage-by-stage job and its summary rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from devcurriculum.config import ClipConfig, model_config, surprise_keys
from devcurriculum.eval.embed import BenchmarkFiles
from devcurriculum.eval.surprise import (
    PersistenceSurprise,
    context_frames,
    score_windows,
    surprise_model,
    surprise_run,
    window_starts,
)
from devcurriculum.eval.voe import run_rows, voe_readout
from devcurriculum.eval.voe_metrics import METRICS, pairwise_accuracy, voe_metrics
from devcurriculum.evalsets.voe import VOE_SCHEMA
from devcurriculum.models.registry import build_objective
from devcurriculum.models.videomae import to_imagenet_normalisation
from devcurriculum.utils.io import table_from_columns, write_table
from devcurriculum.utils.serialize import save_npy

CLIP = ClipConfig(frames=4, frame_step=1, stride=4, size=16)
TINY = {
    "videomae": {"objective": "videomae", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                 "intermediate_size": 64, "patch_size": 8, "tubelet_size": 2, "decoder_hidden_size": 32,
                 "decoder_num_hidden_layers": 1, "decoder_num_attention_heads": 2, "decoder_intermediate_size": 64},
    "vjepa": {"objective": "vjepa", "hidden_size": 24, "num_hidden_layers": 1, "num_attention_heads": 2,
              "patch_size": 8, "tubelet_size": 2, "pred_hidden_size": 12, "pred_num_hidden_layers": 1,
              "pred_num_attention_heads": 2},
    "simclr": {"objective": "simclr", "proj_hidden": 16, "proj_dim": 8},
}


def _objective(name: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_objective(model_config(TINY[name]), CLIP).eval()


def _static_scene(n_frames: int, size: int, seed: int) -> np.ndarray:
    """A still scene: a textured background and a red square that stays put."""
    rng = np.random.default_rng(seed)
    frames = np.repeat(rng.integers(40, 90, size=(1, size, size, 3), dtype=np.uint8), n_frames, axis=0)
    frames[:, 4:9, 5:10] = (220, 30, 30)
    return frames


def _voe_set(folder: Path, name: str, pairs: list[tuple[np.ndarray, np.ndarray, int]], prop: str = "permanence") -> BenchmarkFiles:
    """A prepared VoE set of ``(possible, impossible, onset)`` pairs, written like ``prepare_voe``."""
    clips = np.stack([c for possible, impossible, _ in pairs for c in (possible, impossible)])
    ids = [f"p{i}/{side}" for i in range(len(pairs)) for side in ("possible", "impossible")]
    table = table_from_columns(
        {"item_id": ids, "pair_id": [i.split("/")[0] for i in ids], "property": [prop] * len(ids),
         "possible": [i.endswith("/possible") for i in ids], "onset_frame": [o for *_, o in pairs for _ in (0, 1)],
         "cache_row": list(range(len(ids)))},
        VOE_SCHEMA,
    )
    write_table(table, folder / f"{name}.parquet")
    save_npy(folder / f"{name}.npy", clips)
    return BenchmarkFiles(name, folder / f"{name}.parquet", folder / f"{name}.npy")


def _vanishing_pairs(n: int, n_frames: int = 8, onset: int = 5) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Deliberately impossible clips: the square of a still scene vanishes at ``onset``; possible: it stays."""
    pairs = []
    for seed in range(n):
        possible = _static_scene(n_frames, CLIP.size, seed)
        impossible = possible.copy()
        impossible[onset:] = _static_scene(n_frames, CLIP.size, seed)[onset:]
        impossible[onset:, 4:9, 5:10] = impossible[onset:, 0:5, 0:5]  # background where the square was
        pairs.append((possible, impossible, onset))
    return pairs


def test_a_nothing_changes_predictor_finds_the_impossible_clip_more_surprising(tmp_path: Path) -> None:
    voe = _voe_set(tmp_path, "still", _vanishing_pairs(3))
    ids, rows, cache = voe.rows()
    model = PersistenceSurprise(frames=CLIP.frames, tubelet_size=2)
    starts = window_starts(cache.shape[1], model.frames, 2)
    scores = score_windows(model, cache, rows, starts, batch_size=32)[:, :, 0]
    onsets = pd.read_parquet(voe.table)["onset_frame"].to_numpy()
    after = starts[None, :] + model.frames - 1 >= onsets[:, None]
    windows = pd.DataFrame({
        "after_stage": 0, "step": 0, "voe": "still", "item_id": np.repeat(ids.to_pylist(), len(starts)),
        "window_start": np.tile(starts, len(rows)), "context": 2, "after_onset": after.ravel(),
        "surprise": scores.ravel(),
    })
    # before the onset the clips are the same: equal surprise; after it the possible clip is still (no error)
    assert np.array_equal(scores[0::2][~after[0::2]], scores[1::2][~after[1::2]])
    assert (scores[0::2] == 0).all() and (scores[1::2][after[1::2]] > 0).any()
    items = pd.read_parquet(voe.table).assign(voe="still")[["voe", "item_id", "pair_id", "property", "possible"]]
    values = {(r["benchmark"], r["metric"]): r["value"] for r in run_rows(windows, items, preregistered=None)}
    for bench in ("still:permanence", "still:overall"):
        assert values[(bench, "pairwise_accuracy_mean")] == 1.0 and values[(bench, "pairwise_accuracy_max")] == 1.0
        # the reference's reading (every window, strict <) agrees: the windows before the onset tie in both clips
        assert values[(bench, "relative_accuracy_mean")] == 1.0 and values[(bench, "auroc_max")] == 1.0
    # the same clips with the labels swapped: the readout says the "impossible" one is never more surprising
    swapped = items.assign(possible=~items["possible"])
    values = {(r["benchmark"], r["metric"]): r["value"] for r in run_rows(windows, swapped, preregistered=None)}
    assert values[("still:overall", "pairwise_accuracy_mean")] == 0.0 and values[("still:overall", "auroc_mean")] == 0.0


def test_pairwise_accuracy_counts_ties_as_one_half() -> None:
    assert pairwise_accuracy(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 1.0, 3.0, 5.0])) == pytest.approx(0.625)
    with pytest.raises(ValueError, match="matched, non-empty"):
        pairwise_accuracy(np.array([1.0]), np.array([1.0, 2.0]))


def test_windows_slide_to_the_clip_end() -> None:
    assert window_starts(12, 8, 2).tolist() == [0, 2, 4]
    assert window_starts(11, 8, 2).tolist() == [0, 2, 3]
    assert window_starts(8, 8, 5).tolist() == [0]
    assert context_frames(8, 2) == 4 and context_frames(6, 2) == 2 and context_frames(4) == 2
    with pytest.raises(ValueError, match="shorter than the model's window"):
        window_starts(3, 4, 1)


def test_videomae_surprise_is_its_own_reconstruction_loss_per_window() -> None:
    obj = _objective("videomae")
    scorer = surprise_model(obj)
    windows = torch.randn(3, 4, 3, 16, 16).clamp(-2, 2)
    with torch.no_grad():
        batched = scorer(windows)
        one_by_one = [obj.model(pixel_values=to_imagenet_normalisation(w[None]), bool_masked_pos=scorer.mask[None]).loss
                      for w in windows]
    assert torch.allclose(batched, torch.stack(one_by_one), rtol=1e-5, atol=1e-6)
    # the later half is masked, the earlier half visible: 2 temporal slices of 2x2 patches
    assert scorer.mask.tolist() == [False] * 4 + [True] * 4


@pytest.mark.parametrize("name", ["videomae", "vjepa", "simclr"])
def test_each_learner_reads_the_future_with_its_weights_as_trained(name: str) -> None:
    obj = _objective(name)
    before = {k: v.clone() for k, v in obj.state_dict().items()}
    scorer = surprise_model(obj)
    base = torch.randn(1, 4, 3, 16, 16)
    changed_future = base.clone()
    changed_future[:, 3] += 1.0
    with torch.no_grad():
        same = scorer(torch.cat([base, base]))
        other = scorer(changed_future)
    assert same[0] == same[1]  # no random masks or augmentations: the same window, the same surprise
    assert not torch.isclose(other[0], same[0])  # a different future is a different prediction error
    after = obj.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing is trained or updated


def test_surprise_keys_are_the_network_and_the_pretext_keys_it_reads() -> None:
    videomae = model_config({**TINY["videomae"], "mask_ratio": 0.6})
    assert "mask_ratio" not in surprise_keys(videomae) and surprise_keys(videomae)["norm_pix_loss"] is True
    assert surprise_keys(model_config({**TINY["vjepa"], "gap": 3}))["gap"] == 3
    assert surprise_keys(model_config(TINY["simclr"])) == model_config(TINY["simclr"]).network()


def _checkpoint(obj: torch.nn.Module, path: Path, after_stage: int, step: int) -> Path:
    save_file({k: v.contiguous() for k, v in obj.state_dict().items()}, str(path),
              metadata={"after_stage": str(after_stage), "step": str(step)})
    return path


def test_surprise_run_scores_every_stage_in_shards_and_the_readout_writes_summary_rows(tmp_path: Path) -> None:
    voe = _voe_set(tmp_path, "still", _vanishing_pairs(3))
    ckpts = [_checkpoint(_objective("vjepa", seed=k), tmp_path / f"after_stage{k}.safetensors", k, 10 * k)
             for k in (1, 2)]
    model = model_config(TINY["vjepa"])
    run = {"model": "vjepa", "curriculum": "developmental", "seed": 0}
    parts = [tmp_path / f"part-{s}.parquet" for s in (0, 1)]
    for shard, part in enumerate(parts):
        surprise_run(model=model, clip=CLIP, checkpoints=ckpts, voe_sets=[voe], window_stride=2, shard=shard,
                     n_shards=2, out_path=part, run_info=run, batch_size=4)
    windows = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    whole = tmp_path / "whole.parquet"
    surprise_run(model=model, clip=CLIP, checkpoints=ckpts, voe_sets=[voe], window_stride=2, shard=0, n_shards=1,
                 out_path=whole, run_info=run, batch_size=5)
    keys = ["after_stage", "item_id", "window_start"]
    pd.testing.assert_frame_equal(windows.sort_values(keys, ignore_index=True),
                                  pd.read_parquet(whole).sort_values(keys, ignore_index=True), check_exact=False, rtol=1e-5)
    # 6 clips x windows at 0, 2, 4 x 2 checkpoints; onset 5: the window at 0 (frames 0-3) is before it
    assert len(windows) == 6 * 3 * 2 and set(windows["context"]) == {2}
    assert windows.groupby("window_start")["after_onset"].all().to_dict() == {0: False, 2: True, 4: True}
    out = tmp_path / "voe_eval.parquet"
    # per stage and benchmark: 7 metrics x (the one context's row, Filtered, pre-registered, best row) + 2 pairwise
    assert voe_readout(surprise_parts=parts, sets={"still": voe.table}, out_path=out) == 2 * 2 * (7 * 4 + 2)
    table = pd.read_parquet(out)
    assert set(table["readout"]) == {"voe"} and set(table["after_stage"]) == {1, 2}
    assert set(table["benchmark"]) == {"still:permanence", "still:overall"}
    assert set(table["metric"]) == {"pairwise_accuracy_mean", "pairwise_accuracy_max", *METRICS,
                                    *(f"{m}_{row}" for m in METRICS for row in ("ctx2", "filtered", "best_row"))}
    # 3 pairs: too few for the reference's threshold (n >= 10), absolute accuracy is NaN
    absolute = table["metric"].str.startswith("absolute_accuracy_max")
    assert table.loc[absolute, "value"].isna().all()
    assert table.loc[~absolute, "value"].between(0, 1).all() and set(table["model"]) == {"vjepa"}


def test_a_pair_without_a_window_after_its_onset_is_named() -> None:
    windows = pd.DataFrame({"pair_id": ["a", "a", "a", "a", "b", "b"], "possible": [True, True, False, False, True, False],
                            "window": [0, 2, 0, 2, 0, 0], "after_onset": [False, True, False, True, False, False],
                            "surprise": 1.0})
    with pytest.raises(ValueError, match="pair 'b' has no window after its onset"):
        voe_metrics(windows, protocol="devcurriculum")


def _readout_table(path: Path, rows: list[dict]) -> Path:
    from devcurriculum.eval.readouts import EVAL_SCHEMA

    columns = {name: [r[name] for r in rows] for name in EVAL_SCHEMA.names}
    write_table(table_from_columns(columns, EVAL_SCHEMA), path)
    return path


def test_summary_holds_voe_rows_of_every_stage_with_the_untrained_model_as_stage_zero(tmp_path: Path) -> None:
    from devcurriculum.eval.summarize import summarize

    def row(curriculum: str, stage: int, benchmark: str, readout: str, metric: str, value: float) -> dict:
        return {"model": "videomae", "curriculum": curriculum, "seed": 0, "benchmark": benchmark, "after_stage": stage,
                "step": 4 * stage, "readout": readout, "metric": metric, "value": value}

    points = [("init", 0), ("developmental", 1), ("developmental", 2)]
    probes = _readout_table(tmp_path / "probes.parquet",
                            [row(c, k, "digits", "linear", "top1_accuracy", 0.5) for c, k in points])
    voe = _readout_table(tmp_path / "voe.parquet", [
        row(c, k, bench, "voe", metric, 0.5 + 0.1 * k)
        for c, k in points for bench in ("demo:continuity", "demo:overall")
        for metric in ("pairwise_accuracy_mean", "pairwise_accuracy_max")
    ])
    written = summarize(eval_paths=[probes], metrics_paths=[], videos_parquet=None, out_summary=tmp_path / "s.parquet",
                        out_comparisons=tmp_path / "c.parquet", plot_dir=tmp_path / "plots",
                        reference_curriculum="developmental", voe_paths=[voe])
    summary = pd.read_parquet(tmp_path / "s.parquet")
    rows = summary[summary["readout"] == "voe"]
    assert sorted(set(rows["after_stage"])) == [0, 1, 2] and set(rows["curriculum"]) == {"developmental"}
    assert rows.groupby("after_stage")["value"].first().to_dict() == {0: 0.5, 1: pytest.approx(0.6), 2: pytest.approx(0.7)}
    assert len(rows) == 3 * 2 * 2
    assert written["voe"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


CLIP6 = ClipConfig(frames=6, frame_step=1, stride=6, size=16)


@pytest.mark.parametrize("name", ["videomae", "vjepa", "simclr"])
def test_every_context_length_is_scored_as_its_own_prediction(name: str) -> None:
    torch.manual_seed(0)
    obj = build_objective(model_config(TINY[name]), CLIP6).eval()
    scorer = surprise_model(obj)
    windows = torch.randn(3, 6, 3, 16, 16).clamp(-2, 2)
    contexts = [2, 4] if name != "simclr" else [1, 3, 5]
    with torch.no_grad():
        swept = scorer.score(windows, contexts)
        alone = torch.stack([scorer(windows, c) for c in contexts], dim=1)
    assert swept.shape == (3, len(contexts))
    assert torch.allclose(swept, alone, rtol=1e-5, atol=1e-6)  # shared work (targets, features) changes nothing
    assert not torch.allclose(swept[:, 0], swept[:, 1])  # another context is another prediction
    # the earlier half, as before the sweep: 1 of 3 two-frame slices, 3 of 6 frames
    assert scorer.default_context == (2 if name != "simclr" else 3)
    if name == "videomae":  # its own loss with every tubelet from the context on masked
        with torch.no_grad():
            loss = obj.model(pixel_values=to_imagenet_normalisation(windows[:1]),
                             bool_masked_pos=scorer.future_mask(2)[None]).loss
        assert torch.isclose(swept[0, 0], loss, rtol=1e-5)
        assert scorer.future_mask(2).tolist() == [False] * 4 + [True] * 8
    with pytest.raises(ValueError, match=r"voe.context_frames: 6 context frames do not fit a 6-frame window"):
        scorer.score(windows, [6])
    if name != "simclr":
        with pytest.raises(ValueError, match=r"a multiple of 2 below 6"):
            scorer(windows, 3)


def test_pairs_mode_scores_one_pair_and_counts_a_window_after_the_onset_by_its_predicted_frame(tmp_path: Path) -> None:
    voe = _voe_set(tmp_path, "still", _vanishing_pairs(2))
    cfg = {**TINY["vjepa"], "mode": "pairs", "gap": 1}
    torch.manual_seed(0)
    ckpt = _checkpoint(build_objective(model_config(cfg), CLIP), tmp_path / "after_stage1.safetensors", 1, 5)
    out = tmp_path / "part.parquet"
    surprise_run(model=model_config(cfg), clip=CLIP, checkpoints=[ckpt], voe_sets=[voe], window_stride=2, shard=0,
                 n_shards=1, out_path=out, run_info={"model": "vjepa", "curriculum": "c", "seed": 0}, batch_size=8,
                 context_frames=[2])
    windows = pd.read_parquet(out)
    # 4-frame windows at 0, 2, 4 of 8-frame clips, onset 5: the pair is (start, start + 1), so only the window at
    # 4 predicts a frame at or after the onset (by its last frame, the window at 2 would have counted too)
    assert windows.groupby("window_start")["after_onset"].all().to_dict() == {0: False, 2: False, 4: True}
    assert set(windows["context"]) == {2}
    torch.manual_seed(0)
    scorer = surprise_model(build_objective(model_config(cfg), CLIP).eval())
    batch = torch.randn(2, 4, 3, 16, 16)
    with torch.no_grad():
        swept = scorer.score(batch, [2, 2])
    assert torch.equal(swept[:, 0], swept[:, 1]) and scorer.last_scored_frame(2) == 1
