"""Atomic file output: a crashed job never leaves a half-written file under an output's name.

Every artifact of the workflow is written to a temp file (or folder) in the same folder, then moved
into place with ``os.replace``. Files whose suffix is in
:data:`~devcurriculum.utils.checksums.CHECKSUMMED_SUFFIXES` get their ``<file>.sha256`` sidecar
(:mod:`devcurriculum.utils.checksums`) before they appear. A write that fails because the disk is
full raises one :class:`~devcurriculum.utils.disk_space.DiskSpaceError` naming the output, the bytes
it needs and the bytes free, whatever the writer said (:mod:`devcurriculum.utils.disk_space`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from devcurriculum.utils.checksums import CHECKSUMMED_SUFFIXES, checksum_path, recorded_checksum, sha256_file
from devcurriculum.utils.disk_space import disk_full_error, free_bytes
from devcurriculum.utils.paths import PathLike


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _bytes_on_disk(path: Path) -> int:
    """Size of a file, or of every file under a folder; 0 when it is gone."""
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size
    except OSError:
        return 0


def _disk_full(final: Path, partial: Path, exc: BaseException, needed: int | None) -> BaseException | None:
    """The DiskSpaceError for ``exc`` if the disk was full when writing ``final`` failed (before cleanup)."""
    if not isinstance(exc, Exception):
        return None
    try:
        free = free_bytes(final.parent)
    except OSError:
        return None
    return disk_full_error(final, exc, written=_bytes_on_disk(partial), free=free, needed=needed)


@contextlib.contextmanager
def atomic_path(path: PathLike, suffix: str | None = None, *, size_hint: int | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only if the block succeeds.

    The temp file keeps the final suffix (``.npy``, ``.parquet``, ``.png``) because some writers
    choose their format from it. A ``.npy`` or ``.safetensors`` file gets its sha256 sidecar
    (:func:`~devcurriculum.utils.checksums.checksum_path`) before it is moved into place.
    ``size_hint``: about how many bytes the file takes, when the writer knows; a full disk then
    reports it as the bytes needed (else the bytes written when it filled).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=final.parent, prefix=f".{final.name}.", suffix=suffix if suffix is not None else final.suffix
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; results are shared with collaborators, so give the usual umask mode.
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        if final.suffix in CHECKSUMMED_SUFFIXES:
            write_checksum(final, sha256_file(tmp_path))
        os.replace(tmp_path, final)
    except BaseException as exc:
        full = _disk_full(final, tmp_path, exc, size_hint)
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if full is not None:
            raise full from exc
        raise


@contextlib.contextmanager
def atomic_dir(path: PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; swap it into place only if the block succeeds.

    A crash never leaves a half-written model folder that ``from_pretrained`` would load. An existing
    ``path`` is moved aside first (``os.replace`` cannot rename onto a non-empty folder) and then deleted.
    Every weights or cache file in it (a suffix in ``CHECKSUMMED_SUFFIXES``) gets its ``<file>.sha256``
    sidecar first, so a model folder (a run's ``export/``) is verified like any weights file
    (:func:`~devcurriculum.utils.checksums.verify_folder`).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    try:
        yield tmp
        # mkdtemp (and some writers) create private files; results are shared with collaborators
        os.chmod(tmp, 0o777 & ~_UMASK)
        for child in sorted(tmp.rglob("*")):
            if child.is_file() and child.suffix in CHECKSUMMED_SUFFIXES and not checksum_path(child).exists():
                write_checksum(child)
        for child in tmp.rglob("*"):
            os.chmod(child, (0o777 if child.is_dir() else 0o666) & ~_UMASK)
        if final.exists():
            old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old."))
            os.replace(final, old / final.name)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException as exc:
        full = _disk_full(final, tmp, exc, None)
        shutil.rmtree(tmp, ignore_errors=True)
        if full is not None:
            raise full from exc
        raise


def atomic_write_text(path: PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_checksum(path: PathLike, digest: str | None = None) -> Path:
    """Write ``<file>.sha256`` atomically (``sha256sum`` format); ``digest`` defaults to the file's own."""
    p = Path(path)
    digest = digest or sha256_file(p)
    sidecar = checksum_path(p)
    atomic_write_text(sidecar, f"{digest}  {p.name}\n")
    return sidecar


def link_file(source: PathLike, target: PathLike) -> None:
    """Hard-link ``source`` to ``target`` (a copy where links are not supported), with its checksum sidecar."""
    src, dst = Path(source), Path(target)
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # a file system without hard links
        shutil.copy2(src, dst)
    digest = recorded_checksum(src)
    if digest is not None:
        write_checksum(dst, digest)
