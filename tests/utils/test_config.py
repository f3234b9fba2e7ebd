"""Config helpers: the stable hash used for resume checks, and the thread setting."""

from __future__ import annotations

import os

import torch

from devcurriculum.utils.config import canonical_json, config_hash, set_threads


def test_hash_is_order_independent_and_sensitive_to_values() -> None:
    a = {"spec": {"lr": 1e-3, "groups": ["g0", "g1"]}, "world_size": 1}
    b = {"world_size": 1, "spec": {"groups": ["g0", "g1"], "lr": 1e-3}}
    assert config_hash(a) == config_hash(b) and len(config_hash(a)) == 16
    assert canonical_json(a) == canonical_json(b)
    assert config_hash({**a, "world_size": 2}) != config_hash(a)
    assert config_hash({"spec": {"lr": 1e-3, "groups": ["g1", "g0"]}, "world_size": 1}) != config_hash(a)


def test_set_threads_never_exceeds_the_machine() -> None:
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
        cores = os.cpu_count() or 1
        assert set_threads(cores + 7) == cores
        assert set_threads(None) == cores
    finally:
        torch.set_num_threads(before)
