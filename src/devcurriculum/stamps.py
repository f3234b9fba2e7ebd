"""Job stamps: the spec a job's outputs were made under, recorded where the results live.

Snakemake reruns a job whose params, input files or code changed by comparing them with metadata it
keeps in ``.snakemake/`` of the working directory that ran the job. Results copied into another clone,
or a results folder that a second workflow (another working directory) points at, have no such
metadata there, so Snakemake would take them as made under the config at hand. Each job therefore
records a *stamp* next to its first output (``<output>.spec.json``, written by the job itself before
its outputs): its rule, wildcards, params (the non-derived ones, which Snakemake compares too), input
files, the whole run-shaping config, and the *owner*, a token of the working directory that ran it
(``.snakemake/devcurriculum/owner``, so it moves with a moved project). A ``script:`` job gets its stamp
as ``params.job_stamp``; a shell job (``pretrain``) as a staged file (``params.job_stamp_file``).

When the DAG is built (:mod:`devcurriculum.workflow`), a planned job whose first output exists and
whose stamp has another owner is compared with what the config at hand would give it
(:func:`same_spec`); a difference refuses the workflow in one line naming the differing config keys
with both values (:func:`refusal`). Stamps of this working directory are left to Snakemake's own
metadata, which then reruns a changed job as it always did. Paths under ``results`` (as configured,
absolute or resolved) are recorded as ``{results}/...``, and a stamp records where its results folder
was, so a results folder moved, or named by another path, keeps its stamps valid.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from devcurriculum.utils.atomic import atomic_path
from devcurriculum.utils.config import canonical_json
from devcurriculum.utils.paths import PathLike

#: a stamp's name: its job's first output plus this suffix
STAMP_SUFFIX = ".spec.json"
#: the params entry that hands a job its stamp (a derived param: Snakemake does not hash it)
STAMP_PARAM = "job_stamp"
#: version of the stamp's layout; another version never counts as the same spec
FORMAT = 1
#: the params entry that names a shell job's stamp staged as a file (its command stays short)
STAMP_FILE_PARAM = "job_stamp_file"
#: this package's files in Snakemake's own folder of the working directory (they move with the project)
STATE_DIR = Path(".snakemake") / "devcurriculum"
#: the working directory's owner token
OWNER_FILE = STATE_DIR / "owner"
#: stamps of shell jobs, staged by content for the job to copy next to its first output
STAGED_DIR = STATE_DIR / "stamps"
#: how a path under the results folder is recorded
RESULTS_MARK = "{results}"


def stamp_path(output: PathLike) -> Path:
    """``<output>.spec.json``: where the stamp of the job that makes ``output`` (its first output) lives."""
    return Path(f"{os.fspath(output)}{STAMP_SUFFIX}")


def owner_token(workdir: PathLike = ".") -> str:
    """The token of the working directory (created on first use): it marks the stamps its jobs write.

    Two workflows started at once in one directory agree on it (the file is created exclusively).
    """
    path = Path(workdir) / OWNER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        token = path.read_text().strip()
        if token:
            return token
        # a creator killed between creating and writing it: take over
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    token = uuid.uuid4().hex
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def results_prefixes(results: str, *more: str) -> tuple[str, ...]:
    """The ways a path under the results folder can be written: as configured, absolute, resolved
    (and ``more``, e.g. where the folder was when a stamp was written), longest first."""
    forms = {p.rstrip("/") or "/" for p in (results, os.path.abspath(results), os.path.realpath(results), *more) if p}
    return tuple(sorted(forms, key=lambda p: (-len(p), p)))


def portable(value: Any, results: str | Sequence[str]) -> Any:
    """``value`` with every path under ``results`` (one or several :func:`results_prefixes`) written as
    ``{results}/...``; dicts and lists are walked."""
    prefixes = (results,) if isinstance(results, str) else tuple(results)
    if isinstance(value, str):
        for prefix in prefixes:
            prefix = prefix.rstrip("/")
            if value == prefix:
                return RESULTS_MARK
            if value.startswith(prefix + "/"):
                return RESULTS_MARK + value[len(prefix):]
        return value
    if isinstance(value, Mapping):
        return {str(k): portable(v, prefixes) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(v, prefixes) for v in value]
    return value


def _canonical(value: Any) -> Any:
    """``value`` as JSON gives it back (tuples as lists, keys as text): what a stamp file holds."""
    return json.loads(canonical_json(value))


def job_record(
    rule: str, wildcards: Mapping[str, str], params: Mapping[str, Any], inputs: Iterable[str],
    results: str | Sequence[str],
) -> dict[str, Any]:
    """What a job's outputs depend on, in the form a stamp records it (paths under ``results`` portable,
    canonical JSON). ``results``: the folder, or all :func:`results_prefixes` to recognise."""
    return {
        "rule": rule,
        "wildcards": dict(wildcards),
        "params": _canonical(portable(dict(params), results)),
        "inputs": sorted({portable(os.fspath(f), results) for f in inputs}),
    }


def make_stamp(record: Mapping[str, Any], *, config: Mapping[str, Any], owner: str, results_at: str) -> str:
    """The stamp of a job (JSON text): its :func:`job_record`, the whole shaping config, the owner, and
    where the results folder was (``results_at``, absolute: its paths in data tables are recognised)."""
    return json.dumps(
        {"format": FORMAT, "owner": owner, "results_at": results_at, **record, "config": _canonical(config)},
        sort_keys=True,
    )


def write_stamp(output: PathLike, stamp: str) -> Path:
    """Write ``stamp`` next to ``output`` (atomically) and return its path."""
    path = stamp_path(output)
    with atomic_path(path) as tmp:
        tmp.write_text(stamp + "\n")
    return path


def stage_stamp(stamp: str, workdir: PathLike = ".") -> Path:
    """``stamp`` as a file named by its content (written once) for a shell job to copy (:func:`write_stamp_file`).

    A shell command would otherwise carry the whole stamp; a trainer must not write it before it holds
    its run folder's lock, so the workflow cannot write it for the job.
    """
    path = Path(workdir) / STAGED_DIR / f"{hashlib.sha256(stamp.encode()).hexdigest()[:24]}.json"
    if not path.exists():
        with atomic_path(path) as tmp:
            tmp.write_text(stamp)
    return path


def write_stamp_file(output: PathLike, staged: PathLike) -> Path:
    """Write the stamp staged at ``staged`` (:func:`stage_stamp`) next to ``output``."""
    return write_stamp(output, Path(staged).read_text().strip())


def write_job_stamp(job: Any) -> Path | None:
    """In a ``script:`` job: record the stamp the workflow gave it (``params.job_stamp``) before any output.

    ``job`` is the script's ``snakemake`` object. Written first, so outputs never appear under an older
    stamp (Snakemake has removed a job's old outputs before it starts). None when the job has no stamp
    (a script run by hand).
    """
    stamp = job.params.get(STAMP_PARAM)
    if not stamp:
        return None
    return write_stamp(job.output[0], stamp)


@functools.lru_cache(maxsize=4096)
def _read_stamp(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        return {"unreadable": f"{type(exc).__name__}: {exc}"}
    return data if isinstance(data, dict) else {"unreadable": "not a JSON object"}


def read_stamp(output: PathLike) -> dict[str, Any] | None:
    """The stamp of ``output``'s job, or None when it has none (made before stamps, or by hand).

    Read once per file version (cached on its mtime and size). An unreadable stamp gives
    ``{"unreadable": reason}``, which is never the same spec.
    """
    path = stamp_path(output)
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return _read_stamp(str(path), st.st_mtime_ns, st.st_size)


def same_spec(stamp: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """Whether a stamp records the same params and input files as ``record`` (its job under this config)."""
    return (
        stamp.get("format") == FORMAT
        and canonical_json(stamp.get("params")) == canonical_json(record["params"])
        and stamp.get("inputs") == record["inputs"]
    )


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys; JSON text holding an object (the run spec) is opened too."""
    if isinstance(value, str) and value.startswith("{"):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


_ABSENT = object()


def key_differences(there: Mapping[str, Any], here: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every dotted key whose value differs: ``'models.m.mask_ratio: 0.5 there, 0.9 here'``."""
    a, b = _flatten(there, prefix), _flatten(here, prefix)

    def show(value: Any) -> str:
        return "<absent>" if value is _ABSENT else canonical_json(value)

    return [
        f"{key}: {show(a.get(key, _ABSENT))} there, {show(b.get(key, _ABSENT))} here"
        for key in sorted(a.keys() | b.keys())
        if canonical_json(a.get(key, None)) != canonical_json(b.get(key, None)) or (key in a) != (key in b)
    ]


def _input_differences(there: Sequence[str], here: Sequence[str]) -> str:
    only_there, only_here = sorted(set(there) - set(here)), sorted(set(here) - set(there))

    def some(paths: list[str]) -> str:
        return f"{len(paths)}" + (f" ({', '.join(paths[:2])}{', ...' if len(paths) > 2 else ''})" if paths else "")

    return f"input files: {some(only_there)} only there, {some(only_here)} only here"


def describe_difference(stamp: Mapping[str, Any], record: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """What differs between the config a stamp was made under and this one, config keys first.

    The whole configs' differing keys when there are any; else the job's params (a workflow version
    that passes other params); else its input files; else the stamp's format.
    """
    if "unreadable" in stamp:
        return f"its stamp is unreadable ({stamp['unreadable']})"
    if stamp.get("format") != FORMAT:
        return f"its stamp has format {stamp.get('format')!r}, this workflow writes {FORMAT}"
    keys = key_differences(stamp.get("config", {}), _canonical(config))
    if not keys:
        keys = key_differences(stamp.get("params", {}), record["params"], prefix="params")
    if not keys:
        keys = [_input_differences(stamp.get("inputs", []), record["inputs"])]
    return "; ".join(keys)


def refusal(
    output: PathLike, stamp: Mapping[str, Any], record: Mapping[str, Any], config: Mapping[str, Any],
    *, rerun: Sequence[str],
) -> str:
    """The one-line refusal of a plan that would take ``output`` (made under another spec) as its own."""
    return (
        f"results error: {os.fspath(output)} (rule {record['rule']}) was made under another config, by another "
        f"working directory: {describe_difference(stamp, record, config)}. This workflow would take it as its "
        f"own. Give this config its own `results:` folder, or rerun what differs here: "
        f"--forcerun {' '.join(rerun or [record['rule']])}"
    )


def find_stamps(results: PathLike) -> Iterable[Path]:
    """Every stamp under ``results`` (for naming all rules to rerun once one job is refused)."""
    for folder, _, files in os.walk(results):
        for name in files:
            if name.endswith(STAMP_SUFFIX) and not name.startswith("."):
                yield Path(folder) / name


def stamped_output(stamp: PathLike) -> Path:
    """The output a stamp file belongs to."""
    return Path(os.fspath(stamp)[: -len(STAMP_SUFFIX)])
