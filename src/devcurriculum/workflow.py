"""What the Snakefile needs from the library: the validated, typed config.

Snakemake's own ``validate()`` prints the whole schema with a misspelled key (hundreds of lines); here
a mistake prints one line naming the key, with a "did you mean" when a known key is close, and the
workflow stops before any job starts.
"""

from __future__ import annotations

import sys
from collections.abc import MutableMapping
from typing import Any

from devcurriculum.config import ConfigError, WorkflowConfig


def load_workflow_config(config: MutableMapping[str, Any]) -> WorkflowConfig:
    """Validate Snakemake's ``config`` dict, fill in every default in place, and return it typed.

    On a config mistake: print ``config error: <key>: <what is wrong>`` and exit with status 1.
    """
    try:
        cfg = WorkflowConfig.from_mapping(config)
    except ConfigError as exc:
        sys.exit(f"config error: {exc}")
    config.clear()
    config.update(cfg.to_dict())
    return cfg
