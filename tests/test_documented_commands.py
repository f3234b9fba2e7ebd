"""Every command, snippet and query the README and docs/ show works verbatim on a fresh clone.

The fixture copies the repository as a clone would have it (committed files plus the working tree's
changes, nothing ignored), links the clone's ``.venv`` to this test's environment and runs a tiny
workflow there with the environment *not* on PATH, so ``.venv/bin/...`` is the only way in. Then each
fenced block of README.md and docs/*.md runs in the clone:

- ``bash``: line by line; Snakemake commands as dry runs (``-n``, a full run is the workflow tests'
  job), everything else verbatim; commands no test can run are in :data:`NOT_RUN` with the reason;
- ``python``: as a script in the clone, against the tiny run's results;
- ``sql``: every statement through DuckDB, which must return rows;
- ``yaml`` config fragments: merged onto config.yaml and validated like the Snakefile does.

The same tiny run also shows that its logs hold no progress-bar lines (no terminal there) and that a
config with another ``results:`` folder writes its logs elsewhere.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LANGUAGES = ("bash", "python", "sql", "yaml")
#: programs a documented command may start with besides the project's own ``.venv/bin/...``
SHELL_TOOLS = ("printf", "cp", "ls", "cat", "head")
#: the manifest path configs/own_data.yaml ships with; docs/own_data.md step 2 says to replace it
OWN_MANIFEST = "/data/headcam/manifest.csv"

#: (pattern on the command or snippet, why no test runs it)
NOT_RUN: tuple[tuple[str, str], ...] = (
    (r"^make demo\b", "the whole demo (about 12 minutes); the workflow tests run the same DAG on .test configs"),
    (r"^make test\b", "the test suite this test belongs to"),
    (r"^srun ", "a SLURM job step: needs an allocation (test_slurm_cluster.py runs this command shape in a "
                "one-node cluster)"),
    (r"slurm_local_cluster\.sh", "installs and starts slurmctld, slurmd and munged as root "
                                 "(tests/workflow/test_slurm_cluster.py)"),
    (r"onnx_dinov2 results/", "writes the 88 MB imported model (about 20 s); tests/features/test_onnx_dinov2.py "
                              "runs the importer, and its --help line runs here"),
    (r"ucf101_manifest\(root=", "needs the UCF-101 dataset; tests/evalsets/labelled run the same calls on "
                                "small layouts"),
    (r"benchmarks/\w+\.py", "a performance measurement (minutes each, the figures in docs/performance.md); "
                            "their library calls are unit-tested"),
    (r"^pretrain:\n  mpi: srun", "a SLURM profile fragment, not a config (tests/workflow/test_slurm_profile.py)"),
    (r"init_from: \{path: /models/", "names a checkpoint on the lab's disk, which the config check requires to exist "
                                      "(tests/train/test_init_from.py loads tiny saved models by the same keys)"),
    (r"^export CUDA_VISIBLE_DEVICES=", "sets the GPUs of the shell for the next command; the snakemake line after it "
                                       "is dry-run here"),
)


@dataclass(frozen=True)
class Snippet:
    """One fenced block of a document."""

    doc: str
    line: int
    lang: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}:{self.lang}"


def documented_snippets(docs: list[Path] = DOCS) -> list[Snippet]:
    """Every fenced block in ``docs`` whose language is one of :data:`LANGUAGES` (indented fences too)."""
    found = []
    fence = re.compile(r"^(\s*)```(\w*)\s*$")
    for path in docs:
        lines = path.read_text().splitlines()
        i = 0
        while i < len(lines):
            m = fence.match(lines[i])
            if not m:
                i += 1
                continue
            indent, lang, start = len(m.group(1)), m.group(2), i
            body = []
            i += 1
            while i < len(lines) and not fence.match(lines[i]):
                body.append(lines[i][indent:])
                i += 1
            i += 1
            if lang in LANGUAGES:
                found.append(Snippet(str(path.relative_to(REPO)), start + 1, lang, "\n".join(body)))
    return found


def shell_commands(text: str) -> list[str]:
    """The commands of a bash block: continuation lines joined, comments and blank lines dropped."""
    commands, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        line = re.sub(r"\s+#\s.*$", "", line)  # a trailing comment (docs never put ' # ' inside quotes)
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        commands.append(current + line)
        current = ""
    return commands


def not_run_reason(text: str) -> str | None:
    for pattern, reason in NOT_RUN:
        if re.search(pattern, text, flags=re.M):
            return reason
    return None


# ---- the clone and its tiny run -----------------------------------------------------------------


def fresh_clone(repo: Path, dest: Path) -> Path:
    """``git clone`` of ``repo`` plus its uncommitted changes and new files (what a commit would hold)."""
    subprocess.run(["git", "clone", "--quiet", str(repo), str(dest)], check=True)
    diff = subprocess.run(["git", "-C", str(repo), "diff", "HEAD", "--binary"], check=True, capture_output=True).stdout
    if diff:
        subprocess.run(["git", "-C", str(dest), "apply", "--whitespace=nowarn"], input=diff, check=True)
    untracked = subprocess.run(["git", "-C", str(repo), "ls-files", "--others", "--exclude-standard", "-z"],
                               check=True, capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, untracked):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, dest / name)
    return dest


def clone_env(clone: Path) -> dict[str, str]:
    """This environment without the venv on PATH; the clone's own sources first on PYTHONPATH."""
    venv = Path(sys.prefix).resolve()
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and not Path(p).resolve().is_relative_to(venv)]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PATH=os.pathsep.join(path) or os.defpath, PYTHONPATH=str(clone / "src"), HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    return env


def run_in(clone: Path, command: str | list[str], *, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    args = command if isinstance(command, list) else ["bash", "-c", command]
    return subprocess.run(args, cwd=clone, env=clone_env(clone), capture_output=True, text=True, timeout=timeout)


def _checked(proc: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    if proc.returncode != 0:
        raise AssertionError(f"{what} failed ({proc.returncode})\n--- stdout\n{proc.stdout[-4000:]}\n"
                             f"--- stderr\n{proc.stderr[-6000:]}")
    return proc


def tiny_config(results: str = "results") -> dict:
    """The .test config cut to one run and one benchmark, with TensorBoard on (seconds per job)."""
    cfg = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    cfg["results"] = results
    cfg["curricula"] = {"developmental": {"order": ["g0", "g1", "g2"]}}
    cfg["runs"] = [{"models": ["videomae"], "curricula": ["developmental"], "seeds": [0]}]
    cfg["pretrain"].update(steps_per_stage=2, log_every=1, tensorboard=True)
    # the Snakefile always loads config.yaml first: its per-learner settings must be overridden too
    cfg["models"]["videomae"]["pretrain"] = {"steps_per_stage": 2, "batch_size": 4}
    cfg["benchmarks"] = {"digits": {"source": "sklearn_digits", "test_fraction": 0.5, "seed": 0, "per_class": 4}}
    cfg["evaluation"].update(embed_shards=1, reference_curriculum="developmental")
    cfg["features"]["shards"] = 1
    cfg["data"]["chunk_shards"] = 1
    cfg["voe"]["shards"] = 1
    return cfg


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A fresh clone with a finished tiny run in results/ (and results_own/ pointing at it)."""
    dest = fresh_clone(REPO, tmp_path_factory.mktemp("fresh") / "devcurriculum")
    (dest / ".venv").symlink_to(Path(sys.prefix).resolve(), target_is_directory=True)
    (dest / "tiny.yaml").write_text(yaml.safe_dump(tiny_config(), sort_keys=False))
    _checked(run_in(dest, ".venv/bin/snakemake --cores 2 --configfile tiny.yaml", timeout=1500), "the tiny run")
    # docs/own_data.md, step 2: the overlay names the lab's manifest (here: the demo's, which has that format)
    overlay = dest / "configs" / "own_data.yaml"
    overlay.write_text(overlay.read_text().replace(OWN_MANIFEST, str(dest / "results/demo/manifest.csv")))
    (dest / "results_own").symlink_to("results", target_is_directory=True)  # the walkthrough reads results_own/
    return dest


# ---- the documented blocks ----------------------------------------------------------------------

SNIPPETS = documented_snippets()


def test_the_docs_hold_commands_of_every_kind() -> None:
    kinds = {s.lang for s in SNIPPETS}
    assert {"bash", "python", "sql"} <= kinds, kinds  # the extractor finds what a reader would copy
    assert len([s for s in SNIPPETS if s.doc == "README.md" and s.lang == "bash"]) >= 3
    assert not [s.id for s in SNIPPETS if s.lang == "bash" and not shell_commands(s.text)]


def _dry_run(command: str) -> str:
    """The command with ``-n`` right after the program (``--configfile`` swallows later words)."""
    words = shlex.split(command)
    return command if "-n" in words else shlex.join([words[0], "-n", *words[1:]])


@pytest.mark.parametrize("snippet", [s for s in SNIPPETS if s.lang == "bash"], ids=lambda s: s.id)
def test_documented_shell_commands_work(clone: Path, snippet: Snippet) -> None:
    ran = 0
    for command in shell_commands(snippet.text):
        if not_run_reason(command):
            continue
        words = shlex.split(command)
        assert words[0].startswith(".venv/bin/") or words[0] in SHELL_TOOLS, (
            f"{snippet.id}: `{words[0]}` needs an activated environment; write .venv/bin/{words[0]}")
        runnable = _dry_run(command) if words[0].endswith("/snakemake") else command
        proc = _checked(run_in(clone, runnable), f"{snippet.id}: {runnable}")
        if words[0].endswith("/snakemake"):
            assert "This was a dry-run" in proc.stdout + proc.stderr, runnable
        ran += 1
    assert ran or all(not_run_reason(c) for c in shell_commands(snippet.text))


@pytest.mark.parametrize("snippet", [s for s in SNIPPETS if s.lang == "python"], ids=lambda s: s.id)
def test_documented_python_runs(clone: Path, snippet: Snippet, tmp_path: Path) -> None:
    if (reason := not_run_reason(snippet.text)) is not None:
        pytest.skip(reason)
    script = tmp_path / "snippet.py"
    script.write_text(snippet.text + "\n")
    _checked(run_in(clone, [str(clone / ".venv/bin/python"), str(script)]), snippet.id)


def _statements(sql: str) -> list[str]:
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


@pytest.mark.parametrize("snippet", [s for s in SNIPPETS if s.lang == "sql"], ids=lambda s: s.id)
def test_documented_queries_return_rows(clone: Path, snippet: Snippet, monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb

    monkeypatch.chdir(clone)  # the queries name results/... relative to the repository folder
    con = duckdb.connect()
    for statement in _statements(snippet.text):
        result = con.sql(statement)
        assert result.fetchall(), f"{snippet.id}: no rows from\n{statement}"
        if re.search(r"\bavg\(value\)", statement):  # an average over learners would mix experiments
            assert "model" in result.columns, f"{snippet.id}: averages across models\n{statement}"


@pytest.mark.parametrize("snippet", [s for s in SNIPPETS if s.lang == "yaml"], ids=lambda s: s.id)
def test_documented_config_fragments_are_valid(snippet: Snippet) -> None:
    from snakemake.utils import update_config

    from devcurriculum.config import ConfigError, WorkflowConfig
    from devcurriculum.workflow import drop_null_entries

    if (reason := not_run_reason(snippet.text)) is not None:
        pytest.skip(reason)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    # a fragment whose first line says "# over configs/presets/<name>.yaml" is an overlay of that preset
    over = re.match(r"# over (configs/presets/\w+\.yaml)", snippet.text)
    if over:
        update_config(config, yaml.safe_load((REPO / over.group(1)).read_text()))
    update_config(config, yaml.safe_load(snippet.text))
    drop_null_entries(config)  # as the Snakefile does: `name: null` removes an entry (the presets' demo learners)
    try:
        WorkflowConfig.from_mapping(config)
    except ConfigError as exc:
        pytest.fail(f"{snippet.id}: {exc}")


def test_the_own_data_overlay_is_a_complete_starting_point() -> None:
    from snakemake.utils import update_config

    from devcurriculum.config import WorkflowConfig

    overlay = yaml.safe_load((REPO / "configs" / "own_data.yaml").read_text())
    assert overlay["data"]["source"] == "manifest" and overlay["data"]["manifest"] == OWN_MANIFEST
    assert set(overlay["data"]["age_groups"]) == {"g0", "g1", "g2"}  # config.yaml's curricula order these
    assert overlay["results"] != "results"  # own outputs and logs never mix with the demo's
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, overlay)  # what `--configfile config.yaml configs/own_data.yaml` gives the Snakefile
    from devcurriculum.workflow import drop_null_entries

    drop_null_entries(config)  # what load_workflow_config does first
    cfg = WorkflowConfig.from_mapping(config)
    assert set(cfg.benchmarks) == {"digits"}, "the demo's own benchmarks are dropped"
    for model in {m for entry in cfg.runs for m in entry.models}:  # the overlay's length reaches every learner
        pretrain = cfg.pretrain_for(model)
        assert (pretrain.steps_per_stage, pretrain.batch_size, pretrain.tensorboard) == (2000, 64, True), model


# ---- what the tiny run left in its logs ---------------------------------------------------------


def test_logs_hold_no_progress_bars_off_a_terminal(clone: Path) -> None:
    logs = sorted((clone / "results" / "logs").rglob("*.log"))
    assert len(logs) >= 8
    pretrain = (clone / "results/logs/pretrain/videomae/developmental/seed0.log").read_text()
    assert re.search(r"step 6/6 loss \d", pretrain)  # the loss lines are what shows progress there
    for log in logs:
        text = log.read_text()
        assert "\r" not in text and "%|" not in text and "Writing model shards" not in text, log


def _planned_logs(clone: Path, config: Path) -> set[str]:
    proc = _checked(run_in(clone, [".venv/bin/snakemake", "-n", "--forceall", "--configfile", str(config)]),
                    f"dry run of {config.name}")
    return {m.group(1) for m in re.finditer(r"^\s+log: (.+)$", proc.stdout + proc.stderr, flags=re.M)}


def test_two_results_folders_never_share_logs(clone: Path) -> None:
    other = clone / "other.yaml"
    other.write_text(yaml.safe_dump(tiny_config(results="elsewhere"), sort_keys=False))
    planned_here, planned_there = _planned_logs(clone, clone / "tiny.yaml"), _planned_logs(clone, other)
    assert planned_here and all(p.startswith("results/logs/") for p in planned_here)
    assert planned_there and all(p.startswith("elsewhere/logs/") for p in planned_there)
    assert {p.removeprefix("results/") for p in planned_here} == {p.removeprefix("elsewhere/") for p in planned_there}
    written = {str(p.relative_to(clone)) for p in (clone / "results" / "logs").rglob("*.log")}
    # besides the jobs' logs, the run's own: the warm-job server's (utils.warm_jobs), in this results folder
    assert "results/logs/warm_jobs.log" in written
    assert written - {"results/logs/warm_jobs.log"} <= planned_here and not (clone / "logs").exists()
