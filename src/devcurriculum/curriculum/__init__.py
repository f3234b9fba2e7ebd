"""Curricula: age-ordered stages, prototype-first weighting, blur and LeRaC.

Public API (docs/architecture.md "Public Python API"). Names are imported lazily so that ``import devcurriculum.curriculum``
stays cheap and a user's training loop pulls in only what it uses.
"""

from typing import TYPE_CHECKING

from devcurriculum.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from devcurriculum.curriculum.blur import BlurSchedule, apply_blur, blur_schedule, gaussian_kernel1d
    from devcurriculum.curriculum.lerac import LeracSchedule, lerac_learning_rates
    from devcurriculum.curriculum.plan import CurriculumPlan, resolve_bucket_steps
    from devcurriculum.curriculum.prototype import PrototypeSchedule, effective_fraction
    from devcurriculum.curriculum.sampler import CurriculumSampler
else:  # at run time each name is imported from its module when first used (utils/lazy.py)
    __getattr__, __dir__ = lazy_exports(__name__, __file__)

__all__ = [
    "BlurSchedule",
    "CurriculumPlan",
    "CurriculumSampler",
    "LeracSchedule",
    "PrototypeSchedule",
    "apply_blur",
    "blur_schedule",
    "effective_fraction",
    "gaussian_kernel1d",
    "lerac_learning_rates",
    "resolve_bucket_steps",
]
