"""Surprise: a learner's own prediction error on a clip's future given its past (rule ``surprise``, sharded).

The seed protocol (Garrido, Assran et al. 2025): show the model the past, let it predict what comes
next, and call its error on the actual future its *surprise*. Models are used as trained, never
fine-tuned. A window of ``data.clip.frames`` frames (the models' input) slides over each VoE clip,
one start every ``voe.window_stride`` stored frames (the last window ends on the clip's last frame);
in a window the earlier half of the temporal token slices is the context and the later half is
predicted (``masks.multiblock.split_slices``, the split V-JEPA trains with):

- V-JEPA: the context encoder sees the earlier slices, the predictor predicts every token of the
  later slices; surprise is the mean L1 distance to the EMA target encoder's (LayerNorm-ed) features
  of the whole window at those tokens — the error its loss trains, in representation space;
- VideoMAE: every tubelet of the later slices is masked, the visible earlier ones are encoded and the
  decoder reconstructs the masked ones; surprise is the mean squared error against the model's own
  reconstruction target (per-patch normalised pixels when ``norm_pix_loss``);
- SimCLR has no predictor, so its surprise is a **proxy**: the cosine distance between the backbone's
  features of each later frame and of the last context frame, averaged over the later frames — it
  measures how much the representation changes (a "nothing changes" predictor in feature space),
  not a prediction the model learnt to make;
- :class:`PersistenceSurprise` is the same "nothing changes" predictor in pixel space (no learnt
  part): a reference, and the test that the readout detects what it claims to.

The output is one long table: ``after_stage, step, voe, item_id, window_start, after_onset, surprise``;
``after_onset`` marks the windows that hold a frame at or after the clip's violation onset, the only
ones the readout (:mod:`devcurriculum.eval.voe`) compares.
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
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from devcurriculum.config import ClipConfig, ModelConfig, PretrainConfig, surprise_keys
from devcurriculum.eval.batches import NO_WORKERS, EvalDevice, Loading, device_batches, to_host
from devcurriculum.eval.embed import BenchmarkFiles, load_weights_strict, read_stages
from devcurriculum.masks.multiblock import split_slices
from devcurriculum.models.common import ClipObjective
from devcurriculum.models.objective import Objective
from devcurriculum.utils.config import set_threads
from devcurriculum.utils.io import provenance, shard_bounds, table_from_columns, write_table
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
        pa.field("after_onset", pa.bool_(), nullable=False),
        pa.field("surprise", pa.float64(), nullable=False),
    ]
)
PIXEL_MEAN, PIXEL_STD = 0.5, 0.25  # the batches' normalisation (datasets.clip_dataset.to_model_batch)


class SurpriseModel(abc.ABC):
    """Scores windows ``(B, frames, C, H, W)`` (normalised like training batches) -> surprise ``(B,)``."""

    frames: int

    @abc.abstractmethod
    def __call__(self, windows: torch.Tensor) -> torch.Tensor: ...


def context_frames(frames: int, tubelet_size: int = 1) -> int:
    """Frames of a window's context: the earlier half of its ``frames // tubelet_size`` temporal slices."""
    earlier, _ = split_slices(frames // tubelet_size)
    return earlier.stop * tubelet_size


class PersistenceSurprise(SurpriseModel):
    """Predicts that nothing changes: every later frame equals the last context frame (mean squared error)."""

    def __init__(self, frames: int, tubelet_size: int = 1) -> None:
        self.frames = frames
        self.context = context_frames(frames, tubelet_size)

    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        last = windows[:, self.context - 1 : self.context]
        return (windows[:, self.context :] - last).pow(2).mean(dim=(1, 2, 3, 4))


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


class VideoMAESurprise(LearnerSurprise):
    """Reconstruction error of the masked later tubelets given the visible earlier ones."""

    objective_name = "videomae"
    objective: VideoMAEObjective

    def __init__(self, objective: Objective) -> None:
        super().__init__(objective)
        per_slice = self.objective.grid * self.objective.grid
        _, later = split_slices(self.objective.temporal_slices)
        self.mask = torch.zeros(self.objective.num_tokens, dtype=torch.bool)
        self.mask[later.start * per_slice :] = True

    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        from devcurriculum.models.videomae import to_imagenet_normalisation

        obj = self.objective
        mask = self.mask.to(windows.device).expand(windows.shape[0], -1)
        logits = obj.model(pixel_values=to_imagenet_normalisation(windows), bool_masked_pos=mask).logits
        targets = patch_targets(windows * PIXEL_STD + PIXEL_MEAN, obj.tubelet_size, obj.patch_size,
                                obj.model.config.norm_pix_loss)
        targets = targets[mask].reshape(windows.shape[0], -1, targets.shape[-1])
        return (logits - targets).pow(2).mean(dim=(1, 2))


class VJEPASurprise(LearnerSurprise):
    """Representation-space error of the predictor on every later token given every earlier one."""

    objective_name = "vjepa"
    objective: VJEPAObjective

    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        obj = self.objective
        video = obj.pretext_input(windows)  # the clip, or V-JEPA's frame pair (mode: pairs)
        per_slice = obj.grid * obj.grid
        earlier, later = split_slices(video.shape[1] // obj.tubelet_size)
        batch = windows.shape[0]
        context = torch.arange(earlier.start * per_slice, earlier.stop * per_slice, device=windows.device).expand(batch, -1)
        target = torch.arange(later.start * per_slice, later.stop * per_slice, device=windows.device).expand(batch, -1)
        predicted = obj.predict(video, context, target)
        features = obj.target_features(video)
        expected = torch.gather(features, 1, target.unsqueeze(-1).expand(-1, -1, features.shape[-1]))
        return (predicted - expected).abs().mean(dim=(1, 2))


class SimCLRProxySurprise(LearnerSurprise):
    """Proxy (SimCLR has no predictor): cosine distance of each later frame's features to the last context frame's."""

    objective_name = "simclr"
    objective: SimCLRObjective

    def __init__(self, objective: Objective) -> None:
        super().__init__(objective)
        self.context = context_frames(self.frames)

    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        seen = windows[:, self.context - 1 :]  # the last context frame and the later frames
        b, t = seen.shape[:2]
        features = self.objective.backbone(seen.flatten(0, 1)).view(b, t, -1)
        return (1 - F.cosine_similarity(features[:, 1:], features[:, :1], dim=-1)).mean(dim=1)


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
    model: SurpriseModel, cache: np.ndarray, rows: np.ndarray, starts: np.ndarray, batch_size: int, *,
    device: EvalDevice | None = None, loading: Loading = NO_WORKERS, progress: ProgressLog | None = None,
) -> np.ndarray:
    """Surprise ``(len(rows), len(starts))`` of every window of the clips ``cache[rows]`` (uint8 ``(N, L, H, W, 3)``).

    Windows are read ahead and normalised on the device (:mod:`devcurriculum.eval.batches`: ``device``
    default the CPU, ``loading`` the loader workers); ``progress`` counts windows.
    """
    from devcurriculum.datasets.clip_dataset import to_model_batch

    dev = device or EvalDevice(torch.device("cpu"))
    windows = [(i, int(s)) for i in range(len(rows)) for s in starts]
    jobs = [(lo, min(lo + batch_size, len(windows))) for lo in range(0, len(windows), batch_size)]
    chunks: list[torch.Tensor] = []
    batches = device_batches(ReadWindows(cache, rows, windows, model.frames), jobs, device=dev.device, loading=loading,
                             describe=lambda job: f"windows {job[0]}..{job[1]}", name="surprise")
    with torch.no_grad(), contextlib.closing(batches):
        for (lo, hi), clips in zip(jobs, batches, strict=True):
            with dev.autocast():
                chunks.append(model(to_model_batch(clips)).detach())
            if progress is not None:
                progress.update(hi - lo)
    scores = to_host(chunks).reshape(-1).astype(np.float64)
    if not np.isfinite(scores).all():
        raise ValueError("non-finite surprise")
    return scores.reshape(len(rows), len(starts))


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
    loading: Loading = NO_WORKERS,
    precision: str = PretrainConfig.precision,
    device: torch.device | str | None = None,
) -> int:
    """Surprise of this shard of every VoE set's clips under every checkpoint of a run; returns the rows written.

    ``run_info`` (model, curriculum, seed) goes into the table's metadata, where the readout finds it.
    The weights are verified like ``embed_run``'s (``run_spec`` of a trained run, every file's sha256).
    ``batch_size``: windows per forward pass (``voe.batch_size``). How windows are read and where they
    are scored as :func:`~devcurriculum.eval.embed.embed_run` (``loading``: ``voe.loader_workers``).
    """
    from devcurriculum.models.registry import build_objective

    if threads is not None:
        set_threads(threads)
    stages = read_stages(checkpoints, out_path, network=model.network(), model_key=model_key, run_spec=run_spec)
    dev = EvalDevice.choose(precision, device)
    objective = build_objective(model, clip).to(dev.device)
    progress = ProgressLog(log, len(stages) * surprise_windows(voe_sets, clip.frames, window_stride, shard, n_shards),
                           what=f"surprise {Path(out_path).name}", unit="windows")
    columns: dict[str, list] = {name: [] for name in SURPRISE_SCHEMA.names}
    for ckpt in stages:
        load_weights_strict(objective, ckpt.path)
        scorer = surprise_model(objective.eval())
        for voe in voe_sets:
            ids, rows, cache = voe.rows()
            onsets = pq.read_table(voe.table, columns=["onset_frame"]).column("onset_frame").to_numpy()
            start, stop = shard_bounds(len(rows), shard, n_shards)
            starts = window_starts(cache.shape[1], scorer.frames, window_stride)
            scores = score_windows(scorer, cache, rows[start:stop], starts, batch_size, device=dev, loading=loading,
                                   progress=progress)
            for k, item in enumerate(ids.slice(start, stop - start).to_pylist()):
                columns["after_stage"] += [ckpt.after_stage] * len(starts)
                columns["step"] += [ckpt.step] * len(starts)
                columns["voe"] += [voe.name] * len(starts)
                columns["item_id"] += [item] * len(starts)
                columns["window_start"] += starts.tolist()
                columns["after_onset"] += (starts + scorer.frames - 1 >= onsets[start + k]).tolist()
                columns["surprise"] += scores[k].tolist()
    table = table_from_columns(columns, SURPRISE_SCHEMA)
    meta = provenance("surprise", surprise_keys(model), run=dict(run_info), checkpoints=[str(c.path) for c in stages],
                      voe_sets={v.name: str(v.table) for v in voe_sets}, window_stride=window_stride,
                      shard=f"{shard}/{n_shards}")
    write_table(table, out_path, metadata=meta)
    log.info("scored %d windows (%d checkpoint(s) x %d VoE set(s)) -> %s", table.num_rows, len(stages), len(voe_sets), out_path)
    return table.num_rows
