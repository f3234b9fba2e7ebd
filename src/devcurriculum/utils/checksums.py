"""sha256 sidecars: the digest of a file, where its ``<file>.sha256`` lives, and checking a file against it.

Silent corruption (a flipped bit on disk or in transit) is caught where we read our own files:
``.npy`` / ``.jpgs`` caches and ``.safetensors`` weights get a ``<file>.sha256`` sidecar
(``sha256sum`` format, so ``sha256sum -c model.safetensors.sha256`` works too), written with them by
:func:`devcurriculum.utils.atomic.atomic_path` (and, for every such file of a folder, by
:func:`~devcurriculum.utils.atomic.atomic_dir`: a run's ``export/``, the feature models) and checked by
:func:`verify_checksum` and :func:`verify_folder` (docs/reliability.md). Parquet tables carry page checksums instead (:func:`devcurriculum.utils.io.read_table`).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.utils.checksums")

#: files that get a ``<file>.sha256`` sidecar whenever they are written through ``atomic_path``
CHECKSUMMED_SUFFIXES = (".npy", ".jpgs", ".safetensors")  # .jpgs: JPEG clip cache shards
CHECKSUM_SUFFIX = ".sha256"
_HASH_CHUNK = 1 << 20


class ChecksumError(OSError):
    """A file's content does not match the checksum recorded when it was written; names the file."""


def sha256_file(path: PathLike) -> str:
    """The hex sha256 of a file's bytes, read in 1 MiB chunks (memory stays flat for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_path(path: PathLike) -> Path:
    """``<file>.sha256`` next to ``path``."""
    p = Path(path)
    return p.with_name(p.name + CHECKSUM_SUFFIX)


def recorded_checksum(path: PathLike) -> str | None:
    """The sha256 recorded in ``<file>.sha256``, or None when there is no sidecar."""
    sidecar = checksum_path(path)
    try:
        text = sidecar.read_text()
    except FileNotFoundError:
        return None
    digest = text.split(maxsplit=1)[0] if text.strip() else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ChecksumError(f"checksum file {sidecar} is not a sha256 line (got {text[:80]!r})")
    return digest


def verify_checksum(path: PathLike) -> bool:
    """Check a file against its ``<file>.sha256``; True when verified, False when none was recorded.

    Raises :class:`ChecksumError` naming the file when the content differs from what was written.
    A file without a sidecar (written by another tool, or by an older version) is logged, not rejected.
    """
    p = Path(path)
    expected = recorded_checksum(p)
    if expected is None:
        log.info("no checksum recorded for %s (no %s): not verified", p, checksum_path(p).name)
        return False
    actual = sha256_file(p)
    if actual != expected:
        raise ChecksumError(
            f"{p} is corrupt: its sha256 is {actual} but {checksum_path(p).name} recorded {expected} when it "
            "was written (a damaged disk or copy, or the file was rewritten without its checksum); rerun the "
            "rule that writes it"
        )
    return True


def verify_folder(folder: PathLike) -> list[Path]:
    """Check every file under ``folder`` that has a ``<file>.sha256`` sidecar; returns them, sorted.

    For model folders written by :func:`~devcurriculum.utils.atomic.atomic_dir` (a run's ``export/``,
    ``models/vit-random``): raises :class:`ChecksumError` naming the first file whose content differs.
    A folder written by another tool has no sidecars: nothing is verified (logged), nothing refused.
    """
    root = Path(folder)
    checked = sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix in CHECKSUMMED_SUFFIXES and checksum_path(p).is_file()
    )
    for path in checked:
        verify_checksum(path)
    if not checked:
        log.info("no checksums recorded in %s: its files are not verified", root)
    return checked
