"""The path type every function that takes a file or folder accepts."""

from __future__ import annotations

import os

#: a file or folder given as ``str`` or any ``os.PathLike`` (``pathlib.Path``, Snakemake's named paths)
PathLike = str | os.PathLike[str]
