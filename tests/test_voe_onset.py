"""The VoE onset contract (devcurriculum.voe_onset): onsets, rendered-pair checks, pair tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from devcurriculum.voe_onset import check_pair_frames, pair_problems, violation_onset


def test_violation_onset() -> None:
    a = np.zeros((5, 2, 2, 3), np.uint8)
    b = a.copy()
    assert violation_onset(a, b) == 5
    b[3, 0, 0, 1] = 1
    assert violation_onset(a, b) == 3
    with pytest.raises(ValueError, match="differ in shape"):
        violation_onset(a, b[:4])


def test_check_pair_frames_needs_identical_frames_before_and_different_frames_after() -> None:
    a = np.zeros((6, 2, 2, 3), np.uint8)
    b = a.copy()
    b[2:, 0, 0, 0] = 9
    assert check_pair_frames(a, b, where="pair x") == 2
    with pytest.raises(ValueError, match="pair x: the clips never differ"):
        check_pair_frames(a, a.copy(), where="pair x")
    with pytest.raises(ValueError, match="pair x: the clips differ from the first frame"):
        check_pair_frames(a, a + 1, where="pair x")
    b[4] = a[4]
    with pytest.raises(ValueError, match=r"pair x: the violation starts at frame 2 but frames \[4\] are identical again"):
        check_pair_frames(a, b, where="pair x")


def test_pair_problems_names_every_broken_pair() -> None:
    items = pd.DataFrame(
        {
            "pair_id": ["ok", "ok", "lone", "two", "two", "mixed", "mixed"],
            "possible": [True, False, True, True, True, True, False],
            "property": ["p", "p", "p", "p", "p", "p", "q"],
            "row": [1, 2, 3, 4, 5, 6, 7],
        }
    )
    assert pair_problems(items) == [
        "pair 'lone' (row 3): missing partner (only a possible clip)",
        "pair 'mixed' (rows 6, 7): clips of different properties ['p', 'q']",
        "pair 'two' (rows 4, 5): two possible clips, no impossible one",
    ]
    assert pair_problems(items[items["pair_id"] == "ok"]) == []
