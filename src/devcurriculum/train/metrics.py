"""Per-step training metrics: an in-memory column store that is resumable and written as Parquet.

Rows live in the resume state (so a resumed run appends to exactly the rows that were checkpointed,
never duplicating the steps it repeats after a kill) and become ``metrics.parquet`` at the end, led
by the run's ``model``, ``curriculum`` and ``seed`` columns so that many runs' tables concatenate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import torch

from devcurriculum.utils.io import table_from_columns, write_table
from devcurriculum.utils.paths import PathLike

#: column -> Arrow type; floats are float64 so loss curves compare exactly across resumes.
METRICS_SCHEMA = pa.schema(
    [
        pa.field("step", pa.int64()),
        pa.field("loss", pa.float64()),
        pa.field("lr", pa.float64()),
        pa.field("lr_min", pa.float64()),
        pa.field("lr_max", pa.float64()),
        # every param group's rate, input side first (LeRaC gives each depth group its own)
        pa.field("lr_groups", pa.list_(pa.float64())),
        pa.field("stage", pa.int32()),
        pa.field("pool", pa.string()),
        pa.field("effective_fraction", pa.float64()),
        pa.field("temperature", pa.float64()),
        pa.field("blur_sigma", pa.float64()),
        pa.field("blur_prob", pa.float64()),
        pa.field("samples_per_s", pa.float64()),
        pa.field("wall_s", pa.float64()),
        pa.field("global_batch", pa.int64()),
    ]
)
COLUMNS: tuple[str, ...] = tuple(METRICS_SCHEMA.names)
#: the run's identity, the same on every row (first in the table): metrics.parquet files concatenate
RUN_SCHEMA = pa.schema(
    [pa.field("model", pa.string()), pa.field("curriculum", pa.string()), pa.field("seed", pa.int64())]
)


def run_columns(spec: Mapping[str, Any]) -> dict[str, Any]:
    """model, curriculum and seed of a run spec (``model_name``, ``curriculum_name``, ``seed``; None when absent)."""
    seed = spec.get("seed")
    return {"model": spec.get("model_name"), "curriculum": spec.get("curriculum_name"),
            "seed": None if seed is None else int(seed)}
_INT_COLUMNS = {"step", "stage", "global_batch"}
_STR_COLUMNS = {"pool"}
_LIST_COLUMNS = {"lr_groups"}


class MetricsLog:
    """Append-only per-step rows with a fixed column set (:data:`METRICS_SCHEMA`)."""

    def __init__(self) -> None:
        self._cols: dict[str, list[Any]] = {name: [] for name in COLUMNS}

    def __len__(self) -> int:
        return len(self._cols["step"])

    @property
    def last_step(self) -> int | None:
        return self._cols["step"][-1] if self._cols["step"] else None

    def append(self, row: Mapping[str, Any]) -> None:
        """Add one step; every column must be present and steps must increase."""
        missing = [c for c in COLUMNS if c not in row]
        extra = [c for c in row if c not in self._cols]
        if missing or extra:
            raise KeyError(f"metrics row: missing columns {missing}, unknown columns {extra}")
        step = int(row["step"])
        if self.last_step is not None and step <= self.last_step:
            raise ValueError(f"metrics row for step {step} does not follow step {self.last_step}")
        for name in COLUMNS:
            value = row[name]
            if name in _INT_COLUMNS:
                value = int(value)
            elif name in _STR_COLUMNS:
                value = str(value)
            elif name in _LIST_COLUMNS:
                value = [float(v) for v in value]
            else:
                value = math.nan if value is None else float(value)
            self._cols[name].append(value)

    def column(self, name: str) -> list[Any]:
        return list(self._cols[name])

    def state_dict(self) -> dict[str, Any]:
        """Numeric columns as int64/float64 tensors, ``pool`` as a list (``torch.load(weights_only=True)``-safe).

        Tensors keep the resume file cheap to write: one object per column instead of one per value.
        ``lr_groups`` becomes a (steps, groups) tensor: a run's number of param groups is fixed.
        """
        out: dict[str, Any] = {}
        for name, values in self._cols.items():
            if name in _STR_COLUMNS:
                out[name] = list(values)
            elif name in _INT_COLUMNS:
                out[name] = torch.tensor(values, dtype=torch.int64)
            else:
                out[name] = torch.tensor(values, dtype=torch.float64)
        return out

    @classmethod
    def from_state(cls, state: Mapping[str, Any], up_to_step: int | None = None) -> MetricsLog:
        """Rebuild from :meth:`state_dict`, keeping only rows with ``step < up_to_step`` when given."""
        missing = [c for c in COLUMNS if c not in state]
        if missing:
            raise KeyError(f"saved metrics lack columns {missing}")
        log = cls()
        cols = {name: (v.tolist() if isinstance(v, torch.Tensor) else list(v)) for name, v in state.items()}
        keep = [i for i, step in enumerate(cols["step"]) if up_to_step is None or int(step) < up_to_step]
        for name in COLUMNS:
            log._cols[name] = [cols[name][i] for i in keep]
        return log

    def to_table(self, run: Mapping[str, Any] | None = None) -> pa.Table:
        """The rows as a table; with ``run`` (:func:`run_columns`) led by model, curriculum and seed columns."""
        table = table_from_columns(self._cols, METRICS_SCHEMA)
        if run is None:
            return table
        n = table.num_rows
        ident = [pa.array([run[f.name]] * n, f.type) for f in RUN_SCHEMA]
        return pa.Table.from_arrays([*ident, *table.columns], schema=pa.schema([*RUN_SCHEMA, *METRICS_SCHEMA]))

    def write(self, path: PathLike, metadata: Mapping[str, str] | None = None,
              run: Mapping[str, Any] | None = None) -> None:
        """Write ``metrics.parquet`` atomically (with the run's identity columns when ``run`` is given)."""
        write_table(self.to_table(run), path, metadata=metadata)
