"""Outside models as baselines: a frozen model this workflow did not train, embedded and scored like a learner.

``baselines.<name>`` names a local transformers folder (an image model such as DINO / DINOv2, applied
per frame; or a video model such as VideoMAE / VJEPA2, applied to the clip), the DINOv2 ViT-S/14 the
workflow imports (``dinov2-s14-imgfocus``), or a torchvision classifier with a safetensors state dict.
:class:`OutsideEncoder` turns the project's clip batches (``(x / 255 - 0.5) / 0.25``, ``(B, T, C, H, W)``)
into what the model expects: pixels back in [0, 1], resized to its input size, normalised with its own
statistics (its image processor's; ImageNet's for torchvision), frames picked or averaged (image models)
or resampled to its frame count (video models).

- Embedding (rule ``embed_baseline``): ``embed`` -> ``(B, D)``, read out by the same linear and kNN
  probes as the learners (``eval.readouts``), as one "stage" that the summary reports with
  ``after_stage`` null.
- VoE surprise (rule ``surprise_baseline``): an outside encoder has no predictor of ours, so its
  surprise is the **feature-change proxy** SimCLR also gets (``eval.surprise``): the cosine distance
  between the features of each later frame and of the last context frame, each frame embedded on its
  own (a video model sees the frame repeated as a still clip). It measures how much the representation
  changes, not a prediction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from devcurriculum.config import BASELINE, BaselineConfig, ClipConfig
from devcurriculum.eval.embed import BenchmarkFiles, embed_rows, embedding_schema
from devcurriculum.eval.surprise import SURPRISE_SCHEMA, SurpriseModel, score_windows, window_starts
from devcurriculum.utils.config import set_threads
from devcurriculum.utils.embeddings import embedding_array
from devcurriculum.utils.io import provenance, read_table, table_from_columns, write_table
from devcurriculum.utils.paths import PathLike
from devcurriculum.utils.safe_load import load_safetensors

log = logging.getLogger("devcurriculum.eval.outside")

PIXEL_MEAN, PIXEL_STD = 0.5, 0.25  # the project's batches (datasets.clip_dataset.to_model_batch)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_SIZE = 224
#: transformers model types that take a whole clip (the others are applied frame by frame)
VIDEO_TYPES = ("videomae", "vjepa2", "vivit", "timesformer")


def baseline_run_info(name: str) -> dict[str, Any]:
    """The (model, curriculum, seed) an outside model's tables carry: its name, ``baseline``, 0."""
    return {"model": name, "curriculum": BASELINE, "seed": 0}


class OutsideEncoder(nn.Module):
    """A frozen outside model behind the learners' ``embed`` interface (see the module docstring)."""

    def __init__(self, baseline: BaselineConfig, model_ref: PathLike) -> None:
        super().__init__()
        self.baseline = baseline
        self.ref = str(model_ref)
        if baseline.source == "torchvision":
            self.net, self.kind = self._torchvision(baseline, self.ref), "image"
            self.size: tuple[int, int] = (baseline.size or TORCHVISION_SIZE,) * 2
            self.mean: tuple[float, ...] = IMAGENET_MEAN
            self.std: tuple[float, ...] = IMAGENET_STD
            self.forward_kwargs: dict[str, Any] = {}
            self.num_frames = 1
            self.cls_token = False
        else:
            self._transformers(baseline, self.ref)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    # ---- building ------------------------------------------------------------------------------------
    @staticmethod
    def _torchvision(baseline: BaselineConfig, path: str) -> nn.Module:
        import torchvision

        builder = getattr(torchvision.models, str(baseline.arch), None)
        if builder is None or not callable(builder):
            raise ValueError(f"baselines: torchvision has no architecture {baseline.arch!r} (baselines.<name>.arch)")
        net = builder(weights=None)
        state = load_safetensors(path)
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"baselines: {path} does not fit torchvision {baseline.arch}: missing {sorted(missing)[:5]}, "
                             f"unexpected {sorted(unexpected)[:5]}")
        for head in ("fc", "classifier", "head", "heads"):  # the global-pooled features, not the classes
            if hasattr(net, head):
                setattr(net, head, nn.Identity())
                break
        return net

    def _transformers(self, baseline: BaselineConfig, ref: str) -> None:
        from devcurriculum.features.extract import image_normalization, load_feature_model, model_input_size

        self.net = load_feature_model(ref)
        config = self.net.config
        self.model_type = str(getattr(config, "model_type", ""))
        self.kind = "video" if self.model_type in VIDEO_TYPES else "image"
        mean, std = image_normalization(ref)
        self.mean, self.std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
        if baseline.size:
            self.size, self.forward_kwargs = (baseline.size, baseline.size), {}
        elif self.kind == "image":
            self.size, self.forward_kwargs = model_input_size(self.net)
        else:
            side = int(getattr(config, "image_size", 0) or getattr(config, "crop_size", 0))
            self.size, self.forward_kwargs = (side, side), {}
        self.num_frames = int(getattr(config, "num_frames", 0) or getattr(config, "frames_per_clip", 0) or 1)
        self.cls_token = self.kind == "image" and self.model_type != "vjepa2"

    # ---- forward ---------------------------------------------------------------------------------------
    def _pixels(self, frames: torch.Tensor) -> torch.Tensor:
        """Project-normalised ``(N, C, H, W)`` -> the model's normalised input at its size."""
        x = (frames * PIXEL_STD + PIXEL_MEAN).clamp(0.0, 1.0)
        if tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=True).clamp(0.0, 1.0)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def _pool(self, hidden: torch.Tensor) -> torch.Tensor:
        pooling = self.baseline.pooling
        if pooling == "auto":
            pooling = "cls" if self.cls_token else "mean"
        if pooling == "cls":
            return hidden[:, 0]
        start = 1 + int(getattr(self.net.config, "num_register_tokens", 0) or 0) if self.cls_token else 0
        return hidden[:, start:].mean(dim=1)

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` frames -> ``(N, D)``: an image model's feature, a video model's of the still frame."""
        pixels = self._pixels(frames)
        if self.baseline.source == "torchvision":
            return self.net(pixels)
        if self.kind == "video":
            return self._video(pixels[:, None].expand(-1, self.num_frames, -1, -1, -1))
        return self._pool(self.net(pixel_values=pixels, **self.forward_kwargs).last_hidden_state)

    def _video(self, videos: torch.Tensor) -> torch.Tensor:
        if self.model_type == "vjepa2":
            encoder: Any = self.net.encoder
            hidden = encoder(pixel_values_videos=videos).last_hidden_state
        else:
            hidden = self.net(pixel_values=videos).last_hidden_state
        return self._pool(hidden)

    @torch.no_grad()
    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` project-normalised clips -> ``(B, D)`` embeddings."""
        b, t = batch.shape[:2]
        if self.kind == "video":
            picks = np.linspace(0, t - 1, self.num_frames).round().astype(np.int64)  # resampled to its frame count
            frames = batch[:, torch.from_numpy(picks)].flatten(0, 1)
            return self._video(self._pixels(frames).view(b, self.num_frames, *frames.shape[1:2], *self.size))
        if self.baseline.frames == "mean":
            return self.frame_features(batch.flatten(0, 1)).view(b, t, -1).mean(dim=1)
        index = t - 1 if self.baseline.frames == "last" else t // 2
        return self.frame_features(batch[:, index])


class OutsideProxySurprise(SurpriseModel):
    """Feature-change proxy: cosine distance of each frame after the context to the last context frame's,
    averaged (SimCLR's proxy, on the outside model's frame features); any context length from 1 frame."""

    def __init__(self, encoder: OutsideEncoder, frames: int) -> None:
        self.encoder = encoder
        self.frames = frames
        self.tubelet_size = 1

    @torch.no_grad()
    def __call__(self, windows: torch.Tensor, context: int | None = None) -> torch.Tensor:
        return self.score(windows, [self.check_context(context)])[:, 0]

    @torch.no_grad()
    def score(self, windows: torch.Tensor, contexts: Sequence[int]) -> torch.Tensor:
        """Every frame's features once (from the earliest last-context frame on), a proxy per context length."""
        cs = [self.check_context(c) for c in contexts]
        first = min(cs) - 1
        seen = windows[:, first:]
        b, t = seen.shape[:2]
        features = self.encoder.frame_features(seen.flatten(0, 1)).view(b, t, -1)
        proxies = []
        for c in cs:
            last = c - 1 - first
            proxies.append((1 - F.cosine_similarity(features[:, last + 1 :], features[:, last : last + 1], dim=-1)).mean(dim=1))
        return torch.stack(proxies, dim=1)


def embed_baseline(
    *,
    name: str,
    baseline: BaselineConfig,
    model_ref: PathLike,
    benchmarks: Sequence[BenchmarkFiles],
    out_path: PathLike,
    batch_size: int,
    threads: int | None = None,
) -> int:
    """Embed every benchmark with the outside model; the table of a learner's embed job, one "stage" (0, step 0)."""
    from devcurriculum.datasets.clip_dataset import to_model_batch

    if threads is not None:
        set_threads(threads)
    encoder = OutsideEncoder(baseline, model_ref)
    columns: dict[str, list] = {k: [] for k in ("after_stage", "step", "benchmark", "item_id")}
    matrices = []
    for bench in benchmarks:
        ids, rows, cache = bench.rows()
        matrix = embed_rows(encoder, cache, rows, to_model_batch, batch_size, desc=f"embed {bench.name} ({name})")  # type: ignore[arg-type]
        if not np.isfinite(matrix).all():
            raise ValueError(f"non-finite embeddings from baselines.{name} on {bench.table}")
        columns["after_stage"] += [0] * len(matrix)
        columns["step"] += [0] * len(matrix)
        columns["benchmark"] += [bench.name] * len(matrix)
        columns["item_id"] += ids.to_pylist()
        matrices.append(matrix)
    matrix = np.concatenate(matrices)
    table = table_from_columns({**columns, "embedding": embedding_array(matrix)}, embedding_schema(matrix.shape[1]))
    write_table(table, out_path, metadata=provenance("embed_baseline", baseline.shaping(), baseline=name,
                                                     model=str(model_ref), run=baseline_run_info(name)))
    log.info("baselines.%s: embedded %d items (D=%d) -> %s", name, table.num_rows, matrix.shape[1], out_path)
    return table.num_rows


def surprise_baseline(
    *,
    name: str,
    baseline: BaselineConfig,
    model_ref: PathLike,
    clip: ClipConfig,
    voe_sets: Sequence[BenchmarkFiles],
    window_stride: int,
    out_path: PathLike,
    batch_size: int,
    threads: int | None = None,
    context_frames: Sequence[int] | None = None,
) -> int:
    """The feature-change proxy surprise of every VoE clip's windows (``data.clip.frames`` frames), as a learner's
    table: one row per window and context length of ``context_frames`` (``voe.context_frames``; default: the
    earlier half of the window)."""

    if threads is not None:
        set_threads(threads)
    scorer = OutsideProxySurprise(OutsideEncoder(baseline, model_ref), clip.frames)
    contexts = [scorer.check_context(c) for c in context_frames] if context_frames else [scorer.default_context]
    columns: dict[str, list] = {k: [] for k in SURPRISE_SCHEMA.names}
    for voe in voe_sets:
        ids, rows, cache = voe.rows()
        onsets = read_table(voe.table, columns=["onset_frame"]).column("onset_frame").to_numpy()
        starts = window_starts(cache.shape[1], scorer.frames, window_stride)
        scores = score_windows(scorer, cache, rows, starts, batch_size, contexts)
        n = len(starts) * len(contexts)
        for k, item in enumerate(ids.to_pylist()):
            columns["after_stage"] += [0] * n
            columns["step"] += [0] * n
            columns["voe"] += [voe.name] * n
            columns["item_id"] += [item] * n
            columns["window_start"] += np.repeat(starts, len(contexts)).tolist()
            columns["context"] += contexts * len(starts)
            # the proxy scores every frame to the window's last: a window is after the onset if its last frame is
            columns["after_onset"] += np.repeat(starts + scorer.frames - 1 >= onsets[k], len(contexts)).tolist()
            columns["surprise"] += scores[k].ravel().tolist()
    table = table_from_columns(columns, SURPRISE_SCHEMA)
    write_table(table, out_path, metadata=provenance("surprise_baseline", baseline.shaping(), run=baseline_run_info(name),
                                                     model=str(model_ref), window_stride=window_stride,
                                                     context_frames=contexts))
    log.info("baselines.%s: scored %d windows -> %s", name, table.num_rows, out_path)
    return table.num_rows

