"""``models.<name>.init_from``: start a learner from published or earlier weights instead of random init.

A path (``init_from: /models/videomae-base``) or a block (``init_from: {path: ..., allow_missing: ...}``).
What the path may be, how keys are matched and what "allowed missing" means: ``devcurriculum.train.init_from``
and docs/models.md ("Starting from published weights").
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from devcurriculum.config.block import OMIT_NONE, ConfigBlock


@dataclasses.dataclass(frozen=True)
class InitFromConfig(ConfigBlock):
    """``models.<name>.init_from`` as a block: the source and which of the learner's keys may stay random."""

    SCHEMA: ClassVar[str] = "#/$defs/init_from"
    WHERE: ClassVar[str] = "models.<name>.init_from"

    path: str
    allow_missing: bool | tuple[str, ...] = False


InitFrom = str | InitFromConfig | None
#: ``models.<name>.init_from``: part of the network (it sets the initial weights), left out of the
#: model's dicts while None, so configs without it keep their params (and their runs)
INIT_FROM_FIELD_META = {OMIT_NONE: True}

def init_from_block(value: InitFrom) -> InitFromConfig | None:
    """The block form of an ``init_from`` value (a bare path is ``{path: <it>}``), or None."""
    if value is None or isinstance(value, InitFromConfig):
        return value
    return InitFromConfig(path=str(value))
