"""Writing safetensors files byte for byte reproducibly: the same tensors and metadata give the same file.

``safetensors.torch.save_file`` keeps the header's metadata in a Rust ``HashMap``, whose order changes
from one call to the next: identical weights got a different file (and sha256) after a resume or a
rerun. :func:`save_safetensors` writes the format itself (an 8-byte little-endian header length, a
JSON header padded with spaces to a multiple of 8, then the tensors' bytes back to back) with the
metadata keys sorted and the tensors in a fixed order: by element size (largest first, so every
tensor starts aligned to its element size), then by name, which is safetensors' own order for a
single dtype (``tests/train/test_checkpoint.py`` compares the bytes).
"""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from devcurriculum.utils.paths import PathLike

if TYPE_CHECKING:
    import torch


def _dtype_names() -> dict[torch.dtype, str]:
    import torch

    return {
        torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
        torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
        torch.bool: "BOOL",
    }


def save_safetensors(
    tensors: Mapping[str, torch.Tensor], path: PathLike, metadata: Mapping[str, str] | None = None
) -> None:
    """Write ``tensors`` (CPU, no two sharing memory) and ``metadata`` (string pairs) to ``path``.

    Not atomic by itself: callers write into :func:`~devcurriculum.utils.atomic.atomic_path`'s temp file.
    """
    import torch

    if sys.byteorder != "little":  # the format stores tensors little-endian; we write memory as is
        raise NotImplementedError("writing safetensors needs a little-endian machine")
    names = _dtype_names()
    header: dict[str, object] = {}
    if metadata:
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(f"safetensors metadata must map text to text, got {key!r}: {value!r}")
        header["__metadata__"] = {key: metadata[key] for key in sorted(metadata)}
    order = sorted(tensors, key=lambda name: (-tensors[name].element_size(), name))
    offset = 0
    for name in order:
        tensor = tensors[name]
        if tensor.dtype not in names:
            raise TypeError(f"{name}: cannot write a {tensor.dtype} tensor to safetensors (known: {sorted(names.values())})")
        size = tensor.numel() * tensor.element_size()
        header[name] = {"dtype": names[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)))
        fh.write(text)
        for name in order:
            data = tensors[name].detach().to("cpu").contiguous().reshape(-1).view(torch.uint8)
            fh.write(data.numpy().data)
