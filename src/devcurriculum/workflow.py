"""What the Snakefile needs from the library: the validated, typed config.

Snakemake's own ``validate()`` prints the whole schema with a misspelled key (hundreds of lines); here
a mistake prints one line naming the key, with a "did you mean" when a known key is close, and the
workflow stops before any job starts.
"""

from __future__ import annotations

import mimetypes
import sys
from collections.abc import MutableMapping
from typing import Any

from devcurriculum.config import ConfigError, WorkflowConfig

#: Parquet's media type (IANA, 2024); without it ``snakemake --report`` embeds summary.parquet as text/plain
PARQUET_MIMETYPE = "application/vnd.apache.parquet"

#: mappings of named entries: in an overlay, ``name: null`` removes that entry of an earlier file
NAMED_ENTRIES = (("data", "age_groups"), ("curricula",), ("models",), ("benchmarks",), ("voe", "sets"), ("baselines",))


def drop_null_entries(config: MutableMapping[str, Any]) -> None:
    """Remove ``name: null`` entries of the named-entry mappings (an overlay's way to delete one).

    Snakemake merges ``--configfile`` overlays key by key and cannot delete, so an overlay on
    config.yaml would otherwise keep every demo benchmark, curriculum and age group.
    """
    for path in NAMED_ENTRIES:
        node: Any = config
        for key in path:
            node = node.get(key) if isinstance(node, MutableMapping) else None
        if isinstance(node, MutableMapping):
            for name in [name for name, value in node.items() if value is None]:
                del node[name]


def load_workflow_config(config: MutableMapping[str, Any]) -> WorkflowConfig:
    """Validate Snakemake's ``config`` dict, fill in every default in place, and return it typed.

    ``name: null`` entries of ``data.age_groups``, ``curricula``, ``models``, ``benchmarks``,
    ``voe.sets`` and ``baselines`` are removed first (:func:`drop_null_entries`). On a config mistake: print
    ``config error: <key>: <what is wrong>`` and exit with status 1.
    """
    drop_null_entries(config)
    try:
        cfg = WorkflowConfig.from_mapping(config)
    except ConfigError as exc:
        sys.exit(f"config error: {exc}")
    config.clear()
    config.update(cfg.to_dict())
    return cfg


def register_report_types() -> None:
    """Teach :mod:`mimetypes` (which ``snakemake --report`` asks) the type of ``.parquet`` files.

    The report then offers ``summary.parquet`` as a Parquet download, not as text: open it with pandas
    or DuckDB after saving it from the report (its data URI carries the type and the file name).
    """
    mimetypes.add_type(PARQUET_MIMETYPE, ".parquet")
