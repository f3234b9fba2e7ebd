"""Resume state: weights_only-safe content, RNG round trips, config-hash gate, safetensors weights."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from devcurriculum.train.checkpoint import (
    ResumeState,
    capture_rng,
    load_resume_state,
    load_weights,
    module_generators,
    restore_rng,
    resume_path,
    save_resume_state,
    save_weights,
)


class WithGenerators(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.gen = torch.Generator().manual_seed(1)
        self.inner = nn.Sequential(nn.Linear(2, 2))
        self.inner[0].mask_gen = torch.Generator().manual_seed(2)


def draws(module: WithGenerators) -> tuple:
    return (
        torch.rand(3).tolist(),
        np.random.rand(3).tolist(),
        np.random.randn(1).tolist(),  # exercises numpy's cached gaussian
        [random.random() for _ in range(3)],
        random.gauss(0, 1),
        torch.rand(2, generator=module.gen).tolist(),
        torch.rand(2, generator=module.inner[0].mask_gen).tolist(),
    )


def test_generators_are_found_by_dotted_name() -> None:
    assert set(module_generators(WithGenerators())) == {"gen", "inner.0.mask_gen"}


def test_rng_round_trip_through_a_weights_only_file(tmp_path: Path) -> None:
    m = WithGenerators()
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    np.random.randn(1)
    random.gauss(0, 1)  # leave cached gaussians pending
    state = capture_rng(m)
    expected = draws(m)
    torch.save(state, tmp_path / "rng.pt")
    loaded = torch.load(tmp_path / "rng.pt", weights_only=True)
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    m2 = WithGenerators()
    restore_rng(loaded, m2)
    assert draws(m2) == expected


def test_restore_names_a_generator_without_saved_state() -> None:
    state = capture_rng(nn.Linear(1, 1))
    with pytest.raises(KeyError, match="'gen'"):
        restore_rng(state, WithGenerators())


def make_state(step: int = 5, h: str = "abc") -> ResumeState:
    model = nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    return ResumeState(step=step, config_hash=h, model=model.state_dict(), optimizer=opt.state_dict(),
                       samplers=[{"step": step, "perm": torch.arange(4)}], rngs=[capture_rng(model)],
                       metrics={"step": [0, 1], "loss": [0.5, 0.4]}, wall_s=1.5)


def test_resume_state_round_trip_with_weights_only(tmp_path: Path) -> None:
    state = make_state()
    path = save_resume_state(tmp_path / "resume", state)
    assert path == resume_path(tmp_path / "resume") and path.name == "last.pt"
    raw = torch.load(path, weights_only=True)  # must not need pickled classes
    assert raw["step"] == 5
    back = load_resume_state(tmp_path / "resume", "abc")
    assert back is not None and back.step == 5 and back.wall_s == 1.5
    assert torch.equal(back.model["weight"], state.model["weight"])
    assert back.samplers[0]["perm"].tolist() == [0, 1, 2, 3]
    assert back.metrics["loss"] == [0.5, 0.4]
    assert not list((tmp_path / "resume").glob(".last.pt*"))  # no temp files left behind


def test_changed_config_hash_starts_fresh_and_says_why(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    save_resume_state(tmp_path, make_state(h="old"))
    with caplog.at_level(logging.INFO, logger="devcurriculum"):
        assert load_resume_state(tmp_path, "new") is None
    assert "config hash old but this run has new" in caplog.text


def test_missing_or_corrupt_state_starts_fresh(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="devcurriculum"):
        assert load_resume_state(tmp_path, "x") is None
        resume_path(tmp_path).write_bytes(b"truncated garbage")
        assert load_resume_state(tmp_path, "x") is None
    assert "no resume state" in caplog.text and "is not a readable archive" in caplog.text
    # set aside, not deleted: the garbage is kept for inspection under a name no run resumes from
    (aside,) = tmp_path.glob("last.pt.corrupt-*")
    assert aside.read_bytes() == b"truncated garbage" and not resume_path(tmp_path).exists()
    assert f"set aside as {aside}" in caplog.text


def test_safetensors_weights_with_tied_parameters(tmp_path: Path) -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(5, 3)
            self.out = nn.Linear(3, 5, bias=False)
            self.out.weight = self.emb.weight

    src = Tied()
    save_weights(src.state_dict(), tmp_path / "w.safetensors")
    dst = Tied()
    load_weights(dst, tmp_path / "w.safetensors")
    assert torch.equal(dst.emb.weight, src.emb.weight) and dst.out.weight is dst.emb.weight
    with pytest.raises(RuntimeError, match=r"w.safetensors do not match Linear"):
        load_weights(nn.Linear(3, 5), tmp_path / "w.safetensors")
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load_weights(dst, tmp_path / "nope.safetensors")


# ---- byte-reproducible weights files (issue 25, item 9) ---------------------------------------------


def test_weights_files_are_byte_identical_whatever_the_metadata_order(tmp_path: Path) -> None:
    """safetensors keeps header metadata in a Rust HashMap: its order, and so the file's sha256, changed
    from one save to the next for identical tensors (a resume or a rerun gave another file hash)."""
    state = {"b.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "a.bias": torch.ones(2),
             "c.count": torch.tensor([3, 4], dtype=torch.int64), "d.half": torch.zeros(3, dtype=torch.bfloat16)}
    metadata = {"step": "12", "after_stage": "2", "model": "videomae", "curriculum": "developmental",
                "seed": "0", "world_size": "1"}
    files = []
    for k in range(6):
        ordered = dict(sorted(metadata.items(), reverse=bool(k % 2)))  # same pairs, another order
        path = tmp_path / f"w{k}.safetensors"
        save_weights(state, path, metadata=ordered)
        files.append(path.read_bytes())
    assert all(data == files[0] for data in files[1:])
    from safetensors import safe_open

    with safe_open(str(tmp_path / "w0.safetensors"), framework="pt") as fh:
        assert fh.metadata() == metadata
        for name, tensor in state.items():
            assert torch.equal(fh.get_tensor(name), tensor) and fh.get_tensor(name).dtype == tensor.dtype


def test_weights_without_metadata_are_the_bytes_safetensors_writes(tmp_path: Path) -> None:
    """The writer is the safetensors format itself: for one dtype and no metadata, safetensors' own bytes."""
    from safetensors.torch import save

    state = {"z": torch.randn(4, 5), "a": torch.randn(3), "m": torch.randn(2, 2, 2), "s": torch.tensor(1.5)}
    save_weights(state, tmp_path / "w.safetensors")
    assert (tmp_path / "w.safetensors").read_bytes() == save(state)
