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


def config_differences(
    recorded: Mapping[str, Any], given: Mapping[str, Any], *, recorded_as: str, given_as: str
) -> list[str]:
    """The keys of ``given`` whose value differs in ``recorded``: ``'key: 96 in A, 128 in B'`` each.

    Values are compared as canonical JSON (a tuple equals the list a JSON file gives back). Keys only
    in ``recorded`` are left out: a run records every model key, a stage is given only those it uses.
    """
    out = []
    for key in sorted(given):
        theirs = recorded.get(key, "<absent>")
        if canonical_json(theirs) != canonical_json(given[key]):
            out.append(f"{key}: {canonical_json(theirs)} in {recorded_as}, {canonical_json(given[key])} in {given_as}")
    return out


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads from the rule's ``threads`` (never more than the machine has).

    None means every core. More threads than cores only oversubscribe them (slower, same results).
    """
    import torch

    cores = os.cpu_count() or 1
    n = max(1, min(int(threads or cores), cores))
    torch.set_num_threads(n)
    return n
