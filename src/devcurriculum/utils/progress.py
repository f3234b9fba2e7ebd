"""Progress bars that show on a terminal and stay out of log files.

A tqdm bar redraws itself with carriage returns; in a file (a rule's ``log:``, a SLURM job's output)
every redraw becomes text, so a long job's log fills with bar fragments and its useful lines scroll
away. :func:`progress_bar` is the one way the library makes a bar: when its stream (stderr) is not a
terminal the bar is disabled, and the stage logs its own progress lines instead: :class:`ProgressLog`
writes ``done/total, rate, ETA`` lines into the log at most every :data:`PROGRESS_EVERY_S` seconds
(embedding, surprise, feature extraction), and the training loop adds samples/s and an ETA to its
loss line every ``pretrain.log_every`` steps. :func:`quiet_library_progress` does the same for the
bars that transformers and huggingface_hub draw themselves (``Writing model shards``).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import IO, Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

#: a long stage writes a progress line into its log at most this often (seconds)
PROGRESS_EVERY_S = 30.0


def stream_is_terminal(stream: IO[str] | None = None) -> bool:
    """True when ``stream`` (default: the current ``sys.stderr``) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(iterable: Iterable[T] | None = None, *, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A ``tqdm`` bar on stderr, disabled unless ``enabled`` and stderr is a terminal.

    ``kwargs`` go to ``tqdm`` unchanged (``total``, ``desc``, ``unit``, ``initial``, ``leave``, ...).
    A disabled bar still counts (``bar.n``) and can be used as a context manager or iterator.
    """
    stream = kwargs.pop("file", None) or sys.stderr
    show = enabled and stream_is_terminal(stream)
    return tqdm(iterable, file=stream, disable=not show, **kwargs)


def quiet_library_progress(stream: IO[str] | None = None) -> bool:
    """Turn off transformers' and huggingface_hub's own bars when ``stream`` is not a terminal.

    Both libraries decide once, at import, from ``HF_HUB_DISABLE_PROGRESS_BARS``; the variable covers
    a later import and the calls cover an earlier one. Returns True when the bars were turned off.
    """
    if stream_is_terminal(stream):
        return False
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    return True


def format_duration(seconds: float) -> str:
    """``42 s``, ``3m05s``, ``2h07m``; ``?`` when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class ProgressLog:
    """Progress lines for log files: ``what: done/total unit (pct %), rate unit/s, ETA ...``.

    :meth:`update` counts work and logs a line when :data:`PROGRESS_EVERY_S` seconds (``every_s``)
    have passed since the last one, and always when the total is reached, so a long job's log shows
    how far it is and when it will end (a tqdm bar shows neither in a file). The rate is the average
    since this object was made; ``initial`` counts work done before it (a resumed run).
    """

    def __init__(
        self,
        logger: logging.Logger,
        total: int,
        *,
        what: str,
        unit: str,
        initial: int = 0,
        every_s: float = PROGRESS_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger, self.total, self.what, self.unit = logger, int(total), what, unit
        self.initial = self.done = int(initial)
        self.every_s, self.clock = every_s, clock
        self.start = self.last = clock()

    def rate(self) -> float:
        """Units per second since the start (NaN before any time has passed)."""
        elapsed = self.clock() - self.start
        return (self.done - self.initial) / elapsed if elapsed > 0 else math.nan

    def eta(self) -> float:
        """Seconds left at the current rate (NaN when unknown)."""
        rate = self.rate()
        return (self.total - self.done) / rate if rate > 0 else math.nan

    def line(self) -> str:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (f"{self.what}: {self.done}/{self.total} {self.unit} ({pct:.0f} %), {self.rate():.1f} {self.unit}/s, "
                f"ETA {format_duration(self.eta())}")

    def update(self, n: int = 1) -> bool:
        """Count ``n`` more units; returns True when a line was logged."""
        self.done += int(n)
        now = self.clock()
        if self.done < self.total and now - self.last < self.every_s:
            return False
        self.last = now
        self.logger.info("%s", self.line())
        return True
