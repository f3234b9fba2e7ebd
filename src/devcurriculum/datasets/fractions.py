"""Corpus fractions: nested, seeded subsets of each age group's videos (``runs[].data_fractions``).

A run with ``data_fraction`` f trains on the first ``ceil(f * n)`` videos of each age group (n = the
group's usable videos: ``status == "ok"`` and an age group in ``videos.parquet``) in an order drawn by
the run's seed. The order is a seeded permutation by video: each video's rank is the SHA-256 of
``"{seed}:{video_id}"`` (ties, which need a hash collision, by ``video_id``), so

- a smaller fraction's videos are a subset of every larger fraction's (the same order, a shorter prefix);
- the order of two videos does not depend on which other videos the corpus holds (adding a video to
  the corpus inserts it somewhere without reordering the rest);
- fraction 1 is the whole corpus, the run without a fraction (the same folder, the same job).

``hours`` of a subset is the summed ``duration_s`` of its videos over every age group, / 3600: the
video a run was given, whichever of its groups its curriculum draws from.

Fractions are written as numbers (``0.125``) or, in YAML, as ``"1/8"``; a run folder names its
fraction as ``@frac0.125`` (six decimals at most, trailing zeros dropped), plus ``-epochs`` when the
run trains the same number of epochs instead of the same number of steps (``runs[].fraction_budget``).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy, pandas and pyarrow load on first use: config.runs imports the keys from here
    import numpy as np
    import pandas as pd

    from devcurriculum.utils.paths import PathLike

#: the training budget of a fraction run: the same optimiser steps, or the same epochs (steps x fraction)
BUDGETS: tuple[str, ...] = ("steps", "epochs")
#: ``@frac<f>`` or ``@frac<f>-epochs``: the run folder's fraction part (empty for the whole corpus)
KEY_PATTERN = re.compile(r"^@frac(?P<fraction>0\.[0-9]+|1)(?P<epochs>-epochs)?$")
_RATIO = re.compile(r"^\s*(?P<num>[0-9]+)\s*/\s*(?P<den>[0-9]+)\s*$")
VIDEO_COLUMNS = ("video_id", "age_group", "duration_s", "status")


def parse_fraction(value: float | int | str, where: str = "data_fractions") -> float:
    """A fraction in (0, 1] from a number or a ``"a/b"`` string; anything else is an error naming ``where``."""
    if isinstance(value, bool):
        raise ValueError(f"{where}: {value!r} is not a fraction (a number in (0, 1] or 'a/b')")
    if isinstance(value, str):
        match = _RATIO.match(value)
        if match is None:
            raise ValueError(f"{where}: {value!r} is not a fraction (a number in (0, 1] or 'a/b' such as '1/8')")
        num, den = int(match["num"]), int(match["den"])
        if den == 0:
            raise ValueError(f"{where}: {value!r} divides by zero")
        fraction = num / den
    elif isinstance(value, int | float):
        fraction = float(value)
    else:
        raise ValueError(f"{where}: {value!r} is not a fraction (a number in (0, 1] or 'a/b')")
    if not (math.isfinite(fraction) and 0.0 < fraction <= 1.0):
        raise ValueError(f"{where}: {value!r} must lie in (0, 1]")
    return fraction


def fraction_key(fraction: float, budget: str = "steps") -> str:
    """The run folder's fraction part: ``""`` for the whole corpus, else ``@frac0.125`` (``-epochs`` appended
    for the epochs budget); six decimals at most, so 1/3 is ``@frac0.333333``."""
    if budget not in BUDGETS:
        raise ValueError(f"fraction_budget: must be one of {list(BUDGETS)}, got {budget!r}")
    if fraction >= 1.0:
        return ""
    text = f"{fraction:.6f}".rstrip("0").rstrip(".")
    if text in ("0", "1"):
        raise ValueError(f"data_fractions: {fraction!r} rounds to {text} at six decimals; use a fraction of at least 1e-6")
    return f"@frac{text}" + ("-epochs" if budget == "epochs" else "")


def parse_fraction_key(key: str) -> tuple[float, str]:
    """``(fraction, budget)`` of a run folder's fraction part (``""``: the whole corpus, steps)."""
    if not key:
        return 1.0, "steps"
    match = KEY_PATTERN.match(key)
    if match is None:
        raise ValueError(f"{key!r} is not a fraction key (@frac0.125 or @frac0.125-epochs)")
    return float(match["fraction"]), "epochs" if match["epochs"] else "steps"


def fraction_label(fraction: float) -> str:
    """A short label: ``1/8`` when the fraction is a ratio of small integers, else ``0.3``."""
    ratio = Fraction(fraction).limit_denominator(64)
    if abs(float(ratio) - fraction) < 1e-9:
        return "1" if ratio == 1 else f"{ratio.numerator}/{ratio.denominator}"
    return f"{fraction:g}"


def epoch_steps(steps_per_stage: int, fraction: float) -> int:
    """Steps per stage of the epochs budget: ``steps_per_stage`` scaled by the fraction, at least 1."""
    return max(1, round(steps_per_stage * fraction))


def video_order(video_ids: Iterable[str], seed: int) -> list[str]:
    """``video_ids`` in the seeded order: by SHA-256 of ``"{seed}:{video_id}"``, then by id."""
    ids = [str(v) for v in video_ids]
    return sorted(ids, key=lambda v: (hashlib.sha256(f"{int(seed)}:{v}".encode()).hexdigest(), v))


def group_count(n_videos: int, fraction: float) -> int:
    """How many of a group's ``n_videos`` a fraction takes: ``ceil(fraction * n)`` (at least 1 of a non-empty group)."""
    return min(n_videos, math.ceil(round(fraction * n_videos, 9)))


def usable_videos(videos: pd.DataFrame) -> pd.DataFrame:
    """The rows of a video index a run can train on: ``status == "ok"`` with an age group."""
    missing = [c for c in VIDEO_COLUMNS if c not in videos.columns]
    if missing:
        raise ValueError(f"the video index lacks columns {missing} (needs {list(VIDEO_COLUMNS)})")
    ok = videos[(videos["status"] == "ok") & videos["age_group"].notna()]
    return ok.reset_index(drop=True)


def fraction_videos(videos: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """The usable videos of a fraction: per age group the first ``ceil(fraction * n)`` in the seeded order.

    Returns ``video_id, age_group, duration_s, rank`` (rank = position in its group's order, from 0),
    groups in order of first appearance, each group's videos by rank.
    """
    import numpy as np
    import pandas as pd

    ok = usable_videos(videos)
    parts = []
    for group, rows in ok.groupby("age_group", sort=False):
        order = video_order(rows["video_id"], seed)
        take = order[: group_count(len(order), fraction)]
        ranked = rows.set_index("video_id").loc[take].reset_index()
        parts.append(ranked.assign(age_group=group, rank=np.arange(len(take)))[["video_id", "age_group", "duration_s", "rank"]])
    if not parts:
        return pd.DataFrame({"video_id": [], "age_group": [], "duration_s": [], "rank": []})
    return pd.concat(parts, ignore_index=True)


def fraction_hours(videos: pd.DataFrame, fraction: float, seed: int) -> float:
    """Hours of video in a fraction's subset (every age group)."""
    return float(fraction_videos(videos, fraction, seed)["duration_s"].sum()) / 3600.0


def read_videos(path: PathLike) -> pd.DataFrame:
    """The columns of ``videos.parquet`` a fraction needs."""
    from devcurriculum.utils.io import read_table

    return read_table(path, columns=list(VIDEO_COLUMNS)).to_pandas()


def subset_pools(
    clips: pd.DataFrame, pools: dict[str, np.ndarray], videos: pd.DataFrame, fraction: float, seed: int,
) -> dict[str, np.ndarray]:
    """Each group's pool (global clip indices) restricted to the clips of the fraction's videos.

    ``clips`` is the clip (or pair) cache's table, indexed by global index, with a ``video_id`` column.
    A group left without a clip is an error naming it (its chosen videos gave no clip).
    """
    import numpy as np

    if "video_id" not in clips.columns:
        raise ValueError("the clip table has no video_id column: cannot take a fraction of the corpus by video")
    chosen = set(fraction_videos(videos, fraction, seed)["video_id"])
    clip_videos = clips["video_id"].to_numpy()
    out = {}
    for group, pool in pools.items():
        kept = pool[np.isin(clip_videos[pool], list(chosen))]
        if not len(kept):
            raise ValueError(
                f"data fraction {fraction:g} (seed {seed}): age group {group!r} keeps no clip; its chosen videos "
                "gave none (use a larger fraction)"
            )
        out[group] = kept
    return out
