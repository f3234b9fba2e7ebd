"""Watching a run while it trains: ``metrics.parquet`` rewritten as it grows, and optional TensorBoard events.

Every ``pretrain.log_every`` steps rank 0 rewrites ``metrics.parquet`` with every row so far
(atomically: the file under that name is always a complete table, never a half-written one; read
it mid-run through one open file, ``utils.io.read_table`` or DuckDB, because ``pd.read_parquet(path)``
opens the path twice and can mix two versions;
its schema metadata says ``devcurriculum.complete: false``; the final table, written with the
weights, says ``true``). A rewrite costs O(rows): milliseconds for a short run, about 0.15 s at
100,000 rows. So once the table holds :data:`THROTTLE_ROWS` rows, a flush is skipped while less than
:data:`FLUSH_COST_FACTOR` times the previous flush's duration has passed: writing never takes more
than about 5 % of a long run. With ``pretrain.tensorboard`` the same rows also go to a TensorBoard
event file in ``<run>/tensorboard/`` (one scalar per column and step, ``lr_group/<j>`` per param
group), flushed at the same cadence.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devcurriculum.train.metrics import MetricsLog
from devcurriculum.train.tracking import Tracker, step_metrics

#: the folder of a run that receives TensorBoard events (``pretrain.tensorboard: true``)
TENSORBOARD_DIR = "tensorboard"
#: a flush waits at least this many times the previous flush's duration (bounds writing to ~1/20 of the time)
FLUSH_COST_FACTOR = 20.0
#: tables shorter than this are always flushed (a write costs milliseconds; the first one also pays imports)
THROTTLE_ROWS = 10_000
#: metrics columns written as TensorBoard scalars (``lr_groups`` is added per group)
TB_SCALARS = ("loss", "lr", "stage", "effective_fraction", "temperature", "blur_sigma", "blur_prob", "samples_per_s")


class LiveMetrics:
    """Rank 0's view of a run in progress: the growing metrics table and, optionally, TensorBoard events."""

    def __init__(
        self,
        metrics_path: Path,
        *,
        metadata: Mapping[str, str],
        tensorboard_dir: Path | None = None,
        start_step: int = 0,
        tracker: Tracker | None = None,
        run: Mapping[str, Any] | None = None,
    ) -> None:
        self.metrics_path = metrics_path
        self.run = run  # model, curriculum, seed columns (train/metrics.py run_columns)
        self.tracker = tracker  # W&B / MLflow (train/tracking.py): every step's scalars
        self.metadata = dict(metadata)
        self._last_flush_end = -math.inf
        self._last_flush_cost = 0.0
        self._writer = _event_writer(tensorboard_dir, start_step) if tensorboard_dir is not None else None

    def record(self, row: Mapping[str, Any]) -> None:
        """Queue one step's scalars for TensorBoard (nothing is written to disk until :meth:`flush`) and the tracker."""
        if self.tracker is not None:
            self.tracker.log(step_metrics(row), int(row["step"]))
        if self._writer is None:
            return
        step = int(row["step"])
        for name in TB_SCALARS:
            value = float(row[name])
            if math.isfinite(value):  # NaN temperature = uniform sampling: nothing to draw
                self._writer.add_scalar(name, value, step)
        for j, lr in enumerate(row["lr_groups"]):
            self._writer.add_scalar(f"lr_group/{j}", float(lr), step)

    def flush(self, metrics: MetricsLog, *, force: bool = False) -> bool:
        """Rewrite the metrics table (and flush events) unless the last flush was too recent; True if written."""
        now = time.perf_counter()
        recent = now - self._last_flush_end < FLUSH_COST_FACTOR * self._last_flush_cost
        if recent and not force and len(metrics) >= THROTTLE_ROWS:
            return False
        metrics.write(self.metrics_path, metadata=self.metadata, run=self.run)
        if self._writer is not None:
            self._writer.flush()
        self._last_flush_end = time.perf_counter()
        self._last_flush_cost = self._last_flush_end - now
        return True

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.finish()
            self.tracker = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _event_writer(folder: Path, start_step: int) -> Any:
    """A TensorBoard ``SummaryWriter`` in ``folder``: emptied for a fresh run, purged past ``start_step`` on resume.

    A retrained run must not show the old run's curve beside its own; a resumed run drops the events
    it logged after its resume state (they are recomputed) so every step appears once.
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # pragma: no cover - tensorboard is pinned in requirements.txt
        raise RuntimeError(f"pretrain.tensorboard is true but tensorboard is not installed ({exc})") from None
    if start_step == 0:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return SummaryWriter(log_dir=str(folder), purge_step=start_step if start_step > 0 else None)
