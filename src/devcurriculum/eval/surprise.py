"""Surprise: a learner's own prediction error on a clip's future given its past (rule ``surprise``, sharded).

The seed protocol (Garrido, Assran et al. 2025): show the model the past, let it predict what comes
next, and call its error on the actual future its *surprise*. Models are used as trained, never
fine-tuned. A window of ``data.clip.frames`` frames (the models' input) slides over each VoE clip,
one start every ``voe.window_stride`` stored frames (the last window ends on the clip's last frame).
In a window the first ``C`` frames are the context and the rest is predicted, for every context
length ``C`` of ``voe.context_frames`` (the reference's sweep; default: the earlier half of the
temporal token slices, ``masks.multiblock.split_slices``, the split V-JEPA trains with):

- V-JEPA: the context encoder sees the first ``C / tubelet`` slices, the predictor predicts every
  token of the others; surprise is the mean L1 distance to the EMA target encoder's (LayerNorm-ed)
  features of the whole window at those tokens — the error its loss trains, in representation space.
  In ``mode: pairs`` the window is its frame pair (frame 0 and frame ``gap``): one context whatever
  ``C``, the same surprise on every context's row;
- VideoMAE: every tubelet from frame ``C`` on is masked, the visible earlier ones are encoded and the
  decoder reconstructs the masked ones; surprise is the mean squared error against the model's own
  reconstruction target (per-patch normalised pixels when ``norm_pix_loss``);
- SimCLR has no predictor, so its surprise is a **proxy**: the cosine distance between the backbone's
  features of each frame from ``C`` on and of the last context frame ``C - 1``, averaged — it measures
  how much the representation changes (a "nothing changes" predictor in feature space), not a
  prediction the model learnt to make;
- :class:`PersistenceSurprise` is the same "nothing changes" predictor in pixel space (no learnt
  part): a reference, and the test that the readout detects what it claims to.

The output is one long table: ``after_stage, step, voe, item_id, window_start, context, after_onset,
surprise``; ``after_onset`` marks the windows whose scored (predicted) frames reach the clip's violation
onset, the only ones the project's protocol compares (the reference's reads every window:
:mod:`devcurriculum.eval.voe_metrics`).
"""

from __future__ import annotations

import abc
import contextlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa
import torch
import torch.nn.functional as F

from devcurriculum.config import ClipConfig, ModelConfig, PretrainConfig, surprise_keys
from devcurriculum.eval.batches import NO_WORKERS, EvalDevice, Loading, device_batches, to_host
from devcurriculum.eval.embed import BenchmarkFiles, load_weights_strict, read_stages
from devcurriculum.masks.multiblock import split_slices
from devcurriculum.models.common import ClipObjective
from devcurriculum.models.objective import Objective
from devcurriculum.utils.config import set_threads
from devcurriculum.utils.io import provenance, read_table, shard_bounds, table_from_columns, write_table
from devcurriculum.utils.paths import PathLike
from devcurriculum.utils.progress import ProgressLog
from devcurriculum.utils.safe_load import load_npy

if TYPE_CHECKING:  # the learners' modules import transformers / torchvision: only what a job needs is loaded
    from devcurriculum.models.simclr import SimCLRObjective
    from devcurriculum.models.videomae import VideoMAEObjective
    from devcurriculum.models.vjepa import VJEPAObjective

log = logging.getLogger("devcurriculum.eval.surprise")

SURPRISE_SCHEMA = pa.schema(
    [
        pa.field("after_stage", pa.int64(), nullable=False),
        pa.field("step", pa.int64(), nullable=False),
        pa.field("voe", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("window_start", pa.int64(), nullable=False),
        pa.field("context", pa.int64(), nullable=False),
        pa.field("after_onset", pa.bool_(), nullable=False),
        pa.field("surprise", pa.float64(), nullable=False),
    ]
)
PIXEL_MEAN, PIXEL_STD = 0.5, 0.25  # the batches' normalisation (datasets.clip_dataset.to_model_batch)


def context_frames(frames: int, tubelet_size: int = 1) -> int:
    """Frames of a window's context: the earlier half of its ``frames // tubelet_size`` temporal slices."""
    earlier, _ = split_slices(frames // tubelet_size)
    return earlier.stop * tubelet_size


class SurpriseModel(abc.ABC):
    """Scores windows ``(B, frames, C, H, W)`` (normalised like training batches) -> surprise ``(B,)`` given
    the first ``context`` frames (default: the earlier half of the temporal slices, :func:`context_frames`)."""

    frames: int
    tubelet_size: int = 1

    @abc.abstractmethod
    def __call__(self, windows: torch.Tensor, context: int | None = None) -> torch.Tensor: ...

    @property
    def default_context(self) -> int:
        return context_frames(self.frames, self.tubelet_size)

    def check_context(self, context: int | None) -> int:
        """``context`` (or the default), checked: whole tubelets, at least one, and something left to predict."""
        c = self.default_context if context is None else int(context)
        if not (self.tubelet_size <= c < self.frames) or c % self.tubelet_size:
            raise ValueError(f"voe.context_frames: {c} context frames do not fit a {self.frames}-frame window of "
                             f"{self.tubelet_size}-frame tubelets (a multiple of {self.tubelet_size} below {self.frames})")
        return c

    def score(self, windows: torch.Tensor, contexts: Sequence[int]) -> torch.Tensor:
        """Surprise ``(B, len(contexts))`` of every window at every context length."""
        return torch.stack([self(windows, c) for c in contexts], dim=1)

    def last_scored_frame(self, context: int | None = None) -> int:
        """The last frame of a window whose prediction enters its surprise (the window's last frame)."""
        return self.frames - 1


class PersistenceSurprise(SurpriseModel):
    """Predicts that nothing changes: every later frame equals the last context frame (mean squared error)."""

    def __init__(self, frames: int, tubelet_size: int = 1) -> None:
        self.frames = frames
        self.tubelet_size = tubelet_size

    def __call__(self, windows: torch.Tensor, context: int | None = None) -> torch.Tensor:
        c = self.check_context(context)
        last = windows[:, c - 1 : c]
        return (windows[:, c:] - last).pow(2).mean(dim=(1, 2, 3, 4))


def patch_targets(pixels: torch.Tensor, tubelet: int, patch: int, normalise: bool) -> torch.Tensor:
    """VideoMAE's reconstruction targets of ``pixels`` in [0, 1] ``(B, T, C, H, W)``: ``(B, N, tubelet*patch*patch*C)``.

    Tokens in the patch embedding's ``(t, h, w)`` order; with ``normalise`` each patch is standardised
    (unbiased variance, + 1e-6), as ``VideoMAEForPreTraining`` does for ``norm_pix_loss``.
    """
    b, t, c, h, w = pixels.shape
    x = pixels.view(b, t // tubelet, tubelet, c, h // patch, patch, w // patch, patch)
    x = x.permute(0, 1, 4, 6, 2, 5, 7, 3).reshape(b, -1, tubelet * patch * patch, c)
    if normalise:
        x = (x - x.mean(dim=-2, keepdim=True)) / (x.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6)
    return x.reshape(b, x.shape[1], -1)


class LearnerSurprise(SurpriseModel):
    """The surprise of one learner, read from its objective as trained (``objective_name`` says which)."""

    objective_name: ClassVar[str]
    objective: Objective

    def __init__(self, objective: Objective) -> None:
        if objective.name != self.objective_name or not isinstance(objective, ClipObjective):
            raise TypeError(f"{type(self).__name__} needs a {self.objective_name} objective, got {objective.name!r}")
        self.objective = objective
        self.frames = objective.frames
        self.tubelet_size = int(getattr(objective, "tubelet_size", 1))


class VideoMAESurprise(LearnerSurprise):
    """Reconstruction error of the masked later tubelets given the visible earlier ones."""

    objective_name = "videomae"
    objective: VideoMAEObjective

    def future_mask(self, context: int | None = None) -> torch.Tensor:
        """Every token of the tubelets from frame ``context`` on (default: the later half of the slices)."""
        per_slice = self.objective.grid * self.objective.grid
        mask = torch.zeros(self.objective.num_tokens, dtype=torch.bool)
        mask[self.check_context(context) // self.tubelet_size * per_slice :] = True
        return mask

    @property
    def mask(self) -> torch.Tensor:
        return self.future_mask()

    def __call__(self, windows: torch.Tensor, context: int | None = None) -> torch.Tensor:
        from devcurriculum.models.videomae import to_imagenet_normalisation

        obj = self.objective
        mask = self.future_mask(context).to(windows.device).expand(windows.shape[0], -1)
        logits = obj.model(pixel_values=to_imagenet_normalisation(windows), bool_masked_pos=mask).logits
        targets = patch_targets(windows * PIXEL_STD + PIXEL_MEAN, obj.tubelet_size, obj.patch_size,
                                obj.model.config.norm_pix_loss)
        targets = targets[mask].reshape(windows.shape[0], -1, targets.shape[-1])
        return (logits - targets).pow(2).mean(dim=(1, 2))


class VJEPASurprise(LearnerSurprise):
    """Representation-space error of the predictor on every later token given every earlier one."""

    objective_name = "vjepa"
    objective: VJEPAObjective

    @property
    def pairs(self) -> bool:
        return self.objective.mode == "pairs"

    def last_scored_frame(self, context: int | None = None) -> int:
        """The predicted frame of a pair (``gap`` clamped to the window) in pairs mode, else the last."""
        return min(self.objective.gap, self.frames - 1) if self.pairs else self.frames - 1

    def _slices(self, video: torch.Tensor, context: int | None) -> tuple[range, range]:
        if self.pairs:  # the pair's first slice predicts its second, whatever the context length
            return split_slices(video.shape[1] // self.tubelet_size)
        c = self.check_context(context) // self.tubelet_size
        return range(0, c), range(c, video.shape[1] // self.tubelet_size)

    def _error(self, video: torch.Tensor, features: torch.Tensor, context: int | None) -> torch.Tensor:
        obj = self.objective
        per_slice = obj.grid * obj.grid
        earlier, later = self._slices(video, context)
        batch, device = video.shape[0], video.device
        ctx = torch.arange(earlier.start * per_slice, earlier.stop * per_slice, device=device).expand(batch, -1)
        target = torch.arange(later.start * per_slice, later.stop * per_slice, device=device).expand(batch, -1)
        predicted = obj.predict(video, ctx, target)
        expected = torch.gather(features, 1, target.unsqueeze(-1).expand(-1, -1, features.shape[-1]))
        return (predicted - expected).abs().mean(dim=(1, 2))

    def __call__(self, windows: torch.Tensor, context: int | None = None) -> torch.Tensor:
        video = self.objective.pretext_input(windows)  # the clip, or V-JEPA's frame pair (mode: pairs)
        return self._error(video, self.objective.target_features(video), context)

    def score(self, windows: torch.Tensor, contexts: Sequence[int]) -> torch.Tensor:
        """The targets (the whole window through the EMA encoder) once, a prediction per context length."""
        video = self.objective.pretext_input(windows)
        features = self.objective.target_features(video)
        if self.pairs:
            return self._error(video, features, None)[:, None].expand(-1, len(contexts)).clone()
        return torch.stack([self._error(video, features, c) for c in contexts], dim=1)


class SimCLRProxySurprise(LearnerSurprise):
    """Proxy (SimCLR has no predictor): cosine distance of each later frame's features to the last context frame's."""

    objective_name = "simclr"
    objective: SimCLRObjective

    def __init__(self, objective: Objective) -> None:
        super().__init__(objective)
        self.tubelet_size = 1  # frame by frame: any context length from 1 frame

    def __call__(self, windows: torch.Tensor, context: int | None = None) -> torch.Tensor:
        return self.score(windows, [self.check_context(context)])[:, 0]

    def score(self, windows: torch.Tensor, contexts: Sequence[int]) -> torch.Tensor:
        """Every frame's features once (from the earliest last-context frame on), a proxy per context length."""
        cs = [self.check_context(c) for c in contexts]
        first = min(cs) - 1
        seen = windows[:, first:]
        b, t = seen.shape[:2]
        features = self.objective.backbone(seen.flatten(0, 1)).view(b, t, -1)
        proxies = []
        for c in cs:
            last = c - 1 - first  # the last context frame, among the frames seen
            change = 1 - F.cosine_similarity(features[:, last + 1 :], features[:, last : last + 1], dim=-1)
            proxies.append(change.mean(dim=1))
        return torch.stack(proxies, dim=1)


def surprise_model(objective: Objective) -> SurpriseModel:
    """The surprise of ``objective``'s learner (SimCLR: the proxy); the objective must be in eval mode."""
    for kind in (VideoMAESurprise, VJEPASurprise, SimCLRProxySurprise):
        if kind.objective_name == objective.name:
            return kind(objective)
    raise TypeError(f"no surprise is defined for objective {objective.name!r}; known: videomae, vjepa, simclr")


def window_starts(n_frames: int, window: int, stride: int) -> np.ndarray:
    """Starts of the windows slid over a clip: every ``stride`` frames, plus one ending on its last frame."""
    if n_frames < window:
        raise ValueError(f"a clip of {n_frames} frames is shorter than the model's window of {window} frames")
    starts = list(range(0, n_frames - window + 1, stride))
    if starts[-1] != n_frames - window:
        starts.append(n_frames - window)
    return np.asarray(starts, dtype=np.int64)


class ReadWindows:
    """The loader's read of a batch of windows: job ``(lo, hi)`` -> windows ``lo..hi`` of ``windows`` stacked."""

    def __init__(self, cache: np.ndarray, rows: np.ndarray, windows: Sequence[tuple[int, int]], frames: int) -> None:
        self.cache, self.rows, self.windows, self.frames = cache, rows, windows, frames

    def __call__(self, job: tuple[int, int]) -> np.ndarray:
        lo, hi = job
        return np.stack([self.cache[self.rows[i], s : s + self.frames] for i, s in self.windows[lo:hi]])


def score_windows(
    model: SurpriseModel, cache: np.ndarray, rows: np.ndarray, starts: np.ndarray, batch_size: int,
    contexts: Sequence[int] | None = None, *,
    device: EvalDevice | None = None, loading: Loading = NO_WORKERS, progress: ProgressLog | None = None,
) -> np.ndarray:
    """Surprise ``(len(rows), len(starts), len(contexts))`` of every window of the clips ``cache[rows]``
    (uint8 ``(N, L, H, W, 3)``) at every context length (default: the model's one, :func:`context_frames`).

    Windows are read ahead and normalised on the device (:mod:`devcurriculum.eval.batches`: ``device``
    default the CPU, ``loading`` the loader workers); ``progress`` counts windows.
    """
    from devcurriculum.datasets.clip_dataset import to_model_batch

    contexts = [model.check_context(c) for c in contexts] if contexts else [model.default_context]
    dev = device or EvalDevice(torch.device("cpu"))
    windows = [(i, int(s)) for i in range(len(rows)) for s in starts]
    jobs = [(lo, min(lo + batch_size, len(windows))) for lo in range(0, len(windows), batch_size)]
    chunks: list[torch.Tensor] = []
    batches = device_batches(ReadWindows(cache, rows, windows, model.frames), jobs, device=dev.device, loading=loading,
                             describe=lambda job: f"windows {job[0]}..{job[1]}", name="surprise")
    with torch.no_grad(), contextlib.closing(batches):
        for (lo, hi), clips in zip(jobs, batches, strict=True):
            with dev.autocast():
                chunks.append(model.score(to_model_batch(clips), contexts).detach())
            if progress is not None:
                progress.update(hi - lo)
    scores = to_host(chunks).reshape(-1, len(contexts)).astype(np.float64)
    if not np.isfinite(scores).all():
        raise ValueError("non-finite surprise")
    return scores.reshape(len(rows), len(starts), len(contexts))


def surprise_windows(voe_sets: Sequence[BenchmarkFiles], frames: int, window_stride: int, shard: int, n_shards: int) -> int:
    """Windows one checkpoint scores in this shard of ``voe_sets`` (for the progress log's total)."""
    total = 0
    for voe in voe_sets:
        n_frames = int(load_npy(voe.cache).shape[1])
        items = len(range(*shard_bounds(voe.n_items(), shard, n_shards)))
        total += items * len(window_starts(n_frames, frames, window_stride)) if n_frames >= frames else 0
    return total


def surprise_run(
    *,
    model: ModelConfig,
    clip: ClipConfig,
    checkpoints: Sequence[PathLike],
    voe_sets: Sequence[BenchmarkFiles],
    window_stride: int,
    shard: int,
    n_shards: int,
    out_path: PathLike,
    run_info: Mapping[str, Any],
    batch_size: int,
    threads: int | None = None,
    run_spec: PathLike | None = None,
    model_key: str = "the model config",
    context_frames: Sequence[int] | None = None,
    loading: Loading = NO_WORKERS,
    precision: str = PretrainConfig.precision,
    device: torch.device | str | None = None,
) -> int:
    """Surprise of this shard of every VoE set's clips under every checkpoint of a run; returns the rows written.

    ``run_info`` (model, curriculum, seed) goes into the table's metadata, where the readout finds it.
    The weights are verified like ``embed_run``'s (``run_spec`` of a trained run, every file's sha256).
    ``batch_size``: windows per forward pass (``voe.batch_size``). ``context_frames``: the context
    lengths of the sweep (``voe.context_frames``; default: the earlier half of the window). How windows
    are read and where they are scored as :func:`~devcurriculum.eval.embed.embed_run` (``loading``:
    ``voe.loader_workers``).
    """
    from devcurriculum.models.registry import build_network_objective, describe_network

    if threads is not None:
        set_threads(threads)
    stages = read_stages(checkpoints, out_path, network=model.network(), model_key=model_key, run_spec=run_spec)
    dev = EvalDevice.choose(precision, device)
    objective = build_network_objective(model, clip).to(dev.device)
    log.info(describe_network(model, objective))
    progress = ProgressLog(log, len(stages) * surprise_windows(voe_sets, clip.frames, window_stride, shard, n_shards),
                           what=f"surprise {Path(out_path).name}", unit="windows")
    columns: dict[str, list] = {name: [] for name in SURPRISE_SCHEMA.names}
    scorer = surprise_model(objective.eval())  # reads the objective, whose weights each stage replaces
    contexts = [scorer.check_context(c) for c in context_frames] if context_frames else [scorer.default_context]
    # rows per window: one per context length (windows outer, context lengths inner)
    last_scored = np.asarray([scorer.last_scored_frame(c) for c in contexts], dtype=np.int64)
    for ckpt in stages:
        load_weights_strict(objective, ckpt.path)
        for voe in voe_sets:
            ids, rows, cache = voe.rows()
            onsets = read_table(voe.table, columns=["onset_frame"]).column("onset_frame").to_numpy()
            start, stop = shard_bounds(len(rows), shard, n_shards)
            starts = window_starts(cache.shape[1], scorer.frames, window_stride)
            scores = score_windows(scorer, cache, rows[start:stop], starts, batch_size, contexts, device=dev,
                                   loading=loading, progress=progress)
            n = len(starts) * len(contexts)
            for k, item in enumerate(ids.slice(start, stop - start).to_pylist()):
                columns["after_stage"] += [ckpt.after_stage] * n
                columns["step"] += [ckpt.step] * n
                columns["voe"] += [voe.name] * n
                columns["item_id"] += [item] * n
                columns["window_start"] += np.repeat(starts, len(contexts)).tolist()
                columns["context"] += contexts * len(starts)
                columns["after_onset"] += (starts[:, None] + last_scored[None, :] >= onsets[start + k]).ravel().tolist()
                columns["surprise"] += scores[k].ravel().tolist()
    table = table_from_columns(columns, SURPRISE_SCHEMA)
    meta = provenance("surprise", surprise_keys(model), run=dict(run_info), checkpoints=[str(c.path) for c in stages],
                      voe_sets={v.name: str(v.table) for v in voe_sets}, window_stride=window_stride,
                      context_frames=contexts, shard=f"{shard}/{n_shards}")
    write_table(table, out_path, metadata=meta)
    log.info("scored %d windows (%d checkpoint(s) x %d VoE set(s)) -> %s", table.num_rows, len(stages), len(voe_sets), out_path)
    return table.num_rows
