"""One logging set-up for every stage: messages go to the rule's ``log:`` file and to stderr."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Literal, NoReturn

from devcurriculum.utils.progress import quiet_library_progress

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file: str | Path | None = None, level: int = logging.INFO) -> logging.Logger:
    """Configure the ``devcurriculum`` logger; safe to call more than once (handlers are replaced).

    Off a terminal (a rule's log, a batch job), transformers' and huggingface_hub's own progress bars
    are turned off too, so the log holds log lines only (``utils.progress``).
    """
    quiet_library_progress()
    logger = logging.getLogger("devcurriculum")
    logger.setLevel(level)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="a"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(handler)
    logger.propagate = False
    return logger


class stage_log:
    """Context manager for a stage script: log to the rule's ``log:`` file, record any crash there.

    Snakemake shows the log of a failed job; without this, a traceback would only reach stderr.
    """

    def __init__(self, log_file: str | Path | None, stage: str) -> None:
        self.logger = setup_logging(log_file)
        self.stage = stage

    def __enter__(self) -> logging.Logger:
        self.logger.info("stage %s started", self.stage)
        return self.logger

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if exc is not None:
            self.logger.error("stage %s failed: %s", self.stage, exc, exc_info=(type(exc), exc, tb))
        else:
            self.logger.info("stage %s finished", self.stage)
        return False


def exit_job() -> NoReturn:
    """End a stage script's process after its outputs are written: flush logs and stdio, then exit 0
    without the interpreter's teardown.

    Every script ends with this after its ``with stage_log(...)`` block (an exception there still ends
    the process the usual way, with its traceback and a non-zero status). Why: at teardown, Arrow's native
    thread pools can abort a process that has finished its work (SIGABRT, "terminate called without an
    active exception"; apache/arrow#34314, intermittent), and Snakemake would count the job as failed
    and delete its outputs (seen once in a full test run: a ``gather_clips`` job). Nothing a stage needs
    happens at teardown: outputs are written atomically before this point, and loader workers and
    temporary folders are closed by their context managers.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)
