"""``baselines``: outside models (not trained by this workflow) evaluated frozen beside the learners.

Each ``baselines.<name>`` is read out on every benchmark and scored on every VoE set (the feature-change
proxy surprise) like a learner, and its rows join ``summary.parquet`` with ``model = <name>`` and
``curriculum = baseline`` (docs/evaluation.md, "Outside models as baselines").
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from devcurriculum.config.block import ConfigBlock
from devcurriculum.config.schema import ConfigError

#: the ``curriculum`` of an outside model's rows in summary.parquet (it was trained elsewhere)
BASELINE = "baseline"
#: the baseline source whose model the workflow imports itself (rule import_dinov2)
IMPORTED_DINOV2 = "dinov2-s14-imgfocus"


@dataclasses.dataclass(frozen=True)
class BaselineConfig(ConfigBlock):
    """``baselines.<name>``: where the frozen model comes from and how a clip becomes its embedding."""

    SCHEMA: ClassVar[str] = "#/$defs/baseline"
    WHERE: ClassVar[str] = "baselines.<name>"

    source: Literal["dinov2-s14-imgfocus", "transformers", "torchvision"]
    path: str | None = None
    arch: str | None = None
    pooling: Literal["auto", "cls", "mean"] = "auto"
    frames: Literal["middle", "last", "mean"] = "middle"
    size: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.source in ("transformers", "torchvision") and not self.path:
            raise ConfigError(f"{self.WHERE}.path: required for source {self.source!r} (a local folder or file)")
        if self.source == IMPORTED_DINOV2 and self.path:
            raise ConfigError(f"{self.WHERE}.path: must be null for source {IMPORTED_DINOV2!r} (the workflow imports it)")
        if (self.source == "torchvision") != (self.arch is not None):
            raise ConfigError(f"{self.WHERE}.arch: a torchvision architecture (e.g. resnet50), needed for source "
                              "torchvision and only there")
