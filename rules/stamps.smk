# Included last: every rule defined above gets the plan-time check that refuses outputs made under
# another spec by another working directory, and hands its jobs their stamp (`params.job_stamp`,
# written next to the first output; devcurriculum.stamps, devcurriculum.workflow_checks).
from devcurriculum.stamps import owner_token
from devcurriculum.workflow_checks import StampGuard, shaping_config

StampGuard(
    workflow, results=RESULTS, config=shaping_config(CFG), owner=owner_token()
).attach()
