"""Optional experiment tracking: Weights & Biases or MLflow, beside ``metrics.parquet`` and TensorBoard.

``tracking.backend: wandb | mlflow`` (default ``none``; every ``tracking`` key is runtime-only) gives
each training run one tracked run, named ``<model>/<curriculum>/seed<seed>`` (its folder below
``runs/``), with the run spec as its config. The ``pretrain`` job (rank 0) logs every step's scalars
(loss, learning rate, stage, effective fraction, blur, throughput) while it trains; the ``summarize``
job adds the readouts (linear, kNN, VoE) of every stage, stepped by the optimiser step they were
taken at, and the last stage's values as the run's summary.

Nothing is installed for this: the backend's package is imported only when it is enabled, and a
missing one is an error naming the pip package. ``mode: offline`` (the default) needs no network:
W&B writes ``<dir>/wandb/offline-run-*`` (``wandb sync`` uploads them later), MLflow a file store
``<dir>/mlruns`` (``mlflow ui --backend-store-uri <dir>/mlruns``). The summarize job finds the tracked
run again by a stable id (W&B: a hash of the folder and the run's name, resumed) or by its tag
(MLflow: ``devcurriculum.run``).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from devcurriculum.config import TrackingConfig
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.train.tracking")

#: the pip package of each backend's module (the module name is the key)
PACKAGES = {"wandb": "wandb", "mlflow": "mlflow-skinny (or mlflow)"}
#: metrics columns sent to the tracker every step (``lr_groups`` as ``lr_group/<j>``)
STEP_SCALARS = ("loss", "lr", "stage", "effective_fraction", "temperature", "blur_sigma", "blur_prob", "samples_per_s")
RUN_TAG = "devcurriculum.run"


class Tracker(Protocol):
    """What the training loop and the summary call; :func:`open_tracker` builds one."""

    def log(self, metrics: Mapping[str, float], step: int) -> None: ...
    def summary(self, values: Mapping[str, float]) -> None: ...
    def finish(self) -> None: ...


def import_backend(name: str) -> Any:
    """The backend's module, or an error that says which pip package to install."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise RuntimeError(
            f"tracking.backend is {name!r} but the {name} package is not installed ({exc}): "
            f"pip install {PACKAGES[name]}  (or pip install 'devcurriculum[tracking]'; tracking.backend: none turns it off)"
        ) from None


def tracking_dir(cfg: TrackingConfig, results: PathLike) -> Path:
    """``tracking.dir``, else ``<results>/tracking``."""
    return Path(cfg.dir) if cfg.dir else Path(results) / "tracking"


def stable_id(folder: PathLike, run_name: str) -> str:
    """A W&B run id from the tracking folder and the run's name: the same run is found again, another folder's is not."""
    return hashlib.sha1(f"{Path(folder).resolve()}|{run_name}".encode()).hexdigest()[:16]


def finite(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of ``metrics`` as floats (NaN temperature = uniform sampling: nothing to draw)."""
    out = {}
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[key] = number
    return out


def step_metrics(row: Mapping[str, Any]) -> dict[str, float]:
    """One ``metrics.parquet`` row as tracker scalars."""
    out = finite({name: row[name] for name in STEP_SCALARS if name in row})
    out.update(finite({f"lr_group/{j}": lr for j, lr in enumerate(row.get("lr_groups", ()))}))
    return out


class WandbTracker:
    def __init__(self, cfg: TrackingConfig, folder: Path, run_name: str, config: Mapping[str, Any]) -> None:
        wandb = import_backend("wandb")
        folder.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=cfg.project, name=run_name, id=stable_id(folder, run_name), resume="allow", dir=str(folder),
            mode=cfg.mode, config=dict(config), reinit="create_new",
        )

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self.run.log(dict(metrics), step=int(step))

    def summary(self, values: Mapping[str, float]) -> None:
        self.run.summary.update(dict(values))

    def finish(self) -> None:
        self.run.finish()


class MlflowTracker:
    def __init__(self, cfg: TrackingConfig, folder: Path, run_name: str, config: Mapping[str, Any]) -> None:
        mlflow = import_backend("mlflow")
        self.mlflow = mlflow
        if cfg.mode == "offline":
            folder.mkdir(parents=True, exist_ok=True)
            # MLflow 3 keeps its file store in maintenance mode and refuses it unless asked; it is the one
            # store mlflow-skinny has without a database (online: a server in MLFLOW_TRACKING_URI)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            mlflow.set_tracking_uri((folder / "mlruns").resolve().as_uri())
        experiment = mlflow.set_experiment(cfg.project)
        found = mlflow.search_runs(
            experiment_ids=[experiment.experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{run_name}'",
            output_format="list",
        )
        if found:  # the same training run: the summary adds its readouts to it
            self.run = mlflow.start_run(run_id=found[0].info.run_id)
        else:
            self.run = mlflow.start_run(run_name=run_name, tags={RUN_TAG: run_name})
            mlflow.log_dict(dict(config), "run_spec.json")
            mlflow.log_params(flat_params(config))

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self.mlflow.log_metrics({safe_key(k): v for k, v in metrics.items()}, step=int(step))

    def summary(self, values: Mapping[str, float]) -> None:
        self.mlflow.log_metrics({safe_key(f"final/{k}"): v for k, v in values.items()})

    def finish(self) -> None:
        self.mlflow.end_run()


def safe_key(key: str) -> str:
    """MLflow metric names allow letters, digits, ``_ - . / :`` and spaces only."""
    return "".join(c if c.isalnum() or c in "_-./: " else "_" for c in key)


def flat_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested run spec as MLflow params (``model.hidden_size``), values cut to MLflow's 6000 characters."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_params(value, f"{name}."))
        else:
            out[name] = str(value)[:6000]
    return out


BACKENDS: dict[str, type[WandbTracker] | type[MlflowTracker]] = {"wandb": WandbTracker, "mlflow": MlflowTracker}


def open_tracker(cfg: TrackingConfig, *, results: PathLike, run_name: str, config: Mapping[str, Any]) -> Tracker | None:
    """The tracked run of ``run_name`` (created or found again), or None when tracking is off."""
    if not cfg.enabled:
        return None
    folder = tracking_dir(cfg, results)
    tracker: Tracker = BACKENDS[cfg.backend](cfg, folder, run_name, config)
    log.info("tracking %s with %s (%s) in %s", run_name, cfg.backend, cfg.mode, folder)
    return tracker


def log_readouts(cfg: TrackingConfig, *, results: PathLike, summary: Any) -> int:
    """Every run's readouts of ``summary`` (the summary.parquet frame) into its tracked run; returns the runs logged.

    Each stage's values are logged at the step they were taken (``readout/<benchmark>/<readout>/<metric>``),
    the last stage's as the run's summary. Outside models' rows (no stages) are skipped, and everything
    when tracking is off; a run not tracked while it trained gets a tracked run holding its readouts.
    """
    if not cfg.enabled:
        return 0
    from devcurriculum.config import BASELINE

    runs = summary[(summary["curriculum"] != BASELINE) & summary["after_stage"].notna()]
    n = 0
    for run_name, rows in runs.groupby("run", sort=True):
        tracker = open_tracker(cfg, results=results, run_name=str(run_name), config={})
        if tracker is None:
            continue
        for step, stage in rows.groupby("step", sort=True):
            tracker.log(finite({f"readout/{r.benchmark}/{r.readout}/{r.metric}": r.value for r in stage.itertuples()}),
                        int(step))
        last = rows[rows["after_stage"] == rows["after_stage"].max()]
        tracker.summary(finite({f"{r.benchmark}/{r.readout}/{r.metric}": r.value for r in last.itertuples()}))
        tracker.finish()
        n += 1
    return n
