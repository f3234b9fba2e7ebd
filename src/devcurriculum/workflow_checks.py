"""Checks the workflow makes before any job runs, each refusing in one line that says why and what to do.

- :func:`check_interpreter_path` (when the Snakefile is read): Snakemake writes the interpreter into
  the shell command of every ``script:`` rule unquoted (a space splits it, ``$(...)`` would run), so
  its path must be usable unquoted. The checkout and the working directory may hold any character:
  Snakemake quotes the script paths, and the ``pretrain`` command quotes every path
  (tests/workflow/test_shell_safety.py runs script rules from such folders).
- :class:`StampGuard` (when the DAG is built): no planned job takes outputs made under another spec by
  another working directory as its own (:mod:`devcurriculum.stamps`); it also hands every job its stamp.
- :func:`refuse_if_training` (when a ``pretrain`` job is planned): a run folder another trainer is
  training right now is refused before Snakemake would delete its live outputs and log.

A refusal prints its one line to stderr and exits (:func:`refuse`): while the DAG is built Snakemake
then stops with nothing else to say; a refusal after a checkpoint (the chunk jobs are planned once
``index_videos`` has run) stops the run as a Ctrl-C would, its running jobs included.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from devcurriculum import stamps
from devcurriculum.config import WorkflowConfig
from devcurriculum.config.block import RUNTIME
from devcurriculum.utils.locks import lock_holder, locked_message

#: a params function taking one of these is "derived": Snakemake leaves it out of its params record
DERIVING_ARGS = frozenset({"input", "output", "threads", "resources"})
#: characters a path may hold to be written unquoted into a shell command (shlex's safe set; letters
#: of any script count, so /Users/Jérôme/ passes)
SHELL_SAFE_PATH = re.compile(r"[\w@%+=:,./-]+")


def unsafe_path_message(what: str, path: str) -> str | None:
    """Why ``path`` (the ``what``) cannot go into a shell command unquoted, or None when it can."""
    if SHELL_SAFE_PATH.fullmatch(path):
        return None
    bad = sorted({ch for ch in path if not SHELL_SAFE_PATH.fullmatch(ch)})
    shown = " ".join("a space" if ch == " " else repr(ch) for ch in bad)
    return (
        f"path error: the {what} {path!r} contains {shown}: Snakemake writes it unquoted into the shell "
        "command of every script rule, where a space splits it and $(...) or a backquote would run. Run the "
        "workflow with an interpreter whose path has only letters, digits and _ . / + - @ % = : , (make the "
        "environment there, or a symlink to it and run its python through the symlink)"
    )


def refuse(message: str) -> NoReturn:
    """Print ``message`` (one line) to stderr and exit with status 1.

    Printed here, not left to ``sys.exit(message)``: Snakemake drops that text when the exit happens
    while it is running jobs (it reports a user interrupt).
    """
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(1)


def check_interpreter_path(interpreter: str) -> None:
    """Exit with one line if the interpreter (``sys.executable``) cannot go unquoted into a shell command."""
    message = unsafe_path_message("Python interpreter", interpreter)
    if message:
        refuse(message)


def shaping_config(cfg: WorkflowConfig) -> dict[str, Any]:
    """The whole config without runtime-only keys and without ``results`` (where, not what): a stamp's ``config``."""
    whole = cfg.to_dict(drop=frozenset({RUNTIME}))
    whole.pop("results", None)
    return whole


def refuse_if_training(run_dir: str) -> None:
    """Exit with one line if another trainer holds ``run_dir``'s lock (it is training that run now).

    Checked when a ``pretrain`` job is planned: were the job started, Snakemake would first delete its
    declared outputs (the live ``metrics.parquet``) and log, and the trainer would be refused only then.
    """
    holder = lock_holder(run_dir)
    if holder is not None:
        refuse(locked_message(run_dir, holder) + ". Nothing was started")


class StampGuard:
    """Plan-time check and job-time stamp of every rule with outputs (:meth:`attach`).

    The check is an input function that contributes no files: for a planned job whose first output
    exists and whose stamp another working directory wrote, it compares the stamp with the job's
    params and input files under this config, and refuses on a difference. ``--forcerun <rule>`` (or
    ``-F``) lifts the check for those rules: their jobs are rerun here.
    """

    def __init__(self, workflow: Any, *, results: str, config: Mapping[str, Any], owner: str) -> None:
        self.workflow = workflow
        self.results = results
        self.config = config
        self.owner = owner
        self._busy: set[tuple[str, tuple[tuple[str, str], ...]]] = set()

    def attach(self) -> None:
        """Give every rule with outputs the check (an input function) and its jobs' stamp: the
        ``job_stamp`` param of a script rule, the ``job_stamp_file`` param of a shell rule."""
        for rule in list(self.workflow.rules):
            if not rule.output or rule.params.get(stamps.STAMP_PARAM) or rule.params.get(stamps.STAMP_FILE_PARAM):
                continue
            rule.set_input(self.check_function(rule))
            if rule.shellcmd is None:
                rule.set_params(**{stamps.STAMP_PARAM: self.stamp_function(rule)})
            else:
                rule.set_params(**{stamps.STAMP_FILE_PARAM: self.stamp_file_function(rule)})

    # ---- what a job depends on under this config ------------------------------------------------

    def params(self, rule: Any, wildcards: Mapping[str, str]) -> dict[str, Any]:
        """The rule's params for ``wildcards`` that Snakemake records too: functions of the wildcards
        only and values (a params function of input, output, threads or resources is derived)."""
        from snakemake.io import apply_wildcards
        from snakemake.iocontainers import Wildcards

        named = Wildcards(fromdict=dict(wildcards))
        out: dict[str, Any] = {}
        for name, item in rule.params.items():
            if name in (stamps.STAMP_PARAM, stamps.STAMP_FILE_PARAM):
                continue
            if callable(item):
                if DERIVING_ARGS & set(inspect.signature(item).parameters):
                    continue
                out[name] = item(named)
            elif isinstance(item, str):
                out[name] = apply_wildcards(item, wildcards)
            else:
                out[name] = item
        return out

    def record(self, rule: Any, wildcards: Mapping[str, str], *, results_at: str = "") -> dict[str, Any] | None:
        """:func:`stamps.job_record` of a job under this config; None while its inputs wait on a checkpoint.

        ``results_at``: where a stamp's results folder was; paths under it count as under ``results``
        (the video paths in a copied ``videos.parquet`` still name the folder it was copied from).
        """
        key = (rule.name, tuple(sorted(wildcards.items())))
        self._busy.add(key)
        try:
            inputs, _, _, incomplete = rule.expand_input(dict(wildcards))
        finally:
            self._busy.discard(key)
        if incomplete:
            return None
        prefixes = stamps.results_prefixes(self.results, *([results_at] if results_at else []))
        return stamps.job_record(rule.name, wildcards, self.params(rule, wildcards), map(str, inputs), prefixes)

    # ---- the two functions attached to each rule ------------------------------------------------

    def check_function(self, rule: Any) -> Callable[[Any], list[str]]:
        def check_results_spec(wildcards: Any) -> list[str]:
            values = dict(wildcards.items())
            if (rule.name, tuple(sorted(values.items()))) in self._busy or self._forced(rule.name):
                return []
            output = str(rule.expand_output(values)[0][0])
            stamp = stamps.read_stamp(output) if os.path.exists(output) else None
            if stamp is None or stamp.get("owner") == self.owner:
                return []  # made before stamps, or here: Snakemake's own metadata decides
            record = self.record(rule, values, results_at=str(stamp.get("results_at", "")))
            if record is not None and not stamps.same_spec(stamp, record):
                refuse(stamps.refusal(output, stamp, record, self.config, rerun=self.rules_to_rerun()))
            return []

        return check_results_spec

    def stamp(self, rule: Any, wildcards: Any, input: Any) -> str:
        """The stamp of one job (its :func:`stamps.job_record` under this config, the config, the owner)."""
        values = dict(wildcards.items())
        prefixes = stamps.results_prefixes(self.results)
        record = stamps.job_record(rule.name, values, self.params(rule, values), map(str, input), prefixes)
        return stamps.make_stamp(record, config=self.config, owner=self.owner, results_at=os.path.abspath(self.results))

    # functions of input and output: derived params, which Snakemake leaves out of its params record

    def stamp_function(self, rule: Any) -> Callable[..., str]:
        def job_stamp(wildcards: Any, input: Any, output: Any) -> str:
            return self.stamp(rule, wildcards, input)

        return job_stamp

    def stamp_file_function(self, rule: Any) -> Callable[..., str]:
        def job_stamp_file(wildcards: Any, input: Any, output: Any) -> str:
            return str(stamps.stage_stamp(self.stamp(rule, wildcards, input)))

        return job_stamp_file

    # ---- helpers --------------------------------------------------------------------------------

    def _forced(self, rule: str) -> bool:
        settings = getattr(self.workflow, "dag_settings", None)
        return bool(settings is not None and (settings.forceall or rule in (settings.forcerun or ())))

    def rules_to_rerun(self) -> list[str]:
        """Every rule with an output here made under another spec by another working directory (for the
        refusal's ``--forcerun``): found by reading every stamp under ``results`` (only when refusing)."""
        rules: set[str] = set()
        for path in stamps.find_stamps(self.results):
            stamp = stamps.read_stamp(stamps.stamped_output(path))
            if not stamp or stamp.get("owner") == self.owner or not stamps.stamped_output(path).exists():
                continue
            try:
                rule = self.workflow.get_rule(stamp["rule"])
                record = self.record(rule, stamp["wildcards"], results_at=str(stamp.get("results_at", "")))
            except Exception:  # a job this config does not have: nothing to rerun for it
                continue
            if record is not None and not stamps.same_spec(stamp, record):
                rules.add(rule.name)
        return sorted(rules)
