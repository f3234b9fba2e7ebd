"""What the Snakefile needs from the library: the validated, typed config, and inputs checked up front.

Snakemake's own ``validate()`` prints the whole schema with a misspelled key (hundreds of lines); here
a mistake prints one line naming the key, with a "did you mean" when a known key is close, and the
workflow stops before any job starts. The same goes for the manifest (:func:`check_manifest`): a bad
one stops the workflow when the DAG is built, not when ``index_videos`` runs after the plan is made.
"""

from __future__ import annotations

import mimetypes
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from devcurriculum.config import ConfigError, WorkflowConfig

#: Parquet's media type (IANA, 2024); without it ``snakemake --report`` embeds summary.parquet as text/plain
PARQUET_MIMETYPE = "application/vnd.apache.parquet"

#: mappings of named entries: in an overlay, ``name: null`` removes that entry of an earlier file
NAMED_ENTRIES = (
    ("data", "age_groups"), ("curricula",), ("models",), ("benchmarks",), ("voe", "sets"), ("ocp", "sets"), ("baselines",)
)


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

    ``name: null`` entries of ``data.age_groups``, ``curricula``, ``models``, ``benchmarks``, ``voe.sets``,
    ``ocp.sets`` and ``baselines`` are removed first (:func:`drop_null_entries`). On a config mistake: print
    ``config error: <key>: <what is wrong>`` and exit with status 1.
    """
    drop_null_entries(config)
    try:
        cfg = WorkflowConfig.from_mapping(config)
    except ConfigError as exc:
        sys.exit(f"config error: {exc}")
    check_manifest(cfg)
    config.clear()
    config.update(cfg.to_dict())
    return cfg


#: paths named when none of a manifest's videos exists; the rest are counted
PATHS_SHOWN = 5


def check_manifest(cfg: WorkflowConfig) -> None:
    """Read the manifest of ``data.source: manifest`` once, before any job is planned.

    A manifest error (bad ages, empty cells, duplicates, a row with extra fields: one line naming
    every row, ``datasets.manifest``) or a manifest none of whose video paths exists prints
    ``manifest error: ...`` and exits with status 1; ages that look like months print one
    ``warning: ...`` line. Costs one read of the manifest and a ``stat`` until the first existing video.
    """
    if cfg.data.source != "manifest" or not cfg.data.manifest:
        return
    from devcurriculum.datasets.manifest import ManifestError, age_unit_warning, load_manifest

    try:
        manifest = load_manifest(cfg.data.manifest)
    except ManifestError as exc:
        sys.exit(f"manifest error: {exc}")
    paths = manifest.rows["path"].tolist()
    if not any(os.path.exists(p) for p in paths):
        listed = ", ".join(f"{manifest.names.name(i)} ({p})" for i, p in enumerate(paths[:PATHS_SHOWN]))
        more = f" and {len(paths) - PATHS_SHOWN} more" if len(paths) > PATHS_SHOWN else ""
        sys.exit(
            f"manifest error: manifest {manifest.path}: none of its {len(paths)} video paths exists: {listed}{more} "
            f"(relative paths resolve against the manifest's folder {Path(manifest.path).resolve().parent})"
        )
    warning = age_unit_warning(manifest.rows["age_days"], cfg.data.age_groups, manifest.path)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
def register_report_types() -> None:
    """Teach :mod:`mimetypes` (which ``snakemake --report`` asks) the type of ``.parquet`` files.

    The report then offers ``summary.parquet`` as a Parquet download, not as text: open it with pandas
    or DuckDB after saving it from the report (its data URI carries the type and the file name).
    """
    mimetypes.add_type(PARQUET_MIMETYPE, ".parquet")
