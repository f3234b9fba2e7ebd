"""Progress lines for log files: done/total, rate and ETA, at most every so often and always at the end."""

from __future__ import annotations

import logging

import pytest

from devcurriculum.utils.progress import ProgressLog, format_duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_every_interval_and_at_the_end_with_rate_and_eta(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = logging.getLogger("devcurriculum.test.progress")
    progress = ProgressLog(log, 100, what="embed part-0.parquet", unit="clips", every_s=30.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="devcurriculum.test.progress"):
        clock.now += 10
        assert not progress.update(20)  # 10 s < 30 s: no line yet
        clock.now += 30
        assert progress.update(20)  # 40 clips in 40 s
        clock.now += 5
        assert not progress.update(10)
        clock.now += 5
        assert progress.update(50)  # the total: always a line
    assert [r.getMessage() for r in caplog.records] == [
        "embed part-0.parquet: 40/100 clips (40 %), 1.0 clips/s, ETA 1m00s",
        "embed part-0.parquet: 100/100 clips (100 %), 2.0 clips/s, ETA 0 s",
    ]


def test_a_resumed_count_rates_only_the_new_work() -> None:
    clock = Clock()
    progress = ProgressLog(logging.getLogger("x"), 10, what="w", unit="steps", initial=6, clock=clock)
    clock.now += 2
    progress.update(2)
    assert progress.rate() == 1.0 and progress.eta() == 2.0


def test_durations_read_as_words() -> None:
    assert [format_duration(s) for s in (0.4, 42, 185, 7620, float("nan"), -1)] == [
        "0 s", "42 s", "3m05s", "2h07m", "?", "?"]
