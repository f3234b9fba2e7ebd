"""voe_metrics: protocol garrido2025 equals a transcription of the reference's compute_metrics, the project's
protocol keeps today's pairwise accuracy, pairing by pair_id equals the reference's pairing by row order,
and Hedges' g is the figure notebook's."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import auc, precision_recall_curve, roc_curve

from devcurriculum.eval.voe_metrics import METRICS, hedges_g, hedges_g_interval, threshold_index, voe_metrics


def reference_compute_metrics(S, y):
    """The reference's compute_metrics (jepa-intuitive-physics evals/intuitive_physics/eval.py 271-325),
    transcribed in numpy float32 (/work/notes/23_voe_protocol.md §1.4, checked there against the original
    on 300 random tables). Accuracies in %, as the reference writes them."""
    S = np.asarray(S, np.float32)
    y = np.asarray(y)
    R, F = S[y == 1], S[y == 0]
    n = len(R)
    f = np.float32
    out = {}
    out["Relative Accuracy (avg)"] = float(f((R.mean(1) < F.mean(1)).sum()) / f(n) * f(100))
    out["Relative Accuracy (max)"] = float(f((R.max(1) < F.max(1)).sum()) / f(n) * f(100))
    d1, d2 = R.max(1), F.max(1)
    idx = -(-9 * n // 10)
    thr = np.sort(d1)[idx]  # IndexError for n <= 9, as the reference
    out["Absolute Accuracy (max)"] = float(f((d1 < thr).sum() + (d2 > thr).sum()) / f(len(d1) + len(d2)) * f(100))
    for tag, s in (("max", S.max(1)), ("avg", S.mean(1))):
        p, r, _ = precision_recall_curve(y, -s)
        out[f"AUPRC ({tag})"] = auc(r, p)
        fpr, tpr, _ = roc_curve(y, -s)
        out[f"AUROC ({tag})"] = auc(fpr, tpr)
    return out


#: the reference's column for each of our names, and its scale
REFERENCE_NAMES = {
    "relative_accuracy_mean": ("Relative Accuracy (avg)", 100), "relative_accuracy_max": ("Relative Accuracy (max)", 100),
    "absolute_accuracy_max": ("Absolute Accuracy (max)", 100), "auroc_mean": ("AUROC (avg)", 1),
    "auroc_max": ("AUROC (max)", 1), "auprc_mean": ("AUPRC (avg)", 1), "auprc_max": ("AUPRC (max)", 1),
}


def dyadic_pairs(rng: np.random.Generator, n: int, windows: int) -> tuple[np.ndarray, np.ndarray]:
    """Possible and impossible surprise ``(n, windows)`` in multiples of 1/8 up to 2: float32 sums are exact,
    and ties (equal surprises, equal means) are frequent."""
    possible = rng.integers(0, 17, size=(n, windows)) / 8
    impossible = rng.integers(0, 17, size=(n, windows)) / 8
    return possible, impossible


def long_table(possible: np.ndarray, impossible: np.ndarray, props: list[str] | None = None,
               widths: list[int] | None = None) -> pd.DataFrame:
    """One row per (pair, clip, window); pair k keeps its first ``widths[k]`` windows."""
    rows = []
    for k in range(len(possible)):
        width = widths[k] if widths else possible.shape[1]
        for ok, values in ((True, possible[k]), (False, impossible[k])):
            for w in range(width):
                row = {"pair_id": f"pair{k:03d}", "possible": ok, "window": 2 * w, "surprise": float(values[w])}
                if props:
                    row["property"] = props[k]
                rows.append(row)
    return pd.DataFrame(rows)


def reference_rows(possible: np.ndarray, impossible: np.ndarray, widths: list[int] | None = None):
    """The reference's input: rows pair by pair (possible, impossible adjacent), zero-padded windows."""
    S, y = [], []
    for k in range(len(possible)):
        width = widths[k] if widths else possible.shape[1]
        for ok, values in ((1.0, possible[k]), (0.0, impossible[k])):
            padded = np.zeros(possible.shape[1])
            padded[:width] = values[:width]
            S.append(padded)
            y.append(ok)
    return np.asarray(S), np.asarray(y)


def assert_matches_reference(ours, reference) -> None:
    for name, (ref_name, scale) in REFERENCE_NAMES.items():
        assert ours[name] == reference[ref_name] / scale, name


@pytest.mark.parametrize("n", [10, 11, 12, 19, 20, 37, 60])
@pytest.mark.parametrize("windows", [1, 3, 4])
def test_garrido2025_equals_the_reference_transcription_on_dyadic_tables(n: int, windows: int) -> None:
    rng = np.random.default_rng(1000 * n + windows)
    possible, impossible = dyadic_pairs(rng, n, windows)
    table = long_table(possible, impossible).sample(frac=1.0, random_state=n)  # row order is not the pairing
    ours = voe_metrics(table, protocol="garrido2025")
    assert_matches_reference(ours, reference_compute_metrics(*reference_rows(possible, impossible)))
    assert set(ours) == set(METRICS) and all(0.0 <= v <= 1.0 for v in ours.values())


def test_ties_count_wrong_and_equal_surprises_are_chance_for_the_curves() -> None:
    same = np.full((12, 3), 0.5)
    ours = voe_metrics(long_table(same, same))
    assert ours["relative_accuracy_mean"] == 0.0 and ours["relative_accuracy_max"] == 0.0  # strict <: a tie is wrong
    assert ours["auroc_mean"] == 0.5 and ours["auroc_max"] == 0.5
    # every clip at the threshold: strict on both sides, nothing is right
    assert ours["absolute_accuracy_max"] == 0.0
    assert_matches_reference(ours, reference_compute_metrics(*reference_rows(same, same)))
    # the project's protocol counts a tie one half
    table = long_table(same, same).assign(after_onset=True)
    assert voe_metrics(table, protocol="devcurriculum")["relative_accuracy_mean"] == 0.5


@pytest.mark.parametrize("direction", [1, -1])
def test_one_sided_tables_are_all_right_or_all_wrong(direction: int) -> None:
    rng = np.random.default_rng(7)
    possible = rng.integers(0, 8, size=(15, 2)) / 8
    impossible = possible + direction * 1.0  # every impossible clip more (or less) surprising than its partner
    ours = voe_metrics(long_table(possible, impossible))
    expected = 1.0 if direction > 0 else 0.0
    for name in ("relative_accuracy_mean", "relative_accuracy_max", "auroc_mean", "auroc_max"):
        assert ours[name] == expected, name
    assert_matches_reference(ours, reference_compute_metrics(*reference_rows(possible, impossible)))


@pytest.mark.parametrize("n", [1, 5, 9])
def test_nine_pairs_or_fewer_leave_absolute_accuracy_nan_where_the_reference_raises(n: int) -> None:
    rng = np.random.default_rng(n)
    possible, impossible = dyadic_pairs(rng, n, 2)
    with pytest.raises(IndexError):
        reference_compute_metrics(*reference_rows(possible, impossible))
    assert threshold_index(n) == n  # ceil(0.9 n) == n below 10: one past the last sorted score
    ours = voe_metrics(long_table(possible, impossible))
    assert math.isnan(ours["absolute_accuracy_max"])
    assert all(0.0 <= ours[m] <= 1.0 for m in METRICS if m != "absolute_accuracy_max")


def test_threshold_index_is_numpys_ceil() -> None:
    for n in range(1, 5000):
        assert threshold_index(n) == int(np.ceil(0.9 * n)), n
    assert [threshold_index(n) for n in (10, 60, 128, 180)] == [9, 54, 116, 162]


def test_padded_windows_enter_the_mean_as_in_the_reference() -> None:
    rng = np.random.default_rng(3)
    possible, impossible = dyadic_pairs(rng, 14, 4)
    widths = [4, 2, 3, 1, 4, 4, 2, 3, 4, 1, 4, 2, 4, 3]  # both clips of a pair share their windows
    ours = voe_metrics(long_table(possible, impossible, widths=widths))
    assert_matches_reference(ours, reference_compute_metrics(*reference_rows(possible, impossible, widths)))


def test_properties_are_scored_alone_and_averaged_unweighted() -> None:
    rng = np.random.default_rng(11)
    possible, impossible = dyadic_pairs(rng, 30, 3)
    props = ["continuity"] * 10 + ["permanence"] * 20
    ours = voe_metrics(long_table(possible, impossible, props))
    for prop, rows in (("continuity", slice(0, 10)), ("permanence", slice(10, 30))):
        assert_matches_reference(ours.by_property[prop],
                                 reference_compute_metrics(*reference_rows(possible[rows], impossible[rows])))
    for m in METRICS:
        assert ours[m] == pytest.approx((ours.by_property["continuity"][m] + ours.by_property["permanence"][m]) / 2)
        assert ours.property_mean[m] == ours[m]
    assert_matches_reference(ours.pooled, reference_compute_metrics(*reference_rows(possible, impossible)))
    assert ours.n_pairs == 30


def test_devcurriculum_reads_windows_after_the_onset_with_ties_one_half() -> None:
    table = pd.DataFrame({
        "pair_id": ["a"] * 4 + ["b"] * 4,
        "possible": [True, True, False, False] * 2,
        "window": [0, 2] * 4,
        "after_onset": [False, True] * 4,
        # pair a: before the onset the impossible clip is calmer, after it more surprising; pair b: a tie after it
        "surprise": [5.0, 1.0, 0.0, 2.0, 1.0, 3.0, 1.0, 3.0],
    })
    ours = voe_metrics(table, protocol="devcurriculum")
    assert ours["relative_accuracy_mean"] == 0.75 and ours["relative_accuracy_max"] == 0.75
    # the reference reads every window: pair a's mean 3.0 vs 1.0 is wrong, pair b's tie is wrong
    assert voe_metrics(table)["relative_accuracy_mean"] == 0.0
    # threshold: ceil(0.9 * 2) = 2nd smallest possible max = 3.0; possible 1.0, 3.0 right (<=), impossible 2, 3 wrong
    assert ours["absolute_accuracy_max"] == 0.5
    with pytest.raises(ValueError, match="after_onset"):
        voe_metrics(table.drop(columns="after_onset"), protocol="devcurriculum")


def test_bad_tables_are_named() -> None:
    good = long_table(np.ones((10, 2)), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="unknown VoE protocol 'paper'"):
        voe_metrics(good, protocol="paper")
    with pytest.raises(ValueError, match=r"pair 'pair003': only a possible clip"):
        voe_metrics(good[~((good["pair_id"] == "pair003") & ~good["possible"])])
    with pytest.raises(ValueError, match=r"pair 'pair001': its clips have different windows"):
        voe_metrics(good.drop(index=good.index[(good["pair_id"] == "pair001") & good["possible"]][:1]))
    with pytest.raises(ValueError, match=r"non-finite surprise in pair 'pair000'"):
        voe_metrics(good.assign(surprise=[math.nan] + [1.0] * (len(good) - 1)))
    with pytest.raises(ValueError, match=r"window 0 of its possible clip appears twice"):
        voe_metrics(pd.concat([good, good.iloc[:1]]))
    with pytest.raises(ValueError, match=r"lacks columns \['window'\]"):
        voe_metrics(good.drop(columns="window"))


def test_hedges_g_is_the_notebooks() -> None:
    trained, untrained = [0.7, 0.8, 0.75, 0.72, 0.78], [0.5, 0.52, 0.48, 0.55, 0.45, 0.5]
    m1, m2 = np.mean(trained), np.mean(untrained)
    s1, s2 = np.std(trained, ddof=1), np.std(untrained, ddof=1)
    pooled = math.sqrt((4 * s1**2 + 5 * s2**2) / 9)
    assert hedges_g(trained, untrained) == pytest.approx((m1 - m2) / pooled * (1 - 3 / (4 * 11 - 9)), rel=1e-12)
    # n1 = 5, n2 = 20: J = 1 - 3/91, as the notebook's Fig. 2
    g = hedges_g([1.0, 2.0, 3.0, 4.0, 5.0], list(range(20)))
    assert g == pytest.approx((3.0 - 9.5) / math.sqrt((4 * 2.5 + 19 * 35.0) / 23) * (1 - 3 / 91))
    assert hedges_g_interval(g, 5, 20) == pytest.approx(1.959963984540054 * math.sqrt(25 / 100 + g**2 / 50))
    assert math.isnan(hedges_g([0.6], [0.5, 0.4])) and math.isnan(hedges_g([0.5, 0.5], [0.5, 0.5]))


def test_hedges_g_is_undefined_when_the_spread_is_only_float_rounding() -> None:
    from devcurriculum.eval.voe_metrics import hedges_g

    # means of 0.5 taken in another order differ in the last bit: no spread, no effect size (was ~1e13)
    rounding = np.array([0.5, 0.5 + 2**-53, 0.5 - 2**-53])
    assert math.isnan(hedges_g(rounding, np.array([0.5, 0.5, 0.5])))
    assert hedges_g(np.array([0.6, 0.62, 0.64]), np.array([0.5, 0.51, 0.52])) > 3
