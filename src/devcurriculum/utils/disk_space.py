"""A full disk, said plainly: which file, how many bytes it needs, how many are free.

Libraries report a full disk in their own words, most without the file: torch ``unexpected pos 576
vs 534`` or ``basic_ios::clear: iostream error``, numpy ``1000000 requested and 131056 written``,
safetensors ``I/O error: No space left on device (os error 28)``, pyarrow ``[Errno 28] Error writing
bytes to file``. :func:`disk_full_error` recognises them (by errno, by their text, or, for the C++
stream errors that say nothing, by the filesystem being full when they happen) and
:func:`~devcurriculum.utils.atomic.atomic_path` raises its :class:`DiskSpaceError` instead.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from devcurriculum.utils.paths import PathLike

#: free bytes below which a write error without an errno is taken to be a full disk
NEARLY_FULL = 1 << 20
_NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_NO_SPACE_TEXT = ("no space left on device", "disk quota exceeded", "storagefull", "os error 28", "errno 28")


class DiskSpaceError(OSError):
    """A file does not fit on its filesystem; the message names the file, the bytes needed and free."""

    def __str__(self) -> str:  # the message alone: it starts with the file ("[Errno 28]" says less)
        return self.strerror if self.strerror else super().__str__()


def human_bytes(nbytes: float) -> str:
    """``1.5 MiB``: binary units, one decimal; plain bytes below 1 KiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1024
    raise AssertionError("unreachable")


def free_bytes(path: PathLike) -> int:
    """Bytes free to this user on the filesystem holding ``path`` (its folder, when ``path`` is absent)."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def says_no_space(exc: BaseException) -> bool:
    """True when ``exc`` itself says the disk or quota is full (errno or text)."""
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE_ERRNOS:
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _NO_SPACE_TEXT)


def is_write_error(exc: BaseException) -> bool:
    """An error a writer raises when a write fails: OSError, torch's RuntimeError, safetensors' own."""
    return isinstance(exc, (OSError, RuntimeError)) or type(exc).__name__ == "SafetensorError"


def disk_full_error(
    path: PathLike, exc: BaseException, *, written: int, free: int, needed: int | None = None
) -> DiskSpaceError | None:
    """The :class:`DiskSpaceError` for ``exc`` raised while writing ``path``, or None if the disk was not full.

    ``written``: bytes of ``path`` on disk when it failed; ``free``: bytes free then (before the partial
    file is removed); ``needed``: what the writer expected the whole file to take, when it knows.
    A write error that says nothing of space (torch's stream errors) counts as a full disk when less
    than :data:`NEARLY_FULL` bytes, or less than the rest of ``needed``, were free.
    """
    if isinstance(exc, DiskSpaceError) or not is_write_error(exc):
        return None
    short = needed is not None and written + free < needed
    if not (says_no_space(exc) or free < NEARLY_FULL or short):
        return None
    quota = (isinstance(exc, OSError) and exc.errno == errno.EDQUOT) or "quota" in str(exc).lower()
    what = "disk quota exceeded" if quota else os.strerror(errno.ENOSPC).lower()
    size = f"about {needed} bytes ({human_bytes(needed)})" if needed else f"more than {written} bytes ({human_bytes(written)})"
    now_free = free_bytes(path)
    return DiskSpaceError(
        errno.EDQUOT if quota else errno.ENOSPC,
        f"{path}: {what}: writing it needs {size} but the filesystem has {now_free} bytes "
        f"({human_bytes(now_free)}) free; free space or point `results` at a larger disk "
        f"(the writer said: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__})",
    )
