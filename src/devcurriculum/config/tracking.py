"""``tracking``: an optional experiment tracker (Weights & Biases or MLflow) beside TensorBoard and metrics.parquet."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from devcurriculum.config.block import ConfigBlock, runtime

_WHY = "a tracker repeats what metrics.parquet and summary.parquet record"


@dataclasses.dataclass(frozen=True)
class TrackingConfig(ConfigBlock):
    """``tracking``: every key runtime-only (nothing reruns when it changes; devcurriculum.train.tracking)."""

    SCHEMA: ClassVar[str] = "#/properties/tracking"
    WHERE: ClassVar[str] = "tracking"

    backend: Literal["none", "wandb", "mlflow"] = runtime("none", why=_WHY)
    project: str = runtime("devcurriculum", why=_WHY)
    mode: Literal["offline", "online"] = runtime("offline", why=_WHY)
    dir: str | None = runtime(None, why=_WHY)

    @property
    def enabled(self) -> bool:
        return self.backend != "none"
