"""Shard files of the clip cache: two formats behind one reader interface.

``raw`` (``.npy``): uint8 ``(N, T, H, W, 3)``, read through a memory map. Reads cost a copy; the
file costs ``T*H*W*3`` bytes per clip (2.4 MB at 16 x 224 px).

``jpeg`` (``.jpgs``): every frame is one baseline JPEG (libjpeg-turbo through ``simplejpeg``, 4:2:0
chroma), stored back to back, followed by an int64 table of byte offsets (one per frame, plus the
end) and a fixed footer. Any frame of any clip is one slice of a memory map plus one decode, so a
data loader reads exactly the frames it needs (feature extraction decodes only the middle frame).
Random access by row is why this is not a tar/WebDataset shard, which is read front to back.

Writers reserve disk space before they map or fill a file: a raw shard is ``posix_fallocate``-d to
its full size first, so a full disk fails at once with :class:`DiskSpaceError` (path and bytes
needed) instead of a SIGBUS deep inside a memory-mapped write; a JPEG shard is written sequentially
and reports the same error when a write hits ENOSPC. Temp files left by a killed job
(``atomic_path``'s ``.{name}.*``) are removed by :func:`remove_stale_temp_files` on the next run.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import struct
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np

from devcurriculum.utils.disk_space import DiskSpaceError
from devcurriculum.utils.disk_space import human_bytes as _human
from devcurriculum.utils.paths import PathLike
from devcurriculum.utils.safe_load import load_npy

log = logging.getLogger("devcurriculum.datasets.clip_store")

RAW = "raw"
JPEG = "jpeg"
FORMATS = (RAW, JPEG)
SUFFIX = {RAW: ".npy", JPEG: ".jpgs"}

#: Fixed .npy header size: the header can be rewritten in place with a smaller row count.
_NPY_HEADER_BYTES = 128
_JPEG_MAGIC = b"DCJPEG01"
#: magic, offsets position, clips, frames per clip, height, width, quality
_JPEG_FOOTER = struct.Struct("<8sQQIIII")
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _no_space(path: PathLike, needed: int, exc: OSError, what: str, label: PathLike | None = None) -> DiskSpaceError:
    free = shutil.disk_usage(Path(path).parent).free
    return DiskSpaceError(
        exc.errno or errno.ENOSPC,
        f"{label or path}: {what} {needed} bytes ({_human(needed)}) for the clip cache but the filesystem has "
        f"{free} bytes ({_human(free)}) free ({os.strerror(exc.errno or errno.ENOSPC)}); free space or point "
        "`results` at a larger disk",
    )


def reserve_space(fd: int, path: PathLike, nbytes: int, label: PathLike | None = None) -> None:
    """Allocate ``nbytes`` for the open file ``fd`` now (``posix_fallocate``), or raise :class:`DiskSpaceError`.

    ``label`` is the name the error gives (the final output rather than its temp file).
    Filesystems without fallocate support (EOPNOTSUPP/EINVAL) fall back to a free-space check.
    """
    if nbytes <= 0:
        return
    try:
        os.posix_fallocate(fd, 0, nbytes)
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise _no_space(path, nbytes, exc, "needs", label) from exc
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        free = shutil.disk_usage(Path(path).parent).free
        if free < nbytes:
            raise _no_space(path, nbytes, OSError(errno.ENOSPC, "no space"), "needs", label) from exc
        log.warning("%s: the filesystem cannot preallocate (%s); %d bytes are free", path, exc, free)


def remove_stale_temp_files(final: PathLike) -> list[Path]:
    """Delete temp files that a killed job left next to ``final`` (``atomic_path``'s ``.{name}.*``).

    Snakemake never runs two jobs for the same output at once, so any such file is an orphan.
    """
    target = Path(final)
    if not target.parent.is_dir():
        return []
    stale = [p for p in target.parent.glob(f".{target.name}.*") if p.is_file()]
    for p in stale:
        log.warning("removing %s (%s), left by an interrupted job", p, _human(p.stat().st_size))
        p.unlink(missing_ok=True)
    return stale


# ---- writers ----------------------------------------------------------------------------------


class ShardWriter(Protocol):
    """Appends clips (T frames of uint8 (H, W, 3)) in order; ``rows`` is the number kept so far."""

    rows: int

    def append(self, frames: Sequence[np.ndarray]) -> None: ...

    def rollback(self, rows: int) -> None: ...

    def close(self) -> None: ...


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A version 1.0 ``.npy`` header of exactly ``_NPY_HEADER_BYTES`` bytes for uint8 C-order ``shape``."""
    text = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {tuple(int(s) for s in shape)!r}, }}"
    room = _NPY_HEADER_BYTES - 10 - 1  # magic + version + length field, and the final newline
    if len(text) > room:
        raise ValueError(f"clip cache shape {shape} does not fit a {_NPY_HEADER_BYTES}-byte .npy header")
    body = text.ljust(room).encode("latin1") + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body


class RawShardWriter:
    """A ``.npy`` of ``capacity`` clips, preallocated on disk, then memory-mapped and filled row by row."""

    def __init__(self, path: PathLike, clip_shape: tuple[int, ...], capacity: int, label: PathLike | None = None) -> None:
        self.path = Path(path)
        self.clip_shape = tuple(int(s) for s in clip_shape)
        self.capacity = int(capacity)
        self.rows = 0
        self._clip_bytes = int(np.prod(self.clip_shape))
        with open(self.path, "wb") as fh:
            fh.write(_npy_header((self.capacity, *self.clip_shape)))
            fh.flush()
            reserve_space(fh.fileno(), self.path, _NPY_HEADER_BYTES + self.capacity * self._clip_bytes, label)
        self._array: np.memmap | None = None
        if self.capacity:
            self._array = np.memmap(
                self.path, dtype=np.uint8, mode="r+", offset=_NPY_HEADER_BYTES, shape=(self.capacity, *self.clip_shape)
            )

    def append(self, frames: Sequence[np.ndarray]) -> None:
        if self._array is None or self.rows >= self.capacity:
            raise IndexError(f"{self.path}: more clips than the {self.capacity} planned")
        row = self._array[self.rows]
        for j, frame in enumerate(frames):
            row[j] = frame
        self.rows += 1

    def rollback(self, rows: int) -> None:
        self.rows = rows

    def close(self) -> None:
        """Flush; when videos failed, rewrite the header for the rows kept and cut the file there."""
        if self._array is not None:
            self._array.flush()
            self._array = None
        if self.rows != self.capacity:
            with open(self.path, "r+b") as fh:
                fh.write(_npy_header((self.rows, *self.clip_shape)))
                fh.truncate(_NPY_HEADER_BYTES + self.rows * self._clip_bytes)


class JpegShardWriter:
    """Frames JPEG-encoded back to back, then the offset table and the footer (see the module docstring)."""

    def __init__(
        self, path: PathLike, clip_shape: tuple[int, ...], capacity: int, quality: int, label: PathLike | None = None
    ) -> None:
        if not 1 <= quality <= 100:
            raise ValueError(f"data.cache.quality must be in 1..100, got {quality}")
        self.path = Path(path)
        self.label = label
        self.clip_shape = tuple(int(s) for s in clip_shape)
        self.capacity = int(capacity)
        self.quality = int(quality)
        self.rows = 0
        self._offsets = array("q", [0])
        self._fh: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - closed in close()

    def _write(self, data: bytes) -> None:
        try:
            self._fh.write(data)
        except OSError as exc:
            if exc.errno not in _NO_SPACE:
                raise
            written = self._offsets[-1]
            per_clip = written / max(self.rows, 1)
            needed = int(per_clip * self.capacity) + 8 * (self.capacity * self.clip_shape[0] + 1)
            raise _no_space(self.path, needed, exc, f"wrote {written} bytes, needs about", self.label) from exc

    def append(self, frames: Sequence[np.ndarray]) -> None:
        import simplejpeg

        for frame in frames:
            data = simplejpeg.encode_jpeg(
                np.ascontiguousarray(frame), quality=self.quality, colorspace="RGB", colorsubsampling="420"
            )
            self._write(data)
            self._offsets.append(self._offsets[-1] + len(data))
        self.rows += 1

    def rollback(self, rows: int) -> None:
        keep = rows * self.clip_shape[0] + 1
        del self._offsets[keep:]
        self._fh.seek(self._offsets[-1])
        self._fh.truncate()
        self.rows = rows

    def close(self) -> None:
        if self._fh.closed:
            return
        try:
            table_at = self._offsets[-1]
            self._write(np.asarray(self._offsets, dtype="<i8").tobytes())
            height, width = self.clip_shape[1], self.clip_shape[2]
            self._write(
                _JPEG_FOOTER.pack(_JPEG_MAGIC, table_at, self.rows, self.clip_shape[0], height, width, self.quality)
            )
        finally:
            self._fh.close()


def open_writer(
    fmt: str, path: PathLike, clip_shape: tuple[int, ...], capacity: int, quality: int, label: PathLike | None = None
) -> ShardWriter:
    """A writer of format ``fmt`` (``data.cache.format``) for ``capacity`` clips of ``clip_shape``.

    ``label``: the name errors give the file (the final output when ``path`` is its temp file).
    """
    if fmt == RAW:
        return RawShardWriter(path, clip_shape, capacity, label)
    if fmt == JPEG:
        return JpegShardWriter(path, clip_shape, capacity, quality, label)
    raise ValueError(f"data.cache.format must be one of {list(FORMATS)}, got {fmt!r}")


# ---- readers ----------------------------------------------------------------------------------


class RawShard:
    """A raw ``.npy`` shard, memory-mapped on first use (and dropped when pickled)."""

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self._array: np.ndarray | None = None
        array_ = self.array
        if array_.dtype != np.uint8 or array_.ndim != 5 or array_.shape[-1] != 3:
            raise ValueError(f"{self.path}: expected a uint8 (N, T, H, W, 3) clip cache, got {array_.dtype} {array_.shape}")
        self.shape: tuple[int, ...] = tuple(array_.shape)

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = load_npy(self.path)  # a truncated shard is named, not "mmap length ..."
        return self._array

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}

    def frames_at(self, rows: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """Frame ``frames[k]`` of clip ``rows[k]`` for each k: uint8 ``(B, H, W, 3)``."""
        return np.asarray(self.array[rows, frames])

    def clips(self, rows: np.ndarray, frames: np.ndarray | None = None) -> np.ndarray:
        """Clips ``rows`` (frames ``frames`` of each, all when None): uint8 ``(B, F, H, W, 3)``."""
        if frames is None:
            return np.asarray(self.array[rows])
        return np.asarray(self.array[rows[:, None], frames[None, :]])


class JpegShard:
    """A ``.jpgs`` shard: frames decoded on read from one memory map."""

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self._map: np.memmap | None = None
        self._offsets: np.ndarray | None = None
        size = self.path.stat().st_size
        if size < _JPEG_FOOTER.size:
            raise ValueError(f"{self.path}: {size} bytes is too short for a JPEG clip shard")
        with open(self.path, "rb") as fh:
            fh.seek(size - _JPEG_FOOTER.size)
            magic, self._table_at, n, t, h, w, self.quality = _JPEG_FOOTER.unpack(fh.read(_JPEG_FOOTER.size))
        if magic != _JPEG_MAGIC or self._table_at + 8 * (n * t + 1) + _JPEG_FOOTER.size != size:
            raise ValueError(f"{self.path}: not a complete JPEG clip shard (bad footer; was the job killed?)")
        self.shape = (int(n), int(t), int(h), int(w), 3)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_map": None, "_offsets": None}

    def _open(self) -> tuple[np.memmap, np.ndarray]:
        if self._map is None or self._offsets is None:
            self._map = np.memmap(self.path, dtype=np.uint8, mode="r")
            count = self.shape[0] * self.shape[1] + 1
            self._offsets = np.frombuffer(self._map, dtype="<i8", count=count, offset=self._table_at)
        return self._map, self._offsets

    def _decode(self, flat: np.ndarray) -> np.ndarray:
        import simplejpeg

        data, offsets = self._open()
        out = np.empty((len(flat), *self.shape[2:]), dtype=np.uint8)
        for k, i in enumerate(flat.tolist()):
            frame = simplejpeg.decode_jpeg(data[offsets[i] : offsets[i + 1]], colorspace="RGB")
            if frame.shape != out.shape[1:]:
                raise ValueError(f"{self.path}: frame {i} decodes to {frame.shape}, expected {out.shape[1:]}")
            out[k] = frame
        return out

    def frames_at(self, rows: np.ndarray, frames: np.ndarray) -> np.ndarray:
        return self._decode(np.asarray(rows, dtype=np.int64) * self.shape[1] + np.asarray(frames, dtype=np.int64))

    def clips(self, rows: np.ndarray, frames: np.ndarray | None = None) -> np.ndarray:
        sel = np.arange(self.shape[1]) if frames is None else np.asarray(frames, dtype=np.int64)
        flat = (np.asarray(rows, dtype=np.int64)[:, None] * self.shape[1] + sel[None, :]).ravel()
        return self._decode(flat).reshape(len(rows), len(sel), *self.shape[2:])


ShardReader = RawShard | JpegShard


def open_shard(path: PathLike, fmt: str) -> ShardReader:
    """The reader of a shard file written in format ``fmt``."""
    if fmt == RAW:
        return RawShard(path)
    if fmt == JPEG:
        return JpegShard(path)
    raise ValueError(f"{path}: unknown clip cache format {fmt!r} (known: {list(FORMATS)})")
