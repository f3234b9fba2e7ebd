"""The onset contract of a violation-of-expectation pair, shared by every VoE producer and reader.

A pair is two clips of one event, one possible and one impossible, identical up to the violation
and different in every frame from it on. The demo renderer (:mod:`devcurriculum.demo.voe`) checks
the pairs it draws with :func:`check_pair_frames`; the VoE sets (:mod:`devcurriculum.evalsets.voe`)
derive onsets with :func:`violation_onset` and check pair tables with :func:`pair_problems`, as
does the readout (:mod:`devcurriculum.eval.voe`). It sits below all of them and imports none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def violation_onset(possible: np.ndarray, impossible: np.ndarray) -> int:
    """The first frame index at which two clips differ (their length when they never do)."""
    if possible.shape != impossible.shape:
        raise ValueError(f"the clips of a pair differ in shape: {possible.shape} vs {impossible.shape}")
    differs = np.any(possible.reshape(len(possible), -1) != impossible.reshape(len(impossible), -1), axis=1)
    return int(np.argmax(differs)) if differs.any() else len(possible)


def check_pair_frames(possible: np.ndarray, impossible: np.ndarray, *, where: str) -> int:
    """The onset of a rendered pair; raises unless it is identical before it and differs in every frame from it on."""
    onset = violation_onset(possible, impossible)
    if onset == 0 or onset == len(possible):
        raise ValueError(f"{where}: the clips {'never differ' if onset else 'differ from the first frame'}; "
                         "a pair must be identical up to the violation and differ after it")
    same_after = [t for t in range(onset, len(possible)) if np.array_equal(possible[t], impossible[t])]
    if same_after:
        raise ValueError(f"{where}: the violation starts at frame {onset} but frames {same_after} are identical again")
    return onset


def pair_problems(items: pd.DataFrame) -> list[str]:
    """What is wrong with the pairs of ``items`` (pair_id, possible, property; ``row`` for messages), pair by pair.

    A pair has exactly two clips of one property, one possible and one impossible.
    """
    problems = []
    for pair_id, group in items.groupby("pair_id", sort=True):
        rows = ", ".join(str(r) for r in group["row"]) if "row" in group else ""
        where = f"pair {pair_id!r}" + (f" (row{'s' if len(group) > 1 else ''} {rows})" if rows else "")
        n_possible = int(group["possible"].sum())
        if len(group) == 1:
            problems.append(f"{where}: missing partner (only {'a possible' if n_possible else 'an impossible'} clip)")
        elif len(group) > 2:
            problems.append(f"{where}: {len(group)} clips; a pair has one possible and one impossible clip")
        elif n_possible == 2:
            problems.append(f"{where}: two possible clips, no impossible one")
        elif n_possible == 0:
            problems.append(f"{where}: two impossible clips, no possible one")
        if group["property"].nunique() > 1:
            problems.append(f"{where}: clips of different properties {sorted(group['property'].unique())}")
    return problems
