"""The demo world's age-dependent statistics: ``demo.world`` endpoints -> the statistics at one age.

Why the statistics move the way they do (head-camera studies; details in ``docs/demo_world.md``):

- Faces are frequent early and decline: faces were in view about 15 minutes of every waking hour for
  1-3-month-olds and about 5 minutes for 11-month-olds, and early faces are close, large, frontal (both
  eyes visible) and belong to few people (Jayaraman, Fausey & Smith 2015, PLoS ONE; 72,000 scenes from
  22 infants aged 1-11 months). Hence ``face_fraction`` 0.25 -> 0.083 (15/60 -> 5/60), ``face_scale``,
  ``face_frontal`` falling and ``face_identities`` rising.
- Over the first two years the input shifts "from faces to hands", later dominated by hands in contact
  with objects (Fausey, Jayaraman & Smith 2016, Cognition; 143 h from 34 infants aged 1-24 months); a
  longitudinal SAYCam re-analysis (6-32 months) found a moderate decline of faces and more hands than
  earlier estimates (Long et al. 2020, CogSci). Hence ``hand_fraction`` and ``hand_contact`` rising.
- The youngest infants' video is slower and less varied, lower in spatial and temporal complexity, and
  the youngest group's data was needed to kick-start learning (Sheybani et al., NeurIPS 2023,
  "Curriculum Learning With Infant Egocentric Videos"). Hence camera speed and jitter, object count and
  speed, clutter and texture variety rising, object size and texture period falling.

The exact endpoint values (the schema's defaults of ``demo.world``) are this renderer's choices except
where a number is cited above: the studies give directions and a few magnitudes, not a generative model.

Age dependence: every statistic is linear in the age fraction
``a = clip((age_days - youngest) / (oldest - youngest), 0, 1)``, where (youngest, oldest) is
``demo.world.age_span_days`` or, when unset, the lower bound of the youngest age group and the upper
bound of the oldest. Counts are stochastically rounded so their expectation stays linear in age.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from devcurriculum.config import DemoWorldConfig

# Independent random streams: the first entry after the seed of every SeedSequence, so that the
# frames do not depend on rendering order and the benchmark, the view clips, the
# violation-of-expectation pairs and the object-contact-prediction trials never overlap the training videos.
STREAM_PEOPLE, STREAM_VIDEO, STREAM_BENCHMARK, STREAM_AGES, STREAM_VIEWS, STREAM_VOE = 0, 1, 2, 3, 4, 5
STREAM_OCP = 6


def stream_rng(seed: int, stream: int, *index: int) -> np.random.Generator:
    """The generator of one random part of the demo: ``SeedSequence([seed, stream, *index])``."""
    return np.random.default_rng(np.random.SeedSequence([seed, stream, *index]))


@dataclass(frozen=True)
class SceneStats:
    """Every world statistic at one age (units and meaning: the ``demo.world`` keys of the schema)."""

    face_fraction: float
    face_episode_s: float
    face_scale: float
    face_frontal: float
    face_identities: float
    hand_fraction: float
    hand_episode_s: float
    hand_contact: float
    n_objects: float
    object_scale: float
    object_speed: float
    camera_speed: float
    camera_jitter: float
    clutter_density: float
    texture_families: float
    texture_regions: float
    texture_contrast: float
    texture_period: float


@dataclass(frozen=True)
class World:
    """Endpoints (youngest, oldest) of every statistic and the ages at which they hold."""

    endpoints: Mapping[str, tuple[float, float]]
    age_span: tuple[float, float]

    @classmethod
    def from_config(cls, world: DemoWorldConfig, age_groups: Mapping[str, tuple[float, float]]) -> World:
        """The ``demo.world`` block; its age span is ``age_span_days`` or the age groups' full range."""
        if world.age_span_days is not None:
            span = (float(world.age_span_days[0]), float(world.age_span_days[1]))
        else:
            span = (float(min(lo for lo, _ in age_groups.values())), float(max(hi for _, hi in age_groups.values())))
        return cls(endpoints=world.trends(), age_span=span)

    def age_fraction(self, age_days: float) -> float:
        """0 at the youngest age of the span, 1 at the oldest, clamped outside."""
        lo, hi = self.age_span
        return float(min(1.0, max(0.0, (age_days - lo) / (hi - lo))))

    def at_age(self, age_days: float) -> SceneStats:
        """Every statistic linearly interpolated between its endpoints at ``age_days``."""
        a = self.age_fraction(age_days)
        return SceneStats(**{k: young + (old - young) * a for k, (young, old) in self.endpoints.items()})
