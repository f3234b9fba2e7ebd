"""The run spec of one pretraining run: the typed config blocks that shape it, parsed from ``--spec-json``.

The ``pretrain`` rule passes the run-shaping part of each block (``block.shaping()``); runtime-only
settings (threads, checkpoint and log cadence, loader workers) come as CLI flags and are applied with
:meth:`RunSpec.with_runtime`. :meth:`RunSpec.shaping` is what ``run_spec.json`` records and the resume
hash sees: parsing fills the schema's defaults and drops runtime-only and readout-only keys, so a spec
that spells a default out, or carries a runtime key, hashes the same as one that does not, and
``run_spec.json`` never claims an embedding pooling (a readout setting: it can change without
retraining, and ``embed`` takes it from the config).

A run on a fraction of the corpus (``runs[].data_fractions``) adds the optional key ``data_fraction``;
a whole-corpus run's spec has no such key, so its ``run_spec.json`` and resume hash are unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from devcurriculum.config import (
    ClipConfig,
    CurriculumConfig,
    ModelConfig,
    PretrainConfig,
    VideoEmbeddingConfig,
    VideoMAEModelConfig,
    VJEPAModelConfig,
    model_config,
)

SPEC_KEYS = ("model_name", "model", "curriculum_name", "curriculum", "pretrain", "seed", "groups", "clip")
#: keys a spec may carry: the fraction of each age group's videos a run trains on (absent: all of them)
OPTIONAL_SPEC_KEYS = ("data_fraction",)


@dataclass(frozen=True)
class RunSpec:
    """One (model, curriculum, seed) run, every block validated against the schema."""

    model_name: str
    model: ModelConfig
    curriculum_name: str
    curriculum: CurriculumConfig
    pretrain: PretrainConfig
    seed: int
    groups: tuple[str, ...]
    clip: ClipConfig
    data_fraction: float = 1.0

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        """Parse ``--spec-json``; a missing or unknown key, or a bad value, is an error naming it."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--spec-json is not valid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ValueError(f"--spec-json must be a JSON object, got {type(raw).__name__}")
        missing = [k for k in SPEC_KEYS if k not in raw]
        if missing:
            raise ValueError(f"--spec-json lacks key(s) {missing} (needs {list(SPEC_KEYS)})")
        unknown = sorted(set(raw) - set(SPEC_KEYS) - set(OPTIONAL_SPEC_KEYS))
        if unknown:
            raise ValueError(f"--spec-json has unknown key(s) {unknown} (knows {[*SPEC_KEYS, *OPTIONAL_SPEC_KEYS]})")
        fraction = raw.get("data_fraction", 1.0)
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0.0 < fraction <= 1.0:
            raise ValueError(f"--spec-json: data_fraction must be a number in (0, 1], got {fraction!r}")
        model_name, curriculum_name = str(raw["model_name"]), str(raw["curriculum_name"])
        return cls(
            model_name=model_name,
            model=model_config(raw["model"], where=f"models.{model_name}"),
            curriculum_name=curriculum_name,
            curriculum=CurriculumConfig.from_mapping(raw["curriculum"], where=f"curricula.{curriculum_name}"),
            pretrain=PretrainConfig.from_mapping(raw["pretrain"]),
            seed=int(raw["seed"]),
            groups=tuple(str(g) for g in raw["groups"]),
            clip=ClipConfig.from_mapping(raw["clip"]),
            data_fraction=float(fraction),
        )

    def with_runtime(
        self,
        *,
        threads: int | None = None,
        checkpoint_every: int | None = None,
        log_every: int | None = None,
        tensorboard: bool | None = None,
        embedding: Mapping[str, Any] | None = None,
        loader_workers: int | None = None,
        loader_kind: Literal["thread", "process"] | None = None,
    ) -> RunSpec:
        """The spec with runtime-only ``pretrain`` settings replaced (None keeps the spec's value).

        ``embedding`` (``models.<name>.embedding``, a readout setting) only reaches the objective so that
        its ``export/README.md`` shows the pooling the run is read out with; training never uses it.
        """
        model = self.model
        if embedding is not None:
            if not isinstance(model, VideoMAEModelConfig | VJEPAModelConfig):
                raise ValueError(f"models.{self.model_name}: a {model.objective} model has no embedding setting")
            where = f"models.{self.model_name}.embedding"
            model = dataclasses.replace(model, embedding=VideoEmbeddingConfig.from_mapping(embedding, where=where))
        p = self.pretrain
        pretrain = dataclasses.replace(
            p,
            threads=p.threads if threads is None else threads,
            checkpoint_every=p.checkpoint_every if checkpoint_every is None else checkpoint_every,
            log_every=p.log_every if log_every is None else log_every,
            tensorboard=p.tensorboard if tensorboard is None else tensorboard,
            loader_workers=p.loader_workers if loader_workers is None else loader_workers,
            loader_kind=p.loader_kind if loader_kind is None else loader_kind,
        )
        return dataclasses.replace(self, pretrain=pretrain, model=model)

    def shaping(self) -> dict[str, Any]:
        """The keys that shape the run (recorded in ``run_spec.json`` and hashed for resume)."""
        shaping = {
            "model_name": self.model_name,
            # training(): without readout-only keys (embedding pooling), which never change the weights
            "model": self.model.training(),
            "curriculum_name": self.curriculum_name,
            "curriculum": self.curriculum.shaping(),
            "pretrain": self.pretrain.shaping(),
            "seed": self.seed,
            "groups": list(self.groups),
            "clip": self.clip.shaping(),
        }
        if self.data_fraction < 1.0:  # whole-corpus runs keep the spec (and resume hash) they had
            shaping["data_fraction"] = self.data_fraction
        return shaping
