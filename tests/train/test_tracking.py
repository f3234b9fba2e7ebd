"""Experiment tracking (W&B / MLflow): recorded calls through fake modules, and the real packages offline
when they are installed (they are not dependencies: the project venv skips those two tests)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from devcurriculum.config import ConfigError, TrackingConfig
from devcurriculum.train.live import LiveMetrics
from devcurriculum.train.metrics import MetricsLog
from devcurriculum.train.run import open_run_tracker
from devcurriculum.train.tracking import log_readouts, open_tracker, stable_id

SPEC = {"model_name": "videomae", "curriculum_name": "mixed", "seed": 0, "model": {"hidden_size": 96}}
ROW = {"step": 0, "loss": 1.5, "lr": 1e-3, "lr_min": 1e-3, "lr_max": 1e-3, "lr_groups": [1e-3, 5e-4], "stage": 0,
       "pool": "g0", "effective_fraction": 0.6, "temperature": float("nan"), "blur_sigma": 0.0, "blur_prob": 0.0,
       "samples_per_s": 10.0, "wall_s": 0.1, "global_batch": 8}


class Calls(list):
    def __call__(self, _call: str, *args: Any, **kwargs: Any) -> None:
        self.append((_call, args, kwargs))

    def named(self, call: str) -> list[tuple[tuple, dict]]:
        return [(a, k) for n, a, k in self if n == call]


@pytest.fixture
def fake_wandb(monkeypatch) -> Calls:
    calls = Calls()

    class Run:
        summary = types.SimpleNamespace(update=lambda values: calls("summary", values))

        def log(self, metrics, step=None):
            calls("log", metrics, step=step)

        def finish(self):
            calls("finish")

    def init(**kwargs):
        calls("init", **kwargs)
        return Run()

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    return calls


@pytest.fixture
def fake_mlflow(monkeypatch) -> Calls:
    calls = Calls()
    runs: dict[str, str] = {}

    def search_runs(experiment_ids, filter_string, output_format):
        calls("search_runs", filter_string=filter_string)
        name = filter_string.split("'")[1]
        return [types.SimpleNamespace(info=types.SimpleNamespace(run_id=runs[name]))] if name in runs else []

    def start_run(run_name=None, run_id=None, tags=None):
        calls("start_run", run_name=run_name, run_id=run_id, tags=tags)
        if run_name:
            runs[run_name] = f"id-{len(runs)}"

    module = types.SimpleNamespace(
        set_tracking_uri=lambda uri: calls("set_tracking_uri", uri),
        set_experiment=lambda name: (calls("set_experiment", name), types.SimpleNamespace(experiment_id="1"))[1],
        search_runs=search_runs, start_run=start_run,
        log_dict=lambda d, name: calls("log_dict", d, name),
        log_params=lambda p: calls("log_params", p),
        log_metrics=lambda m, step=None: calls("log_metrics", m, step=step),
        end_run=lambda: calls("end_run"),
    )
    monkeypatch.setitem(sys.modules, "mlflow", module)
    return calls


def test_the_training_loop_reports_each_step_to_wandb(fake_wandb: Calls, tmp_path: Path) -> None:
    cfg = TrackingConfig(backend="wandb", dir=str(tmp_path))
    tracker = open_tracker(cfg, results=tmp_path, run_name="videomae/mixed/seed0", config=SPEC)
    [(_, init)] = fake_wandb.named("init")
    assert init["name"] == "videomae/mixed/seed0" and init["config"] == SPEC and init["mode"] == "offline"
    assert init["project"] == "devcurriculum" and init["dir"] == str(tmp_path)
    assert init["id"] == stable_id(tmp_path, "videomae/mixed/seed0") and init["resume"] == "allow"
    live = LiveMetrics(tmp_path / "metrics.parquet", metadata={}, tracker=tracker)
    metrics = MetricsLog()
    for step in range(3):
        row = {**ROW, "step": step, "loss": 1.5 - step}
        metrics.append(row)
        live.record(row)
    live.flush(metrics, force=True)
    live.close()
    logged = fake_wandb.named("log")
    assert [k["step"] for _, k in logged] == [0, 1, 2]
    assert [a[0]["loss"] for a, _ in logged] == [1.5, 0.5, -0.5]
    assert logged[0][0][0]["lr_group/1"] == 5e-4 and "temperature" not in logged[0][0][0]  # NaN: nothing to draw
    assert len(fake_wandb.named("finish")) == 1


def test_the_pretrain_entry_point_names_the_run_model_curriculum_seed(fake_wandb: Calls, tmp_path: Path) -> None:
    assert open_run_tracker(None, SPEC, str(tmp_path)) is None
    open_run_tracker(json.dumps({"backend": "wandb", "dir": str(tmp_path)}), SPEC, str(tmp_path))
    assert fake_wandb.named("init")[0][1]["name"] == "videomae/mixed/seed0"


def test_mlflow_offline_uses_a_file_store_and_the_summary_finds_the_run_again(fake_mlflow: Calls, tmp_path: Path) -> None:
    cfg = TrackingConfig(backend="mlflow", dir=str(tmp_path))
    tracker = open_tracker(cfg, results=tmp_path, run_name="videomae/mixed/seed0", config=SPEC)
    assert fake_mlflow.named("set_tracking_uri")[0][0][0] == (tmp_path / "mlruns").resolve().as_uri()
    assert fake_mlflow.named("log_params")[0][0][0]["model.hidden_size"] == "96"
    tracker.log({"loss": 1.0}, 3)
    tracker.finish()
    summary = pd.DataFrame({
        "run": ["videomae/mixed/seed0"] * 4 + ["baseline/dino"], "curriculum": ["mixed"] * 4 + ["baseline"],
        "after_stage": [0, 0, 1, 1, None], "step": [0, 0, 10, 10, None], "benchmark": "digits",
        "readout": ["linear", "knn"] * 2 + ["linear"], "metric": ["top1_accuracy", "top1_hit_rate"] * 2 + ["top1_accuracy"],
        "value": [0.5, 0.4, 0.8, 0.7, 0.9],
    })
    assert log_readouts(cfg, results=tmp_path, summary=summary) == 1  # the outside model has no tracked run
    starts = fake_mlflow.named("start_run")
    assert starts[0][1]["tags"] == {"devcurriculum.run": "videomae/mixed/seed0"} and starts[1][1]["run_id"] == "id-0"
    logged = fake_mlflow.named("log_metrics")
    assert logged[1] == (({"readout/digits/linear/top1_accuracy": 0.5, "readout/digits/knn/top1_hit_rate": 0.4},),
                         {"step": 0})
    assert logged[-1][0][0] == {"final/digits/linear/top1_accuracy": 0.8, "final/digits/knn/top1_hit_rate": 0.7}


def test_an_enabled_backend_without_its_package_says_what_to_install(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # import fails as if not installed
    with pytest.raises(RuntimeError, match=r"tracking\.backend is 'wandb' but the wandb package is not installed.*"
                                           r"pip install wandb"):
        open_tracker(TrackingConfig(backend="wandb"), results=tmp_path, run_name="a/b/seed0", config={})
    assert open_tracker(TrackingConfig(), results=tmp_path, run_name="a/b/seed0", config={}) is None
    with pytest.raises(ConfigError, match=r"tracking\.backend"):
        TrackingConfig.from_mapping({"backend": "neptune"})


def test_wandb_offline_writes_its_run_files(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("wandb", reason="wandb is optional (pip install wandb); the fake-module tests cover the calls")
    monkeypatch.setenv("WANDB_SILENT", "true")
    tracker = open_tracker(TrackingConfig(backend="wandb", dir=str(tmp_path)), results=tmp_path,
                           run_name="videomae/mixed/seed0", config=SPEC)
    for step in range(3):
        tracker.log({"loss": 1.0 / (step + 1)}, step)
    tracker.summary({"digits/linear/top1_accuracy": 0.8})
    tracker.finish()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("run-*.wandb"))


def test_mlflow_offline_writes_its_file_store(tmp_path: Path) -> None:
    pytest.importorskip("mlflow", reason="mlflow is optional (pip install mlflow-skinny); the fake-module tests cover the calls")
    cfg = TrackingConfig(backend="mlflow", dir=str(tmp_path))
    tracker = open_tracker(cfg, results=tmp_path, run_name="videomae/mixed/seed0", config=SPEC)
    for step in range(3):
        tracker.log({"loss": 1.0 / (step + 1)}, step)
    tracker.finish()
    loss_files = list((tmp_path / "mlruns").glob("*/*/metrics/loss"))
    assert len(loss_files) == 1 and len(loss_files[0].read_text().splitlines()) == 3
    again = open_tracker(cfg, results=tmp_path, run_name="videomae/mixed/seed0", config=SPEC)  # found, not a new run
    again.finish()
    assert len(list((tmp_path / "mlruns").glob("*/*/metrics/loss"))) == 1
