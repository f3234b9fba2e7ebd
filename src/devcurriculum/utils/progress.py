"""Progress bars that show on a terminal and stay out of log files.

A tqdm bar redraws itself with carriage returns; in a file (a rule's ``log:``, a SLURM job's output)
every redraw becomes text, so a long job's log fills with bar fragments and its useful lines scroll
away. :func:`progress_bar` is the one way the library makes a bar: when its stream (stderr) is not a
terminal the bar is disabled, and the stage logs its own summary lines instead (the training loop
logs a loss line every ``pretrain.log_every`` steps). :func:`quiet_library_progress` does the same for
the bars that transformers and huggingface_hub draw themselves (``Writing model shards``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import IO, Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


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
