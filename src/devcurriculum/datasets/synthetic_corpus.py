"""A larger corpus from a small one, for scale tests and benchmarks: every video under N distinct paths.

Copies are hard links (no disk space; distinct paths give distinct video ids), or real copies where
the filesystem cannot link. Each copy keeps its source's age and gets its own subject
(``{subject}~c{k}``), so the corpus grows like a study that recorded more children.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

from devcurriculum.utils.manifest_files import read_table_file
from devcurriculum.utils.paths import PathLike


def replicate_corpus(manifest: PathLike, out_dir: PathLike, copies: int) -> Path:
    """Write ``out_dir/manifest.csv`` listing ``copies`` distinct paths of every video of ``manifest``.

    The rows are ordered copy by copy (copy 0 of every video, then copy 1, ...), as if each copy
    were a later recording. Returns the new manifest's path.
    """
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    source = Path(manifest)
    rows = read_table_file(source)[["path", "subject", "age_days"]]
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    copied = []
    for k in range(copies):
        for row in rows.itertuples(index=False):
            src = (source.parent / row.path).resolve()
            name = f"c{k:04d}_{src.name}"
            dst = out / "videos" / name
            if not dst.exists():
                try:
                    os.link(src, dst)
                except OSError:
                    shutil.copy2(src, dst)
            copied.append({"path": f"videos/{name}", "subject": f"{row.subject}~c{k}", "age_days": row.age_days})
    path = out / "manifest.csv"
    pd.DataFrame(copied).to_csv(path, index=False)
    return path
