"""The violation-of-expectation metric suite on a surprise table, under a named protocol.

``voe_metrics(table, protocol)`` reads one surprise per (pair, clip, window): columns ``pair_id``,
``possible`` (bool), ``window`` (any sortable window label, e.g. its first frame), ``surprise`` and
optionally ``property`` (and ``after_onset`` for ``protocol="devcurriculum"``). It returns the seven
metrics of Garrido, Assran et al. 2025 as fractions in [0, 1]:

- ``relative_accuracy_mean`` / ``relative_accuracy_max``: the fraction of pairs whose impossible clip
  is more surprising than its possible one, on each clip's mean / max surprise over windows;
- ``absolute_accuracy_max``: single-clip classification of the max surprise at a threshold calibrated
  on the possible clips (the 90 % rule below);
- ``auroc_mean`` / ``auroc_max`` and ``auprc_mean`` / ``auprc_max``: areas under the ROC and
  precision-recall curves of the clip scores.

Two protocols (docs/voe.md "The metric suite and its two protocols"):

- ``garrido2025`` reproduces the reference's ``compute_metrics`` (facebookresearch/jepa-intuitive-physics,
  ``evals/intuitive_physics/eval.py``) exactly: every window of a clip (zero-padded to the longest clip
  of the table, the padding entering the mean as there), torch float32 means and maxima, a strict
  ``<`` (a tie is wrong), the threshold ``sort(d1)[ceil(0.9 n)]`` of the possible clips' max surprise
  (0-based, no interpolation) with strict ``<`` / ``>`` on both sides, sklearn's ``roc_curve`` and
  ``precision_recall_curve`` on the negated surprise with *possible* as the positive class, each
  integrated with the trapezoid ``auc``. With 9 or fewer pairs the threshold index falls outside the
  sorted scores (the reference dies with an IndexError): ``absolute_accuracy_max`` is NaN there, and a
  warning says so. With ``property``, the reference runs once per property (block) and the paper
  averages the properties unweighted: :attr:`VoEMetrics.overall` is that mean.
- ``devcurriculum`` is the project's own reading: only the windows that hold a predicted frame at or
  after the onset (``after_onset``), float64, a tie counts one half, the threshold is the smallest
  possible-clip score at or above 90 % of them (``ceil(0.9 n)``-th smallest, defined for every n) with
  ``<=`` for possible, ROC AUC with ties one half, AUPRC as average precision with the *impossible*
  clip as the positive class (what a detector of violations is asked to find), and ``overall`` on all
  pairs pooled.

Pairing: the reference pairs the k-th possible row with the k-th impossible row of its table (its
loader appends them pair by pair); here the clips are paired by ``pair_id``. Every metric is invariant
to the order of the pairs, so on a well-formed table (each pair_id one possible and one impossible clip
with the same windows) the two agree; a table that is not well-formed is an error naming the pair.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("devcurriculum.eval.voe_metrics")

PROTOCOLS = ("garrido2025", "devcurriculum")
METRICS = (
    "relative_accuracy_mean", "relative_accuracy_max", "absolute_accuracy_max",
    "auroc_mean", "auroc_max", "auprc_mean", "auprc_max",
)  # fmt: skip
REQUIRED = ("pair_id", "possible", "window", "surprise")
#: the share of possible clips the absolute-accuracy threshold is calibrated to keep below it
CALIBRATION = 0.9


@dataclass(frozen=True)
class VoEMetrics(Mapping[str, float]):
    """The metric suite of one table: a mapping of :data:`METRICS` to the set-level values (:attr:`overall`).

    ``overall`` is the mean over properties for ``garrido2025`` when the table has a ``property``
    column (the paper's average), else every pair pooled; ``pooled`` is always every pair together,
    ``property_mean`` the unweighted mean of ``by_property`` (empty without a ``property`` column).
    """

    protocol: str
    overall: Mapping[str, float]
    pooled: Mapping[str, float]
    by_property: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    property_mean: Mapping[str, float] = field(default_factory=dict)
    n_pairs: int = 0

    def __getitem__(self, key: str) -> float:
        return self.overall[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.overall)

    def __len__(self) -> int:
        return len(self.overall)


def voe_metrics(table: Any, protocol: str = "garrido2025") -> VoEMetrics:
    """The metric suite of a surprise table (see the module docstring); ``table``: anything pandas reads as
    a frame (a DataFrame, a pyarrow Table, a dict of columns)."""
    return suite(table, protocol)


def suite(table: Any, protocol: str = "garrido2025", *, pooled: bool = True, curves: bool = True) -> VoEMetrics:
    """:func:`voe_metrics` with work left out for callers that do not read it: ``pooled=False`` skips the
    pooled pairs when the table has properties (``pooled`` is then empty; ``overall`` too under the
    project's protocol), ``curves=False`` computes only the relative accuracies."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown VoE protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    frame = table.to_pandas() if hasattr(table, "to_pandas") else pd.DataFrame(table)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if protocol == "devcurriculum" and "after_onset" not in frame.columns:
        missing.append("after_onset (protocol 'devcurriculum' reads only the windows after the onset)")
    if missing:
        raise ValueError(f"surprise table lacks columns {missing}")
    if protocol == "devcurriculum":
        after = frame[frame["after_onset"].astype(bool)]
        lost = sorted(set(frame["pair_id"]) - set(after["pair_id"]))
        if lost:
            raise ValueError(f"pair {lost[0]!r} has no window after its onset (protocol 'devcurriculum' reads only those)")
        frame = after
    clips = clip_matrix(frame, pad=protocol == "garrido2025")
    names = METRICS if curves else ("relative_accuracy_mean", "relative_accuracy_max")

    def compute(matrix: ClipMatrix) -> dict[str, float]:
        if protocol == "garrido2025":
            return _garrido2025(matrix.possible, matrix.impossible, curves=curves)
        return _devcurriculum(matrix.possible, matrix.impossible, curves=curves)

    by_property: dict[str, dict[str, float]] = {}
    if clips.properties is not None:
        for prop in sorted(set(clips.properties)):  # the reference runs (and pads) each block alone
            by_property[str(prop)] = compute(clips.subset(clips.properties == prop))
    whole = compute(clips) if pooled or not by_property else {}
    property_mean = {m: float(np.mean([v[m] for v in by_property.values()])) for m in names} if by_property else {}
    overall = property_mean if protocol == "garrido2025" and by_property else whole
    return VoEMetrics(protocol, overall, whole, by_property, property_mean, len(clips.possible))


# ---- the table as matched rows ----------------------------------------------------------------------


@dataclass(frozen=True)
class ClipMatrix:
    """Surprise per window of the possible and of the impossible clip of every pair, rows matched.

    ``possible[k]`` and ``impossible[k]`` are pair ``pair_ids[k]``'s clips, its ``widths[k]`` windows in
    ``window`` order, then padding up to the longest clip: zeros (``pad``, the reference's) or NaN
    (ignored by the float64 reductions of the project's protocol).
    """

    pair_ids: np.ndarray
    possible: np.ndarray
    impossible: np.ndarray
    widths: np.ndarray
    properties: np.ndarray | None

    def subset(self, keep: np.ndarray) -> ClipMatrix:
        """The pairs ``keep`` (a boolean mask), padded to their own longest clip (the reference pads a block alone)."""
        width = int(self.widths[keep].max())
        return ClipMatrix(self.pair_ids[keep], self.possible[keep, :width], self.impossible[keep, :width],
                          self.widths[keep], None if self.properties is None else self.properties[keep])


def clip_matrix(frame: pd.DataFrame, *, pad: bool) -> ClipMatrix:
    """The matched ``(n_pairs, n_windows)`` surprise of ``frame``'s pairs, checked: every pair one possible and
    one impossible clip with the same windows (and one property), every surprise finite."""
    if frame.empty:
        raise ValueError("surprise table has no rows (no pairs to score)")
    frame = frame.assign(possible=frame["possible"].astype(bool)).sort_values(["pair_id", "possible", "window"],
                                                                               kind="stable")
    surprise = frame["surprise"].to_numpy(dtype=np.float64)
    if not np.isfinite(surprise).all():
        bad = frame.iloc[int(np.flatnonzero(~np.isfinite(surprise))[0])]
        raise ValueError(f"non-finite surprise in pair {bad['pair_id']!r} (window {bad['window']})")
    duplicated = frame.duplicated(["pair_id", "possible", "window"], keep=False)
    if duplicated.any():
        bad = frame[duplicated].iloc[0]
        raise ValueError(f"pair {bad['pair_id']!r}: window {bad['window']} of its "
                         f"{'possible' if bad['possible'] else 'impossible'} clip appears twice")
    sides = frame.groupby("pair_id", sort=True)["possible"].agg(["nunique", "first"])
    lonely = sides[sides["nunique"] != 2]
    if len(lonely):
        has = "an impossible" if not lonely["first"].iloc[0] else "a possible"
        raise ValueError(f"pair {lonely.index[0]!r}: only {has} clip; a pair has one possible and one impossible clip")
    both = frame.groupby(["pair_id", "window"], sort=False)["possible"].transform("size")
    if (both != 2).any():
        pair_id = frame.loc[both != 2, "pair_id"].iloc[0]
        pair = frame[frame["pair_id"] == pair_id]
        raise ValueError(f"pair {pair_id!r}: its clips have different windows ({pair.loc[pair['possible'], 'window'].tolist()} "
                         f"vs {pair.loc[~pair['possible'], 'window'].tolist()})")
    properties = None
    if "property" in frame.columns:
        mixed = frame.groupby("pair_id", sort=True)["property"].nunique()
        if (mixed > 1).any():
            pair_id = mixed.index[mixed > 1][0]
            found = sorted(frame.loc[frame["pair_id"] == pair_id, "property"].unique())
            raise ValueError(f"pair {pair_id!r}: clips of different properties {found}")
        properties = frame.groupby("pair_id", sort=True)["property"].first().to_numpy(dtype=object)
    codes, pair_ids = pd.factorize(frame["pair_id"], sort=True)
    rank = frame.groupby(["pair_id", "possible"], sort=False).cumcount().to_numpy()
    widths = np.bincount(codes, minlength=len(pair_ids)) // 2
    matrices = {}
    for side in (True, False):
        mine = (frame["possible"] == side).to_numpy()
        out = np.full((len(pair_ids), int(widths.max())), 0.0 if pad else np.nan)
        out[codes[mine], rank[mine]] = surprise[mine]
        matrices[side] = out
    return ClipMatrix(np.asarray(pair_ids, dtype=object), matrices[True], matrices[False], widths, properties)


# ---- garrido2025: the reference's compute_metrics ---------------------------------------------------


def threshold_index(n: int) -> int:
    """The reference's threshold index ``int(np.ceil(0.9 * n))`` into the sorted possible scores, in integers."""
    return -(-9 * n // 10)


def _garrido2025(possible: np.ndarray, impossible: np.ndarray, *, curves: bool = True) -> dict[str, float]:
    """The reference's metrics on matched rows (float32 as there), as fractions."""
    import torch
    from sklearn import config_context
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    real = torch.from_numpy(possible.astype(np.float32))
    fake = torch.from_numpy(impossible.astype(np.float32))
    n = real.shape[0]
    out: dict[str, float] = {}
    # torch: an integer count divided by an int is float32, then * 100 (float32), as in the reference
    out["relative_accuracy_mean"] = (real.mean(1) < fake.mean(1)).sum().div(n).mul(100).item() / 100
    out["relative_accuracy_max"] = (real.max(1)[0] < fake.max(1)[0]).sum().div(n).mul(100).item() / 100
    if not curves:
        return out
    d1, d2 = real.max(1)[0], fake.max(1)[0]
    index = threshold_index(len(d1))
    if index >= len(d1):
        log.warning("absolute accuracy is NaN for %d pairs: the reference's threshold sort(d1)[ceil(0.9 n)] "
                    "needs n >= 10 (it raises IndexError below)", n)
        out["absolute_accuracy_max"] = math.nan
    else:
        thresh = d1.sort()[0][index]
        right = (d1 < thresh).sum() + (d2 > thresh).sum()
        out["absolute_accuracy_max"] = right.div(d1.shape[0] + d2.shape[0]).mul(100).item() / 100
    losses = torch.cat([real, fake])  # every possible, then every impossible clip: the curves ignore row order
    labels = np.r_[np.ones(n), np.zeros(n)]  # 1.0 = possible, as the reference's labels
    # the inputs are built here, finite and binary: sklearn's argument checks only cost time
    with config_context(skip_parameter_validation=True, assume_finite=True):
        for tag, score in (("mean", losses.mean(1)), ("max", losses.max(1)[0])):
            negated = (-score).numpy()  # float32, as sklearn receives the reference's tensor
            precision, recall, _ = precision_recall_curve(labels, negated)
            out[f"auprc_{tag}"] = float(auc(recall, precision))
            fpr, tpr, _ = roc_curve(labels, negated)
            out[f"auroc_{tag}"] = float(auc(fpr, tpr))
    return {m: out[m] for m in METRICS}


# ---- devcurriculum: the project's reading -----------------------------------------------------------


def pairwise_accuracy(possible: np.ndarray, impossible: np.ndarray) -> float:
    """Fraction of pairs whose impossible clip is more surprising than its possible clip (ties: one half)."""
    possible, impossible = np.asarray(possible, float), np.asarray(impossible, float)
    if possible.shape != impossible.shape or not len(possible):
        raise ValueError(f"need matched, non-empty surprise arrays, got {possible.shape} and {impossible.shape}")
    return float(np.mean((impossible > possible) + 0.5 * (impossible == possible)))


def calibrated_accuracy(possible: np.ndarray, impossible: np.ndarray, share: float = CALIBRATION) -> float:
    """Single-clip accuracy of "impossible iff surprise > thr", ``thr`` the ``ceil(share n)``-th smallest
    possible score (so at least ``share`` of the possible clips fall at or below it)."""
    d1, d2 = np.sort(np.asarray(possible, float)), np.asarray(impossible, float)
    thresh = d1[max(math.ceil(share * len(d1)) - 1, 0)]
    return float(((d1 <= thresh).sum() + (d2 > thresh).sum()) / (len(d1) + len(d2)))


def _devcurriculum(possible: np.ndarray, impossible: np.ndarray, *, curves: bool = True) -> dict[str, float]:
    from sklearn import config_context
    from sklearn.metrics import average_precision_score, roc_auc_score

    out: dict[str, float] = {}
    labels = np.r_[np.zeros(len(possible)), np.ones(len(impossible))]  # 1 = impossible: the violation to find
    for tag, reduce in (("mean", np.nanmean), ("max", np.nanmax)):
        p, q = reduce(possible, axis=1), reduce(impossible, axis=1)
        out[f"relative_accuracy_{tag}"] = pairwise_accuracy(p, q)
        if not curves:
            continue
        with config_context(skip_parameter_validation=True, assume_finite=True):
            out[f"auroc_{tag}"] = float(roc_auc_score(labels, np.r_[p, q]))
            out[f"auprc_{tag}"] = float(average_precision_score(labels, np.r_[p, q]))
        if tag == "max":
            out["absolute_accuracy_max"] = calibrated_accuracy(p, q)
    return out if not curves else {m: out[m] for m in METRICS}


# ---- effect size against untrained networks ---------------------------------------------------------


def hedges_g(trained: Sequence[float] | np.ndarray, untrained: Sequence[float] | np.ndarray) -> float:
    """Hedges' g of ``trained`` over ``untrained`` as the reference's figure notebook computes it.

    ``d = (mean1 - mean2) / s_pooled`` with each group's standard deviation at ``ddof=1``, corrected by
    ``J = 1 - 3 / (4 (n1 + n2) - 9)``. NaN when a group has fewer than two values (no spread to pool)
    or the pooled spread is zero at float precision: accuracies of exactly 0.5 averaged in another
    order differ in the last bit, and dividing by that spread gave g of 1e13.
    """
    d1, d2 = np.asarray(trained, np.float64), np.asarray(untrained, np.float64)
    n1, n2 = len(d1), len(d2)
    if n1 < 2 or n2 < 2 or np.isnan(d1).any() or np.isnan(d2).any():
        return math.nan
    s1, s2 = np.std(d1, ddof=1), np.std(d2, ddof=1)
    pooled = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
    scale = max(1.0, float(np.abs(d1).max()), float(np.abs(d2).max()))
    if pooled <= 1e-9 * scale:  # no spread beyond float rounding
        return math.nan
    d = (float(np.mean(d1)) - float(np.mean(d2))) / pooled
    return d * (1 - 3 / (4 * (n1 + n2) - 9))


def hedges_g_interval(g: float, n1: int, n2: int) -> float:
    """The notebook's error bar of ``g``: ``1.96 * sqrt((n1 + n2) / (n1 n2) + g^2 / (2 (n1 + n2)))``."""
    from scipy.stats import norm

    return float(norm.ppf(0.975) * math.sqrt((n1 + n2) / (n1 * n2) + g**2 / (2 * (n1 + n2))))
