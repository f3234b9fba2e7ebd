"""The sbatch options profiles/slurm generates, checked without a cluster.

Fake ``sbatch``/``squeue``/``sinfo``/``scontrol``/``sacct`` executables go first on PATH: ``sbatch``
records its command line and prints a job id, ``squeue`` reports every job FAILED so Snakemake stops
right after submission. Snakemake then runs with the real profile files on a tiny self-contained
Snakefile whose rule names match the workflow's (``pretrain`` and ``extract_features`` on GPUs,
``score_difficulty`` on CPUs), so the test exercises the executor plugin's own translation of
resources into sbatch options.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SLURM = REPO / "profiles" / "slurm"
MULTINODE = REPO / "profiles" / "slurm-multinode"
LOCAL_TEST = REPO / "profiles" / "slurm" / "test"
DEFAULT = REPO / "profiles" / "default"

FAKE_TOOLS = {
    # Writes each call's argv to its own file (the plugin submits from two threads at once), NUL
    # separated so arguments with spaces such as --wrap survive; the job id is the shell's pid, the
    # file name starts with a nanosecond clock so calls sort in submission order.
    "sbatch": """#!/bin/sh
mkdir -p "$FAKE_SLURM_DIR/calls"
f="$FAKE_SLURM_DIR/calls/$(date +%s%N)-$$"
{ printf 'sbatch'; for a in "$@"; do printf '\\000%s' "$a"; done; } > "$f.tmp" && mv "$f.tmp" "$f.argv"
echo $$
""",
    # `squeue --format=%i|%T --states=all --noheader --name <run>`: every submitted job has failed.
    "squeue": """#!/bin/sh
for f in "$FAKE_SLURM_DIR"/calls/*.argv; do
    [ -e "$f" ] || continue
    id=${f##*-}; echo "${id%.argv}|FAILED"
done
""",
    # `sinfo -o %P`: one default partition.
    "sinfo": "#!/bin/sh\nprintf 'PARTITION\\nlocal*\\n'\n",
    # `scontrol show config`: only MinJobAge is read (it decides whether squeue is trustworthy).
    "scontrol": "#!/bin/sh\necho 'MinJobAge               = 600 sec'\n",
    # No accounting database, like the local cluster: the account guess fails cleanly.
    "sacct": "#!/bin/sh\necho 'Slurm accounting storage is disabled' >&2\nexit 1\n",
}

SNAKEFILE = """
rule all:
    input:
        "pretrain.done",
        "features.done",
        "difficulty.done",


rule pretrain:
    output:
        "pretrain.done",
    threads: 1
    resources:
        gpu=0,
    shell:
        "touch {output}"


rule extract_features:
    output:
        "features.done",
    threads: 2
    shell:
        "touch {output}"


rule score_difficulty:
    output:
        "difficulty.done",
    threads: 2
    shell:
        "touch {output}"
"""


def _fake_bin(root: Path) -> Path:
    bin_dir = root / "fakebin"
    bin_dir.mkdir()
    for name, body in FAKE_TOOLS.items():
        tool = bin_dir / name
        tool.write_text(body)
        tool.chmod(0o755)
    return bin_dir


def submit(
    root: Path, *profiles: Path, expect: int, retries: int = 0, workflow_profile: Path | None = None
) -> list[list[str]]:
    """Run snakemake with ``profiles`` against fake SLURM tools; return the sbatch argvs in order.

    Snakemake (our own child) is killed as soon as ``expect`` submissions are recorded: after a
    failed status check it would idle ~10 s before exiting, SIGTERM makes it wait for "running" jobs
    that never existed, and only the submissions matter here.
    """
    work = root / "wf"
    work.mkdir(parents=True)
    (work / "Snakefile").write_text(SNAKEFILE)
    bin_dir = _fake_bin(root)
    env = dict(os.environ)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        FAKE_SLURM_DIR=str(root),
    )
    env.pop("SLURM_JOB_ID", None)
    cmd = [sys.executable, "-m", "snakemake", "--directory", str(work), "--snakefile", str(work / "Snakefile")]
    for profile in profiles:
        cmd += ["--profile", str(profile)]
    if workflow_profile is not None:
        # What Snakemake does by itself for the real Snakefile (profiles/default next to it).
        cmd += ["--workflow-profile", str(workflow_profile / "config.yaml")]
    # Top-level keys that do not touch resources: check status after 1 s instead of 40 s.
    cmd += ["--retries", str(retries), "--slurm-init-seconds-before-status-checks", "1"]
    log = root / "snakemake.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while len(list((root / "calls").glob("*.argv"))) < expect and proc.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=60)
    files = sorted((root / "calls").glob("*.argv"))
    if len(files) < expect:
        raise AssertionError(f"expected {expect} sbatch calls, got {len(files)}:\n{log.read_text()[-8000:]}")
    return [f.read_bytes().decode().split("\0") for f in files]


def rule_of(argv: list[str]) -> str:
    """The rule name the plugin puts into ``--comment rule_<name>[_wildcards_...]``."""
    return re.sub(r"^rule_|_wildcards_.*$", "", argv[argv.index("--comment") + 1])


def first_call_per_rule(calls: list[list[str]]) -> dict[str, list[str]]:
    by_rule: dict[str, list[str]] = {}
    for argv in calls:
        by_rule.setdefault(rule_of(argv), argv)
    return by_rule


def opt(argv: list[str], name: str) -> str | None:
    """The value of ``--name=value``, ``--name value`` or ``-n value`` in argv (None if absent)."""
    for i, arg in enumerate(argv):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name:
            return argv[i + 1]
    return None


def has(argv: list[str], prefix: str) -> bool:
    return any(a == prefix or a.startswith(f"{prefix}=") for a in argv)


def load(profile: Path) -> dict:
    return yaml.safe_load((profile / "config.yaml").read_text())


# ---- the profile files themselves --------------------------------------------------------------


def test_profile_never_sets_tasks_by_default() -> None:
    """docs/slurm.md: `tasks` in default-resources becomes --ntasks-per-gpu for every GPU job."""
    for profile in (SLURM, MULTINODE, LOCAL_TEST):
        defaults = load(profile).get("default-resources") or {}
        assert "tasks" not in defaults and "tasks_per_gpu" not in defaults, profile


def test_profile_uses_squeue_for_status() -> None:
    cfg = load(SLURM)
    assert cfg["executor"] == "slurm"
    assert cfg["slurm-status-command"] == "squeue"


def test_pretrain_cpus_match_threads() -> None:
    for profile in (SLURM, MULTINODE, LOCAL_TEST):
        cfg = load(profile)
        assert cfg["set-resources"]["pretrain"]["cpus_per_task"] == cfg["set-threads"]["pretrain"], profile


def test_multinode_layer_changes_only_pretrain() -> None:
    """The layer restates set-resources (Snakemake replaces whole keys), so keep the copies in sync."""
    base, multi = load(SLURM), load(MULTINODE)
    assert set(multi) <= {"set-resources", "set-threads"}, "the layer must not change executor settings"
    assert {k: v for k, v in multi["set-resources"].items() if k != "pretrain"} == {
        k: v for k, v in base["set-resources"].items() if k != "pretrain"
    }
    assert {k: v for k, v in multi["set-threads"].items() if k != "pretrain"} == {
        k: v for k, v in base["set-threads"].items() if k != "pretrain"
    }


def test_default_profile_never_contradicts_slurm() -> None:
    """profiles/default overrides --profile key by key, so it must agree with every cluster profile."""
    default = load(DEFAULT)
    # `cores` would cap remote jobs' threads at the submit host's core count (see the fixture test).
    for key in ("cores", "default-resources", "set-resources", "set-threads", "executor", "jobs", "retries"):
        assert key not in default, f"profiles/default/config.yaml must not set {key!r}"
    for profile in (SLURM, MULTINODE, LOCAL_TEST):
        cfg = load(profile)
        clashes = {k: (v, cfg[k]) for k, v in default.items() if k in cfg and cfg[k] != v}
        assert not clashes, f"{profile}: {clashes}"


def _job_rules() -> tuple[set[str], set[str]]:
    """(every rule and checkpoint of rules/*.smk that runs a job, the local target rules)."""
    jobs, local = set(), set()
    for smk in sorted((REPO / "rules").glob("*.smk")):
        blocks = re.split(r"^(?=(?:rule|checkpoint) \w+:)", smk.read_text(), flags=re.M)
        for block in blocks:
            head = re.match(r"(?:rule|checkpoint) (\w+):", block)
            if head:
                (local if re.search(r"^\s+localrule: True", block, flags=re.M) else jobs).add(head.group(1))
    return jobs, local


def test_every_job_rule_has_resources_and_no_entry_names_a_non_rule() -> None:
    jobs, local = _job_rules()
    assert {"pretrain", "embed", "surprise", "readout", "voe_readout", "prepare_voe", "import_dinov2",
            "index_videos"} <= jobs and "evaluate" in local
    for profile in (SLURM, MULTINODE):
        listed = set(load(profile)["set-resources"])
        assert not jobs - listed, f"{profile}: no resources for {sorted(jobs - listed)}"
        assert not listed - jobs, f"{profile}: entries for what is not a job rule: {sorted(listed - jobs)}"
    for profile in (SLURM, MULTINODE, LOCAL_TEST):
        cfg = load(profile)
        assert not set(cfg["set-threads"]) - jobs, profile
        assert not set(cfg["set-resources"]) - jobs, profile


def test_the_inference_rules_ask_for_a_gpu() -> None:
    res = load(SLURM)["set-resources"]
    assert {rule for rule, r in res.items() if r.get("gpu")} == {"pretrain", "embed", "surprise", "extract_features"}


def test_local_test_layer_fits_a_small_cpu_node() -> None:
    cfg = load(LOCAL_TEST)
    assert "executor" not in cfg, "the test layer rides on profiles/slurm; it must not replace the executor"
    for rule, res in cfg["set-resources"].items():
        assert not res.get("gpu"), rule
    assert max(cfg["set-threads"].values()) <= 2


# ---- what sbatch receives ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_calls(tmp_path_factory: pytest.TempPathFactory) -> list[list[str]]:
    """profiles/slurm alone, one retry: the three rules at attempt 1, then again at attempt 2."""
    return submit(tmp_path_factory.mktemp("slurm"), SLURM, expect=6, retries=1)


@pytest.fixture(scope="module")
def with_default_calls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """profiles/slurm plus profiles/default, which Snakemake applies to the real workflow by itself."""
    root = tmp_path_factory.mktemp("with_default")
    return first_call_per_rule(submit(root, SLURM, expect=3, workflow_profile=DEFAULT))


@pytest.fixture(scope="module")
def multinode_calls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    return first_call_per_rule(submit(tmp_path_factory.mktemp("multinode"), SLURM, MULTINODE, expect=3))


@pytest.fixture(scope="module")
def local_test_calls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    return first_call_per_rule(submit(tmp_path_factory.mktemp("local"), SLURM, LOCAL_TEST, expect=3))


def test_gpu_pretrain_sbatch_options(base_calls: list[list[str]]) -> None:
    argv = first_call_per_rule(base_calls)["pretrain"]
    assert argv[0] == "sbatch"
    assert opt(argv, "--gpus") == "1"
    assert opt(argv, "--cpus-per-task") == "8"
    assert opt(argv, "--mem") == "64000"
    assert opt(argv, "-t") == "720"
    assert opt(argv, "-p") == "local"
    # No task geometry for a single torchrun launcher: no --ntasks-per-gpu, no --ntasks.
    assert not has(argv, "--ntasks-per-gpu")
    assert not has(argv, "--ntasks")
    assert not has(argv, "--nodes")


def test_gpu_inference_rule_sbatch_options(base_calls: list[list[str]]) -> None:
    argv = first_call_per_rule(base_calls)["extract_features"]
    assert opt(argv, "--gpus") == "1"
    assert opt(argv, "--cpus-per-task") == "8"  # from set-threads, via cpus_per_task: threads (loader workers)
    assert opt(argv, "--mem") == "16000"
    assert opt(argv, "-t") == "120"
    assert not has(argv, "--ntasks-per-gpu") and not has(argv, "--ntasks")


def test_cpu_rule_sbatch_options(base_calls: list[list[str]]) -> None:
    argv = first_call_per_rule(base_calls)["score_difficulty"]
    assert opt(argv, "--cpus-per-task") == "8"  # from set-threads, via cpus_per_task: threads
    assert opt(argv, "--mem") == "32000"
    assert opt(argv, "-t") == "60"
    assert opt(argv, "--ntasks") == "1"
    assert not has(argv, "--gpus") and not has(argv, "--gres")


def test_runtime_and_memory_grow_with_attempt(base_calls: list[list[str]]) -> None:
    """A retried job is resubmitted with attempt=2: twice the wall time and memory."""
    pretrain = [a for a in base_calls if rule_of(a) == "pretrain"]
    assert [(opt(a, "-t"), opt(a, "--mem")) for a in pretrain] == [("720", "64000"), ("1440", "128000")]
    features = [a for a in base_calls if rule_of(a) == "extract_features"]
    assert [(opt(a, "-t"), opt(a, "--mem")) for a in features] == [("120", "16000"), ("240", "32000")]
    difficulty = [a for a in base_calls if rule_of(a) == "score_difficulty"]
    assert [(opt(a, "-t"), opt(a, "--mem")) for a in difficulty] == [("60", "32000"), ("120", "64000")]


def test_default_profile_keeps_slurm_requests(with_default_calls: dict[str, list[str]]) -> None:
    """profiles/default must not shrink the CPUs requested for remote jobs (`cores: all` did)."""
    assert opt(with_default_calls["pretrain"], "--cpus-per-task") == "8"
    assert opt(with_default_calls["pretrain"], "--gpus") == "1"
    assert opt(with_default_calls["extract_features"], "--cpus-per-task") == "8"


def test_multinode_pretrain_sbatch_options(multinode_calls: dict[str, list[str]]) -> None:
    argv = multinode_calls["pretrain"]
    assert opt(argv, "--nodes") == "2"
    assert opt(argv, "--ntasks") == "2"  # one torchrun launcher per node
    assert opt(argv, "--gres") == "gpu:4"  # GPUs per node (--gpus would count the whole job)
    assert not has(argv, "--gpus")
    assert not has(argv, "--ntasks-per-gpu")
    assert opt(argv, "--cpus-per-task") == "32"
    assert opt(argv, "--mem") == "256000"
    assert opt(argv, "-t") == "720"
    # The other rules are untouched by the layer.
    assert opt(multinode_calls["extract_features"], "--cpus-per-task") == "8"
    assert opt(multinode_calls["extract_features"], "--gpus") == "1"
    assert opt(multinode_calls["score_difficulty"], "--cpus-per-task") == "8"


def test_local_test_layer_requests_no_gpu(local_test_calls: dict[str, list[str]]) -> None:
    for rule, argv in local_test_calls.items():
        assert not has(argv, "--gpus") and not has(argv, "--gres"), rule
        assert int(opt(argv, "--cpus-per-task")) <= 2, rule
        assert int(opt(argv, "--mem")) <= 2000, rule
    assert opt(local_test_calls["pretrain"], "--ntasks") == "1"
    assert opt(local_test_calls["pretrain"], "--cpus-per-task") == "2"


@pytest.mark.parametrize("profile", [SLURM, MULTINODE, LOCAL_TEST, DEFAULT], ids=lambda p: p.name)
def test_profile_yaml_has_comments_for_every_key(profile: Path) -> None:
    """Every top-level key carries a comment (on its line or just above) saying why it is set."""
    lines = (profile / "config.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[a-z][\w-]*:", line):
            above = lines[i - 1].strip() if i else ""
            assert "#" in line or above.startswith("#"), f"{profile}/config.yaml:{i + 1} {line!r} is uncommented"

