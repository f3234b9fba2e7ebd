"""Config helpers: stable hashing (for resume checks) and threads."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(obj: Mapping[str, Any]) -> str:
    """A short, order-independent hash of a config block."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:16]


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads from the rule's ``threads`` (never more than the machine has).

    None means every core. More threads than cores only oversubscribe them (slower, same results).
    """
    import torch

    cores = os.cpu_count() or 1
    n = max(1, min(int(threads or cores), cores))
    torch.set_num_threads(n)
    return n
