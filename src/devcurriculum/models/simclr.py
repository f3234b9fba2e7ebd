"""SimCLR on frame pairs: two frames of a clip ``gap`` frames apart are positives (``objective: simclr``).

Backbone: a torchvision ResNet (``resnet18`` by default, ``weights=None``, random init) with its
classifier removed; projection head Linear(features, proj_hidden) - ReLU - Linear(proj_hidden,
proj_dim). Loss: standard NT-Xent (``models/losses.py``) with negatives gathered across ranks.

Views: for each clip a start frame ``i`` is drawn uniformly from ``[0, T - 1 - gap]`` and the frames
``i`` and ``i + gap`` (``gap`` clamped to ``T - 1``) each get independent augmentations
(``models/simclr_views.py``: torchvision ``transforms.v2`` functionals with every parameter drawn from
the objective's per-rank generator ``aug_generator``, saved and restored by the checkpoint code):
random resized crop, colour jitter (with optional hue and random order), grayscale, flip, optional
rotation. An optional ``gap_schedule`` (one gap per curriculum stage, e.g. the reference's shrinking
gaps) is applied through :meth:`SimCLRObjective.set_step_context`.

``embed``: the backbone's global-pooled features of the clip's last frame (projection dropped).
BatchNorm statistics are per rank (no SyncBatchNorm), as in the reference.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from devcurriculum.config import ClipConfig, SimCLRModelConfig
from devcurriculum.models.common import ClipObjective, rank_generator
from devcurriculum.models.losses import nt_xent
from devcurriculum.models.objective import StepContext
from devcurriculum.models.simclr_views import augment_frames

log = logging.getLogger("devcurriculum.models.simclr")

def build_backbone(name: str, stem: str) -> tuple[ResNet, int]:
    """A randomly initialised torchvision ResNet without its classifier, and its feature width.

    ``stem: small`` swaps the 7x7/2 convolution and max-pool for a 3x3/1 convolution (the CIFAR variant):
    more spatial resolution for tiny frames at a much higher compute cost.
    """
    if name == "resnet10":  # ResNet-18's widths, one basic block per stage: half the cost, for tiny demos
        net = ResNet(BasicBlock, [1, 1, 1, 1])
    else:
        net = getattr(torchvision.models, name)(weights=None)
    if stem == "small":
        net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        net.maxpool = nn.Identity()
    dim = net.fc.in_features
    net.fc = nn.Identity()
    return net, dim


BACKBONE_FILE = "backbone.safetensors"
EXPORT_README = """# SimCLR backbone trained with devcurriculum

The trained ResNet backbone (classifier removed) as a torchvision state dict. The snippet gives
devcurriculum's evaluation embedding of a batch of clips (the global-pooled features of each clip's
last frame), the one the run's benchmarks were read out from (devcurriculum's tests run this snippet
against its own embedding).

```python
import torch, torchvision, safetensors.torch
{build}; net.fc = torch.nn.Identity()
{small}net.load_state_dict(safetensors.torch.load_file("<this folder>/{file}")); net.eval()
# clips: uint8 RGB (B, T, {size}, {size}, 3) = (batch, frames, height, width, channels)
frames = torch.as_tensor(clips[:, -1]).permute(0, 3, 1, 2).float() / 255  # each clip's last frame, in [0, 1]
with torch.no_grad():
    embedding = net((frames - 0.5) / 0.25)  # (B, {width}): the training input's normalisation
```

The run folder above this one (`model.safetensors`, `checkpoints/`) holds training state (backbone and
projection head) under devcurriculum's own key names: load this folder instead.
"""
BUILD_LINES = {
    name: f"net = torchvision.models.{name}(weights=None)" for name in ("resnet18", "resnet34", "resnet50")
} | {"resnet10": "net = torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1])"}
SMALL_STEM_LINES = (
    "net.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False); net.maxpool = torch.nn.Identity()  # the small stem\n"
)


class SimCLRObjective(ClipObjective):
    """Contrastive learning on temporally separated frames of a clip; see the module docstring."""

    name = "simclr"

    def __init__(self, model: SimCLRModelConfig, clip: ClipConfig) -> None:
        super().__init__(clip)
        self.temperature = model.temperature
        self.gap_schedule = model.gap_schedule
        self.gap = model.gap_schedule[0] if model.gap_schedule else model.gap
        # gap_seconds: training batches are frame pairs across a video (B, 2, C, H, W), the gap already taken
        self.pairs_across_video = model.pairs_across_video
        self.augment = model.augment
        self.backbone_name, self.stem = model.backbone, model.stem
        self.backbone, dim = build_backbone(model.backbone, model.stem)
        self.projection = nn.Sequential(
            nn.Linear(dim, model.proj_hidden), nn.ReLU(inplace=True), nn.Linear(model.proj_hidden, model.proj_dim)
        )
        self.aug_generator = rank_generator()
        n_params = sum(p.numel() for p in self.parameters())
        log.info("SimCLR: %s backbone (%d features), gap %d, %.2fM parameters", model.backbone, dim, self.gap, n_params / 1e6)

    def set_step_context(self, context: StepContext) -> None:
        """Pick the gap of the current curriculum stage from ``gap_schedule`` (last entry after its end)."""
        if self.gap_schedule:
            self.gap = self.gap_schedule[min(max(context.stage, 0), len(self.gap_schedule) - 1)]

    def effective_gap(self, frames: int) -> int:
        return min(self.gap, frames - 1)

    def views(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two augmented frames per clip, ``gap`` frames apart (frames 0 and 1 of a pair batch): each ``(B, C, H, W)``."""
        if self.pairs_across_video:
            return (augment_frames(batch[:, 0], self.augment, self.aug_generator),
                    augment_frames(batch[:, 1], self.augment, self.aug_generator))
        b, t = batch.shape[:2]
        gap = self.effective_gap(t)
        start = torch.randint(0, t - gap, (b,), generator=self.aug_generator)
        rows = torch.arange(b)
        first = batch[rows, start.to(batch.device)]
        second = batch[rows, (start + gap).to(batch.device)]
        return augment_frames(first, self.augment, self.aug_generator), augment_frames(second, self.augment, self.aug_generator)

    def loss(self, batch: torch.Tensor, step: int) -> torch.Tensor:
        self.check_batch(batch, 2 if self.pairs_across_video else None)
        v1, v2 = self.views(batch)
        z = self.projection(self.backbone(torch.cat([v1, v2])))
        z1, z2 = z.chunk(2)
        return nt_xent(z1, z2, self.temperature, gather=True)

    @torch.no_grad()
    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        """Global-pooled backbone features of each clip's last frame (docs/evaluation.md "Embeddings").

        BatchNorm always uses its running statistics here (eval mode, restored afterwards), so an
        embedding never depends on the other clips of the batch and never updates those statistics.
        """
        self.check_batch(batch)
        was_training = self.backbone.training
        self.backbone.eval()
        try:
            return self.backbone(batch[:, -1])
        finally:
            self.backbone.train(was_training)

    def export_encoder(self, out_dir: Path) -> None:
        """The backbone's state dict (classifier removed) as safetensors, and how to load it with torchvision."""
        from devcurriculum.utils.safe_save import save_safetensors

        state = {k: v.detach().cpu().contiguous() for k, v in self.backbone.state_dict().items()}
        # our writer, not safetensors': its metadata order varies, so the file's bytes would too
        save_safetensors(state, out_dir / BACKBONE_FILE, metadata={"backbone": self.backbone_name, "stem": self.stem})
        small = SMALL_STEM_LINES if self.stem == "small" else ""
        (out_dir / "README.md").write_text(
            EXPORT_README.format(build=BUILD_LINES[self.backbone_name], file=BACKBONE_FILE, small=small, size=self.size,
                                 width=self.projection[0].in_features)
        )

    def depth_groups(self) -> list[list[nn.Parameter]]:
        """stem (conv1, bn1), then every residual block in order (layer1.0 ... layer4.N), then the head."""
        net = self.backbone
        groups: list[list[nn.Parameter]] = [list(net.conv1.parameters()) + list(net.bn1.parameters())]
        for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
            groups += [list(block.parameters()) for block in layer]
        groups.append(list(self.projection.parameters()))
        return [[p for p in g if p.requires_grad] for g in groups]
