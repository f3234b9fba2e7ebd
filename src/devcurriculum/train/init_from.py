"""Start a learner from published or earlier weights (``models.<name>.init_from``), loaded strictly.

``init_model`` builds the objective from config (random init, seeded) and, with ``init_from``, lays the
source's weights over it before saving: the untrained baseline (after_stage 0) and every run of that
(model, seed) then start from them. What a source may be:

- a **devcurriculum run folder** (it has ``run_spec.json``; its final ``model.safetensors`` is the whole
  objective under our own key names) or a ``.safetensors`` file of such weights;
- a **transformers folder** (``config.json`` + ``model.safetensors`` or a sharded index): VideoMAEModel
  or VideoMAEForPreTraining for VideoMAE, VJEPA2Model for V-JEPA, and a run's ``export/`` folder;
- an **image ViT** (``model_type`` vit or dinov2, e.g. DINO / DINOv2) for VideoMAE or V-JEPA, *inflated*
  to video: its 2-D patch embedding ``(D, 3, p, p)`` becomes the 3-D one ``(D, 3, t, p, p)`` by repeating
  it over the ``t = tubelet_size`` frames of a tubelet and dividing by ``t`` (a still clip then gives
  every token the image's patch response, I3D's inflation); the blocks' weights are renamed to the
  learner's layout, DINOv2's layer scale folded into the projection it scales (exact), the key bias
  dropped where the learner has none (exact: it adds the same logit to every key of a query). The
  CLS token and the learnt position embeddings have no place in a video learner (fixed sinusoidal
  positions in VideoMAE, RoPE in V-JEPA) and are reported unexpected;
- a ``.safetensors`` **state dict**, e.g. a torchvision ResNet for SimCLR (``backbone.*``).

Pickled files (``.bin``, ``.pt``, ``.pth``) are refused: loading never executes pickled code.

Keys are matched by the one (source prefix, learner prefix) pair that matches the most names with equal
shapes (``videomae.`` -> ``model.videomae.``, ``conv1.`` -> ``backbone.conv1.``). V-JEPA's EMA target
encoder, when the source has none, starts as a copy of the loaded context encoder (``derived``).
Every learner key that is not loaded (``missing``, or ``mis-shaped``) must be allowed by
``allow_missing`` (true, or fnmatch patterns); otherwise the load is refused with an error that names
the keys and the setting that would allow them. The table of matched / missing / unexpected keys
goes to the ``init_model`` log.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from devcurriculum.config import InitFromConfig
from devcurriculum.utils.paths import PathLike
from devcurriculum.utils.safe_load import load_safetensors

log = logging.getLogger("devcurriculum.train.init_from")

PICKLED_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
IMAGE_VIT_TYPES = ("vit", "dinov2", "dinov2_with_registers")


class InitFromError(ValueError):
    """``init_from`` cannot initialise this learner; the message names the key and what to change."""


@dataclass
class InitReport:
    """What an ``init_from`` load did, key by key (learner keys unless said otherwise)."""

    source: str
    kind: str
    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mis_shaped: list[str] = field(default_factory=list)  # "key: source (a, b) vs learner (c, d)"
    unexpected: list[str] = field(default_factory=list)  # source keys no learner key took
    derived: list[str] = field(default_factory=list)  # learner keys filled from loaded ones (EMA target)

    def counts(self) -> str:
        return (f"{len(self.matched)} matched, {len(self.derived)} derived, {len(self.missing)} missing, "
                f"{len(self.mis_shaped)} mis-shaped, {len(self.unexpected)} unexpected")

    def table(self) -> str:
        """The log's table: one line per (status, key group), keys grouped with layer numbers as ``*``."""
        lines = [f"init_from {self.source} ({self.kind}): {self.counts()}"]
        for status, keys in (("matched", self.matched), ("derived", self.derived), ("missing", self.missing),
                             ("mis-shaped", [k.split(":")[0] for k in self.mis_shaped]),
                             ("unexpected", self.unexpected)):
            for group, n in sorted(Counter(key_group(k) for k in keys).items()):
                lines.append(f"  {status:<11} {group:<60} {n:>5}")
        return "\n".join(lines)


def key_group(key: str) -> str:
    """``model.videomae.encoder.layer.3.attention.query.weight`` -> ``model.videomae.encoder.layer.*``."""
    parts = re.sub(r"\.\d+(\.|$)", r".*\1", key).split(".")
    cut = next((i + 1 for i, p in enumerate(parts) if p == "*"), min(len(parts) - 1, 3))
    return ".".join(parts[:cut]) if cut < len(parts) else key


# ---- reading a source ----------------------------------------------------------------------------


def source_files(path: PathLike) -> tuple[list[Path], str]:
    """The weights files ``init_from`` reads from ``path`` and what kind of source it is."""
    p = Path(path)
    if not p.exists():
        raise InitFromError(f"{p} does not exist")
    if p.is_file():
        if p.suffix in PICKLED_SUFFIXES:
            raise InitFromError(f"{p}: pickled weights are not loaded (they can run code); save them as .safetensors "
                                "(safetensors.torch.save_file(state_dict, 'weights.safetensors'))")
        if p.suffix != ".safetensors":
            raise InitFromError(f"{p}: not a .safetensors file or a folder")
        return [p], "safetensors state dict"
    if (p / "run_spec.json").is_file():
        return [p / "model.safetensors"], "devcurriculum run"
    index = p / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [p / s for s in shards], f"transformers {model_type(p) or 'model'} (sharded)"
    for name in ("model.safetensors", "backbone.safetensors"):
        if (p / name).is_file():
            kind = f"transformers {model_type(p)}" if model_type(p) else "safetensors state dict"
            return [p / name], kind
    pickled = sorted(q.name for q in p.iterdir() if q.suffix in PICKLED_SUFFIXES)
    hint = f"; it holds pickled weights {pickled}, which are not loaded: convert them to .safetensors" if pickled else ""
    raise InitFromError(f"{p}: no model.safetensors (or sharded index, or backbone.safetensors) in this folder{hint}")


def model_type(folder: Path) -> str:
    """``model_type`` of a transformers folder's ``config.json`` ("" when there is none)."""
    config = folder / "config.json"
    if not config.is_file():
        return ""
    try:
        return str(json.loads(config.read_text()).get("model_type", ""))
    except json.JSONDecodeError as exc:
        raise InitFromError(f"{config}: not valid JSON ({exc})") from None


def read_source(path: PathLike) -> tuple[dict[str, torch.Tensor], str]:
    """Every tensor of the source and its kind (see :func:`source_files`).

    A transformers folder is read through transformers (the class its ``config.json`` names), which
    renames the keys of older checkpoints (VideoMAE's ``q_bias`` is ``query.bias`` today); only the
    tensors the files hold are kept, never one transformers initialised itself.
    """
    files, kind = source_files(path)
    if kind.startswith("transformers"):
        return _transformers_state(Path(path)), kind
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(load_safetensors(f))
    return state, kind


def _transformers_state(folder: Path) -> dict[str, torch.Tensor]:
    import transformers

    config = json.loads((folder / "config.json").read_text())
    names = [a for a in config.get("architectures") or [] if hasattr(transformers, a)]
    cls = getattr(transformers, names[0]) if names else transformers.AutoModel
    try:
        model, info = cls.from_pretrained(folder, local_files_only=True, output_loading_info=True)
    except (OSError, ValueError) as exc:
        raise InitFromError(f"{folder}: transformers cannot load it ({exc})") from None
    absent = set(info.get("missing_keys", ())) | {m[0] if isinstance(m, tuple) else m for m in info.get("mismatched_keys", ())}
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k not in absent}


# ---- image ViTs inflated to video ----------------------------------------------------------------

#: per block: canonical name -> the source key suffix, for each image ViT layout (transformers 5)
_IMAGE_BLOCK = {
    "dinov2": ("encoder.layer.{i}.", {"norm1": "norm1", "q": "attention.q_proj", "k": "attention.k_proj",
                                     "v": "attention.v_proj", "o": "attention.o_proj", "norm2": "norm2",
                                     "fc1": "mlp.fc1", "fc2": "mlp.fc2", "ls1": "layer_scale1.lambda1",
                                     "ls2": "layer_scale2.lambda1"}),
    "vit": ("layers.{i}.", {"norm1": "layernorm_before", "q": "attention.q_proj", "k": "attention.k_proj",
                            "v": "attention.v_proj", "o": "attention.o_proj", "norm2": "layernorm_after",
                            "fc1": "mlp.fc1", "fc2": "mlp.fc2"}),
}
#: canonical name -> the learner's key suffix (VideoMAE under model.videomae., V-JEPA under encoder.)
_VIDEO_BLOCK = {
    "videomae": ("model.videomae.", "encoder.layer.{i}.", "embeddings.patch_embeddings.projection",
                 {"norm1": "layernorm_before", "q": "attention.attention.query", "k": "attention.attention.key",
                  "v": "attention.attention.value", "o": "attention.output.dense", "norm2": "layernorm_after",
                  "fc1": "intermediate.dense", "fc2": "output.dense"}),
    "vjepa": ("encoder.", "layer.{i}.", "embeddings.patch_embeddings.proj",
              {"norm1": "norm1", "q": "attention.query", "k": "attention.key", "v": "attention.value",
               "o": "attention.proj", "norm2": "norm2", "fc1": "mlp.fc1", "fc2": "mlp.fc2"}),
}


def inflate_patch_embedding(weight: torch.Tensor, tubelet: int) -> torch.Tensor:
    """A 2-D patch embedding ``(D, C, p, p)`` as a 3-D one ``(D, C, tubelet, p, p)``: repeated over time, / tubelet."""
    return weight.unsqueeze(2).repeat(1, 1, tubelet, 1, 1) / tubelet


def inflate_image_vit(
    source: Mapping[str, torch.Tensor], layout: str, learner: str, target: Mapping[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """An image ViT's blocks and patch embedding under the learner's names; returns (tensors, source keys used)."""
    src_block, src_names = _IMAGE_BLOCK[layout]
    prefix, dst_block, patch, dst_names = _VIDEO_BLOCK[learner]
    out: dict[str, torch.Tensor] = {}
    used: list[str] = []
    weight_key = "embeddings.patch_embeddings.projection.weight"
    tubelet_weight = target.get(f"{prefix}{patch}.weight")
    if weight_key in source and tubelet_weight is not None and tubelet_weight.ndim == 5:
        out[f"{prefix}{patch}.weight"] = inflate_patch_embedding(source[weight_key], int(tubelet_weight.shape[2]))
        used.append(weight_key)
        bias_key = "embeddings.patch_embeddings.projection.bias"
        if bias_key in source:
            out[f"{prefix}{patch}.bias"] = source[bias_key]
            used.append(bias_key)
    i = 0
    while f"{src_block.format(i=i)}{src_names['q']}.weight" in source:
        src, dst = src_block.format(i=i), prefix + dst_block.format(i=i)
        scale = {side: source.get(f"{src}{src_names[side]}") for side in ("ls1", "ls2") if side in src_names}
        used += [f"{src}{src_names[side]}" for side, v in scale.items() if v is not None]
        for name, dst_name in dst_names.items():
            for kind in ("weight", "bias"):
                key = f"{src}{src_names[name]}.{kind}"
                if key not in source:
                    continue
                used.append(key)
                tensor = source[key]
                # layer scale multiplies the output of o (attention) and fc2 (MLP): fold it into them
                lam = scale.get("ls1") if name == "o" else scale.get("ls2") if name == "fc2" else None
                if lam is not None:
                    tensor = tensor * (lam[:, None] if kind == "weight" else lam)
                if f"{dst}{dst_name}.{kind}" in target:  # VideoMAE's key has no bias: drop it (softmax ignores it)
                    out[f"{dst}{dst_name}.{kind}"] = tensor
        i += 1
    return out, used


# ---- matching and loading ------------------------------------------------------------------------


def _prefixes(keys: Iterable[str], depth: int) -> set[str]:
    out = {""}
    for key in keys:
        parts = key.split(".")
        out.update(".".join(parts[:n]) + "." for n in range(1, min(depth, len(parts) - 1) + 1))
    return out


def align(source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> tuple[dict[str, str], str, str]:
    """learner key -> source key under the (source prefix, learner prefix) pair that matches the most keys.

    A pair scores the source keys that, with the source prefix replaced by the learner's, are learner
    keys of the same shape; ties go to the shorter prefixes.
    """
    best: tuple[int, int, str, str] = (0, 0, "", "")
    for strip in _prefixes(source, 1):
        tail = {k[len(strip):]: k for k in source if k.startswith(strip)}
        for add in _prefixes(target, 3):
            n = sum(1 for t, k in tail.items() if (add + t) in target and target[add + t].shape == source[k].shape)
            if (n, -len(strip) - len(add)) > (best[0], best[1]):
                best = (n, -len(strip) - len(add), strip, add)
    _, _, strip, add = best
    mapping = {add + k[len(strip):]: k for k in source if k.startswith(strip) and add + k[len(strip):] in target}
    return mapping, strip, add


def allowed(key: str, allow_missing: bool | tuple[str, ...]) -> bool:
    if isinstance(allow_missing, bool):
        return allow_missing
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in allow_missing)


def learner_name(objective: nn.Module) -> str:
    return str(getattr(objective, "name", type(objective).__name__))


def load_init_from(objective: nn.Module, init: InitFromConfig, *, where: str = "models.<name>.init_from") -> InitReport:
    """Lay ``init``'s weights over ``objective`` (its random init), strictly; returns the report (also logged).

    Raises :class:`InitFromError` naming ``where`` when nothing matches, or when a learner key is
    missing or mis-shaped and ``init.allow_missing`` does not allow it.
    """
    try:
        source, kind = read_source(init.path)
    except InitFromError as exc:
        raise InitFromError(f"{where}.path: {exc}") from None
    target = objective.state_dict()
    learner = learner_name(objective)
    report = InitReport(source=str(init.path), kind=kind)
    loaded: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    layout = _image_layout(init.path, source)
    if layout is not None and learner in _VIDEO_BLOCK:
        loaded, used_keys = inflate_image_vit(source, layout, learner, target)
        used.update(used_keys)
        report.kind = f"image ViT ({layout}) inflated to video"
    else:
        mapping, _, _ = align(source, target)
        loaded = {t: source[s] for t, s in mapping.items()}
        used.update(mapping.values())
    for key, tensor in list(loaded.items()):
        if tuple(tensor.shape) != tuple(target[key].shape):
            report.mis_shaped.append(f"{key}: source {tuple(tensor.shape)} vs learner {tuple(target[key].shape)}")
            del loaded[key]
    report.unexpected = sorted(set(source) - used)
    if not loaded:
        raise InitFromError(
            f"{where}.path: no tensor of {init.path} ({kind}) fits the {learner} learner: is it the right model, "
            f"with the same sizes as models.<name>? (source keys e.g. {sorted(source)[:3]})"
        )
    report.derived = _derive(objective, loaded, target)
    report.matched = sorted(k for k in loaded if k not in report.derived)
    report.missing = sorted(set(target) - set(loaded))
    refused = [k for k in report.missing if not allowed(k, init.allow_missing)]
    refused += [m for m in report.mis_shaped if not allowed(m.split(":")[0], init.allow_missing)]
    log.info("%s", report.table())
    if refused:
        patterns = ", ".join(missing_patterns([k.split(":")[0] for k in refused], loaded))
        raise InitFromError(
            f"{where}: {len(refused)} key(s) the {learner} learner needs are missing from {init.path} or shaped "
            f"differently ({', '.join(refused[:4])}{', ...' if len(refused) > 4 else ''}); to keep their random "
            f"initial values set {where}: {{path: {init.path}, allow_missing: [{patterns}]}} (or allow_missing: true)"
        )
    state = dict(target)
    state.update(loaded)
    objective.load_state_dict(state, strict=True)
    return report


def missing_patterns(keys: Iterable[str], loaded: Iterable[str]) -> list[str]:
    """The fewest ``allow_missing`` patterns covering ``keys`` and no loaded key: each key's shortest
    dotted prefix that no loaded key shares, as ``prefix.*`` (the key itself when it is that short)."""
    loaded = list(loaded)
    out: set[str] = set()
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            prefix = ".".join(parts[:n])
            if n == len(parts):
                out.add(key)
            elif not any(k == prefix or k.startswith(prefix + ".") for k in loaded):
                out.add(prefix + ".*")
                break
    return sorted(out)


def _image_layout(path: PathLike, source: Mapping[str, torch.Tensor]) -> str | None:
    """``dinov2`` / ``vit`` for an image ViT folder with a 2-D patch embedding, else None."""
    folder = Path(path)
    kind = model_type(folder) if folder.is_dir() else ""
    weight = source.get("embeddings.patch_embeddings.projection.weight")
    if kind not in IMAGE_VIT_TYPES or weight is None or weight.ndim != 4:
        return None
    return "vit" if kind == "vit" else "dinov2"


def _derive(objective: nn.Module, loaded: dict[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> list[str]:
    """V-JEPA's EMA target encoder, absent from the source: a copy of the loaded context encoder."""
    if learner_name(objective) != "vjepa" or any(k.startswith("target_encoder.") for k in loaded):
        return []
    derived = []
    for key in target:
        if key.startswith("target_encoder."):
            twin = "encoder." + key.removeprefix("target_encoder.")
            if twin in loaded:
                loaded[key] = loaded[twin].clone()
                derived.append(key)
    return derived


def init_weights_files(init: InitFromConfig | None) -> list[str]:
    """The files ``init_model`` reads for ``init`` (its inputs: a replaced file reruns it); none without."""
    if init is None:
        return []
    files, _ = source_files(init.path)
    return [str(f) for f in files]
