"""Video decoding and THE resize used by the clip cache, the benchmarks and the tests.

Backends. decord is the primary decoder (the faster of the two on full RGB decodes here). PyAV is
used where decord cannot serve the file correctly:

* decord cannot open it at all (GIF, some odd containers);
* the container holds more than one video stream. decord silently picks the "best" stream (on
  ``misc/nasa_13013__torchcodec.mp4`` it reads stream 3, 480x270, 390 frames) while the project's
  contract is video stream 0, so such files go to PyAV, which decodes stream 0.

The choice is made once per file by :func:`choose_backend`, from facts that do not change between
the indexing and chunking stages, so frame ``i`` means the same frame in both stages. A file whose
chosen backend fails part-way is an error (no silent switch of decoder mid-project).

Frame indices are positions in the sequence of *decoded* frames (0-based), never header values.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.datasets.decode")

# decord prefixes messages with "[hh:mm:ss] /path/to/source.cc:123: ", repeated when re-raised.
_DECORD_PREFIX = re.compile(r"(\[\d\d:\d\d:\d\d\] \S+:\d+: )+")

DECORD = "decord"
PYAV = "pyav"


class VideoDecodeError(Exception):
    """A video cannot be (fully) decoded; ``str(err)`` is the reason, ``kind`` its category.

    Kinds: ``missing``, ``empty``, ``unopenable``, ``no_video_stream``, ``not_a_video``,
    ``decode_failed``, ``truncated``, ``zero_frames``, ``bad_fps`` (used to count skipped files by cause).
    """

    def __init__(self, reason: str, kind: str = "decode_failed") -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learned about a file by decoding all of it."""

    fps: float
    n_frames: int  # frames that actually decode
    width: int
    height: int
    duration_s: float  # n_frames / fps: the duration of the decodable footage
    backend: str
    declared_frames: int | None  # the container's frame count, None when it has none


#: FFmpeg demuxers and codecs that turn text into "video" (a ``.txt`` opens as a 25 fps ANSI-art
#: stream through the tty demuxer): such a file is no footage, whatever it decodes to
TEXT_DEMUXERS = frozenset({"tty", "bin", "xbin", "adf", "idf"})
TEXT_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})


@dataclass(frozen=True)
class _ContainerFacts:
    n_video_streams: int
    fps: float
    declared_frames: int | None
    declared_duration_s: float | None


def _container_facts(path: Path) -> _ContainerFacts:
    """Header facts via PyAV (cheap: no decoding). Raises VideoDecodeError if the file will not open."""
    import av

    try:
        with av.open(str(path)) as container:
            videos = container.streams.video
            if not videos:
                raise VideoDecodeError("no video stream in the container", "no_video_stream")
            stream = videos[0]
            demuxers = set(container.format.name.split(","))
            codec = stream.codec_context.name
            if demuxers & TEXT_DEMUXERS or codec in TEXT_CODECS:
                raise VideoDecodeError(
                    f"not a video: FFmpeg reads it as text ({container.format.name} demuxer, {codec} codec)", "not_a_video"
                )
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 0.0
            declared = int(stream.frames) if stream.frames else None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            else:
                duration = None
            return _ContainerFacts(len(videos), fps, declared, duration)
    except VideoDecodeError:
        raise
    except Exception as exc:  # PyAV raises many error types (InvalidDataError, OSError, ...)
        raise VideoDecodeError(f"cannot open: {_short(exc)}", "unopenable") from exc


def _short(exc: BaseException) -> str:
    """One line of an exception, without decord's multi-line C++ backtraces."""
    text = str(exc).strip().splitlines()
    line = next((t for t in text if t.strip()), type(exc).__name__)
    line = _DECORD_PREFIX.sub("", line).strip()
    return f"{type(exc).__name__}: {line[:200]}"


def _open_decord(path: Path, num_threads: int = 0) -> Any:  # decord.VideoReader (decord is untyped)
    import decord

    return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=num_threads)


@dataclass
class _Selection:
    """A backend choice; for decord also the reader used to check it, already past frame 0."""

    backend: str
    reader: Any = None
    first: np.ndarray | None = None


def choose_backend(path: PathLike) -> str:
    """``"decord"`` or ``"pyav"`` for this file (see the module docstring for the rule).

    decord is used only if its first frame is identical to PyAV's: decord 0.6.0 returns frames
    with a wrong row stride for some widths (e.g. 16, 24, 48, 72 px: 4- or 6-channel arrays), and
    this check also guarantees that both decoders agree on what frame 0 is.
    Raises :class:`VideoDecodeError` for missing, empty or unopenable files.
    """
    return _select(Path(path)).backend


def _select(p: Path) -> _Selection:
    """:func:`choose_backend`, keeping the decord reader: opening one indexes the whole file."""
    if not p.exists():
        raise VideoDecodeError("file not found", "missing")
    if p.is_dir():
        raise VideoDecodeError("path is a directory, not a video file", "missing")
    if p.stat().st_size == 0:
        raise VideoDecodeError("empty file (0 bytes)", "empty")
    facts = _container_facts(p)
    if facts.n_video_streams > 1:
        return _Selection(PYAV)
    try:
        reader = _open_decord(p)
        first = reader.next().asnumpy()
    except Exception as exc:  # includes StopIteration (no frame) and DECORDError
        log.debug("%s: decord cannot read it (%s); using PyAV", p, _short(exc))
        return _Selection(PYAV)
    reference = _first_frame_pyav(p)
    if reference is not None and (first.shape != reference.shape or not np.array_equal(first, reference)):
        log.info("%s: decord's frame 0 %s differs from PyAV's %s; using PyAV", p, first.shape, reference.shape)
        return _Selection(PYAV)
    return _Selection(DECORD, reader, first)


def _first_frame_pyav(path: Path) -> np.ndarray | None:
    import av

    try:
        with av.open(str(path)) as container:
            for frame in container.decode(container.streams.video[0]):
                return frame.to_ndarray(format="rgb24")
    except Exception as exc:
        log.debug("%s: PyAV cannot decode frame 0 (%s)", path, _short(exc))
    return None


def iter_frame_batches(
    path: PathLike,
    indices: Sequence[int] | np.ndarray | None = None,
    batch_size: int = 32,
    backend: str | None = None,
    reuse_buffer: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Decode sequentially (no seeking) and yield ``(frame_indices, uint8 (b, H, W, 3) RGB)`` batches.

    ``indices`` (sorted, unique, >= 0) selects the frames to return; ``None`` returns every frame.
    Frames in between are decoded but never converted to RGB (decord ``skip_frames``; PyAV skips
    ``to_ndarray``), which is most of the cost saved when clips use every n-th frame. A batch never
    mixes frame sizes (a mid-stream resolution change starts a new batch).

    ``reuse_buffer=True`` yields views into one preallocated array that the next batch
    overwrites: the consumer must use (e.g. resize) each batch before asking for the next. It
    avoids allocating a fresh multi-megabyte array per batch, whose page faults cost as much as
    the resize on a busy machine.

    Raises :class:`VideoDecodeError` on decode failures and when the video ends before the last
    requested index.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    p = Path(path)
    wanted: np.ndarray | None = None
    if indices is not None:
        wanted = np.asarray(indices, dtype=np.int64)
        if wanted.ndim != 1 or (wanted.size and (wanted[0] < 0 or np.any(np.diff(wanted) <= 0))):
            raise ValueError("indices must be a sorted 1-D array of unique non-negative frame numbers")
        if wanted.size == 0:
            return
    selection = _select(p) if backend is None else _Selection(backend)
    if selection.backend == DECORD:
        frames = _iter_decord(p, wanted, selection.reader, selection.first)
    else:
        frames = _iter_pyav(p, wanted)
    yield from _batched(frames, batch_size, reuse_buffer)


def _batched(
    frames: Iterator[tuple[int, np.ndarray]], batch_size: int, reuse_buffer: bool
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    idx: list[int] = []
    buffer: np.ndarray | None = None
    for i, frame in frames:
        # idx is non-empty only after a frame went into buffer
        if idx and buffer is not None and (len(idx) == batch_size or frame.shape != buffer.shape[1:]):
            yield np.asarray(idx, dtype=np.int64), buffer[: len(idx)]
            idx = []
            if not reuse_buffer:
                buffer = None
        if buffer is None or frame.shape != buffer.shape[1:]:
            buffer = np.empty((batch_size, *frame.shape), dtype=frame.dtype)
        buffer[len(idx)] = frame
        idx.append(i)
    if idx and buffer is not None:
        yield np.asarray(idx, dtype=np.int64), buffer[: len(idx)]


def _iter_decord(
    path: Path, wanted: np.ndarray | None, reader: Any = None, first: np.ndarray | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Frames from decord; ``reader``/``first``: a reader that already returned frame 0 (``first``)."""
    if reader is None:
        first = None
        try:
            reader = _open_decord(path)
        except Exception as exc:
            raise VideoDecodeError(f"decord cannot open: {_short(exc)}", "unopenable") from exc
    position = 0  # index of the frame the next reader.next() returns
    if first is not None:
        position = 1
        if wanted is None or wanted[0] == 0:
            _check_rgb(first, 0)
            yield 0, first
            if wanted is not None:
                wanted = wanted[1:]
    if wanted is None:
        # Read until the decoder stops, not len(reader): that comes from the container index.
        while True:
            try:
                frame = reader.next().asnumpy()
            except StopIteration:
                return
            except Exception as exc:
                raise VideoDecodeError(f"decode failed after frame {position - 1}: {_short(exc)}") from exc
            _check_rgb(frame, position)
            yield position, frame
            position += 1
    for target in wanted.tolist():
        try:
            if target > position:
                reader.skip_frames(target - position)
                position = target
            frame = reader.next().asnumpy()
        except StopIteration:
            raise VideoDecodeError(f"video ends before frame {target} (requested)", "truncated") from None
        except Exception as exc:
            raise VideoDecodeError(f"decode failed near frame {position}: {_short(exc)}") from exc
        position += 1
        _check_rgb(frame, target)
        yield target, frame


def _check_rgb(frame: np.ndarray, index: int) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise VideoDecodeError(f"decord returned a malformed frame {index} of shape {frame.shape}")


def _iter_pyav(path: Path, wanted: np.ndarray | None) -> Iterator[tuple[int, np.ndarray]]:
    import av

    want = None if wanted is None else wanted.tolist()
    k = 0  # next position in `want`
    try:
        container = av.open(str(path))
    except Exception as exc:
        raise VideoDecodeError(f"cannot open: {_short(exc)}", "unopenable") from exc
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        position = -1
        try:
            for position, frame in enumerate(container.decode(stream)):
                if want is None:
                    yield position, frame.to_ndarray(format="rgb24")
                elif position == want[k]:
                    yield position, frame.to_ndarray(format="rgb24")
                    k += 1
                    if k == len(want):
                        return
        except Exception as exc:
            raise VideoDecodeError(f"decode failed after frame {position}: {_short(exc)}") from exc
    if want is not None and k < len(want):
        raise VideoDecodeError(
            f"video ends after {position + 1} decoded frames; frame {want[k]} was requested", "truncated"
        )


def probe_video(path: PathLike, backend: str | None = None) -> VideoInfo:
    """Decode ``path`` in full and describe it; raise :class:`VideoDecodeError` with a reason if unusable.

    ``n_frames`` counts the frames that actually decode. A file is reported truncated when its
    decodable footage is clearly shorter than its container declares (frame count or duration),
    with a tolerance of max(2 frames, 5 %) because audio tracks and edit lists legitimately make
    headers a little longer than the video (e.g. the real ``flipping_pancake.mkv``: 10.33 s of
    video in a 10.38 s container).
    """
    p = Path(path)
    selection = _select(p) if backend is None else _Selection(backend)
    backend = selection.backend
    facts = _container_facts(p)
    fps = facts.fps
    declared = facts.declared_frames
    if backend == DECORD:
        reader = selection.reader
        if reader is None:
            try:
                reader = _open_decord(p)
            except Exception as exc:
                raise VideoDecodeError(f"decord cannot open: {_short(exc)}", "unopenable") from exc
        declared = len(reader) or None
        if fps <= 0:
            fps = float(reader.get_avg_fps())
        frames = _iter_decord(p, None, reader, selection.first)
    else:
        frames = _iter_pyav(p, None)
    count = 0
    shape: tuple[int, ...] | None = None
    for idx, frame in frames:
        count = idx + 1
        shape = shape or frame.shape
    if count == 0 or shape is None:
        raise VideoDecodeError("no frames decode (zero-frame video)", "zero_frames")
    if not np.isfinite(fps) or fps <= 0:
        raise VideoDecodeError(f"no usable frame rate in the container (got {fps})", "bad_fps")
    slack = max(2, int(0.05 * (declared or count)))
    if declared and count < declared - slack:
        raise VideoDecodeError(f"truncated: {count} frames decode but the container declares {declared}", "truncated")
    if facts.declared_duration_s is not None:
        decoded_s = count / fps
        if decoded_s < facts.declared_duration_s - max(2 / fps, 0.05 * facts.declared_duration_s):
            raise VideoDecodeError(
                f"truncated: {count} frames ({decoded_s:.2f} s) decode but the container declares "
                f"{facts.declared_duration_s:.2f} s",
                "truncated",
            )
    height, width = int(shape[0]), int(shape[1])
    return VideoInfo(
        fps=fps,
        n_frames=count,
        width=width,
        height=height,
        duration_s=count / fps,
        backend=backend,
        declared_frames=declared,
    )


def read_frames(path: PathLike, indices: Sequence[int] | np.ndarray, backend: str | None = None) -> np.ndarray:
    """The frames ``indices`` (sorted, unique) of a video as one uint8 ``(T, H, W, 3)`` array."""
    batches = [frames for _, frames in iter_frame_batches(path, indices, batch_size=64, backend=backend)]
    if not batches:
        raise VideoDecodeError(f"{path}: no frames requested or decoded", "zero_frames")
    return np.concatenate(batches)


def resized_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) after scaling the short side to ``size`` (long side rounded, never below ``size``)."""
    if height <= 0 or width <= 0:
        raise ValueError(f"frame size must be positive, got {height}x{width}")
    if height <= width:
        return size, max(size, round(width * size / height))
    return max(size, round(height * size / width)), size


def resize_short_side_and_center_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """THE resize: short side to ``size`` then a centred ``size`` x ``size`` crop, uint8 in and out.

    torch's bilinear interpolation with ``antialias=True`` on uint8 tensors (its integer code path,
    so no float round trip and the output is exactly reproducible); each frame is processed
    independently, so resizing a batch gives the same pixels as resizing frames one by one. When
    the crop offset is odd, the extra pixel goes to the bottom/right.
    """
    arr = np.asarray(frames)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {arr.dtype} {arr.shape}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    t, h, w, _ = arr.shape
    new_h, new_w = resized_shape(h, w, size)
    if t == 0:
        return np.empty((0, size, size, 3), dtype=np.uint8)
    # torch is imported here, not with the module: the Snakefile plans with this package and would pay
    # for importing torch at every snakemake start (and every dry run)
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2)  # channels_last view of NCHW
    if (new_h, new_w) != (h, w):
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
    top = (new_h - size) // 2
    left = (new_w - size) // 2
    out = x[:, :, top : top + size, left : left + size].permute(0, 2, 3, 1)
    return np.ascontiguousarray(out.numpy())
