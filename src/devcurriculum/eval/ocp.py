"""The object-contact-prediction readout (rule ``ocp``): Physion's probe of a frozen encoder.

Protocol (Physion v1.5's official evaluator, ``train_readout.py``): the features of each clip (here
the learner's embedding of its OCP clip, :mod:`devcurriculum.eval.embed`, at every stage checkpoint)
are standardised (``StandardScaler`` fitted on the train split) and read by an L2-regularised
``LogisticRegression`` (lbfgs, ``max_iter``); ``C`` is chosen from ``ocp.readout.c_grid`` by
``GridSearchCV`` with ``StratifiedKFold(folds, shuffle=True, random_state=cv_seed)`` on the train split
(fewer folds when a class has fewer train items) and the model is refitted on all of it. **One
classifier is trained on every scenario of a set pooled**; its accuracy is reported **per scenario on
the test split**, and ``overall`` is the unweighted mean over the scenarios (the evaluator's
``full_test_sce_acc``).

Rows: ``readouts.EVAL_SCHEMA``'s long format, ``readout = "ocp"``, ``metric = "accuracy"``, benchmark
``<set>:<scenario>`` and ``<set>:overall``. The table metadata holds the chance level of every
benchmark (``chance_top1``: each scenario's test majority-class rate; overall: their mean) and the C
chosen at every stage (``chosen_c``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from devcurriculum.config import ClipConfig, ModelConfig, OCPReadoutConfig
from devcurriculum.eval.embed import BenchmarkFiles
from devcurriculum.eval.readouts import EVAL_SCHEMA, RUN_KEYS, _stage_matrices
from devcurriculum.utils.io import provenance, read_metadata, read_table, table_from_columns, write_table
from devcurriculum.utils.paths import PathLike

log = logging.getLogger("devcurriculum.eval.ocp")

READOUT = "ocp"
METRIC = "accuracy"
OVERALL = "overall"


def ocp_classifier(
    train_x: np.ndarray, train_y: np.ndarray, readout: OCPReadoutConfig
) -> tuple[Any, float]:
    """The fitted readout (scaler + logistic regression, C by stratified CV) and the C it chose."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    values, counts = np.unique(train_y, return_counts=True)
    if len(counts) < 2:
        raise ValueError("the OCP readout needs both labels (touch and no touch) in the train split")
    folds = min(readout.folds, int(counts.min()))
    if folds < 2:
        found = ", ".join(f"{'touch' if v else 'no touch'} {int(n)}" for v, n in zip(values, counts, strict=True))
        raise ValueError(f"the OCP readout needs at least 2 train items of each label for {readout.folds}-fold CV, "
                         f"got {found}")
    pipeline = Pipeline([("scaler", StandardScaler()), ("clf", LogisticRegression(max_iter=readout.max_iter))])
    grid = GridSearchCV(pipeline, {"clf__C": list(readout.c_grid)},
                        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=readout.cv_seed))
    grid.fit(train_x, train_y)
    return grid.best_estimator_, float(grid.best_params_["clf__C"])


def ocp_accuracy(
    x: np.ndarray, labels: np.ndarray, split: np.ndarray, scenarios: np.ndarray, readout: OCPReadoutConfig,
) -> tuple[dict[str, float], float]:
    """Test accuracy per scenario plus ``overall`` (their unweighted mean), and the chosen C.

    One classifier is fitted on the train items of every scenario; each test item is scored by it.
    """
    train, test = split == "train", split == "test"
    model, best_c = ocp_classifier(x[train], labels[train], readout)
    correct = model.predict(x[test]) == labels[test]
    per = {str(s): float(correct[scenarios[test] == s].mean()) for s in sorted(set(scenarios[test].tolist()))}
    if not per:
        raise ValueError("the OCP readout has no test items")
    return {**per, OVERALL: float(np.mean(list(per.values())))}, best_c


def set_arrays(table: PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (bool), splits and scenarios of a prepared OCP set, in its row order."""
    items = read_table(table, columns=["label", "split", "scenario"]).to_pandas()
    bad = sorted(set(items["split"]) - {"train", "test"})
    if bad:
        raise ValueError(f"{table}: split must be train or test, found {bad}")
    return items["label"].to_numpy(bool), items["split"].to_numpy(object), items["scenario"].to_numpy(object)


def set_chance(name: str, table: PathLike) -> dict[str, float]:
    """``{<set>:<scenario>: majority rate, <set>:overall: their mean}`` from the set's metadata."""
    import json

    chance = json.loads(read_metadata(table).get("devcurriculum.chance", "{}"))
    out = {f"{name}:{s}": float(v) for s, v in chance.items()}
    if chance:
        out[f"{name}:{OVERALL}"] = float(np.mean(list(chance.values())))
    return out


def ocp_run(
    *,
    model: ModelConfig,
    clip: ClipConfig,
    checkpoints: Sequence[PathLike],
    sets: Sequence[BenchmarkFiles],
    readout: OCPReadoutConfig,
    out_embeddings: PathLike,
    out_eval: PathLike,
    run_info: Mapping[str, Any],
    batch_size: int,
    threads: int | None = None,
    run_spec: PathLike | None = None,
    model_key: str = "the model config",
) -> pa.Table:
    """Embed every OCP set under every stage checkpoint of one run, then read each out; writes both tables."""
    from devcurriculum.eval.embed import embed_run

    missing_keys = [k for k in RUN_KEYS if k not in run_info]
    if missing_keys:
        raise KeyError(f"run_info lacks {missing_keys}; needs {list(RUN_KEYS)}")
    embed_run(model=model, clip=clip, checkpoints=checkpoints, benchmarks=sets, shard=0, n_shards=1,
              out_path=out_embeddings, batch_size=batch_size, threads=threads, run_spec=run_spec, model_key=model_key)
    emb = read_table(out_embeddings)
    columns: dict[str, list] = {name: [] for name in EVAL_SCHEMA.names}
    chance: dict[str, float] = {}
    chosen: dict[str, dict[int, float]] = {}
    for files in sets:
        labels, split, scenarios = set_arrays(files.table)
        chance.update(set_chance(files.name, files.table))
        for (after_stage, step), x in _stage_matrices(emb, files.name, files.table):
            try:
                accuracy, best_c = ocp_accuracy(x, labels, split, scenarios, readout)
            except ValueError as exc:
                raise ValueError(f"ocp.sets.{files.name} ({files.table}) after stage {after_stage}: {exc}") from None
            chosen.setdefault(files.name, {})[after_stage] = best_c
            for scenario, value in accuracy.items():
                row = {**{k: run_info[k] for k in RUN_KEYS}, "benchmark": f"{files.name}:{scenario}",
                       "after_stage": after_stage, "step": step, "readout": READOUT, "metric": METRIC, "value": value}
                for key, v in row.items():
                    columns[key].append(v)
    table = table_from_columns(columns, EVAL_SCHEMA)
    meta = provenance("ocp", {"readout": readout.shaping()}, run=dict(run_info), chance_top1=chance,
                      chosen_c=chosen, sets={f.name: str(f.table) for f in sets})
    write_table(table, out_eval, metadata=meta)
    log.info("%s: OCP accuracy of %d set(s) at %d stage(s)", out_eval, len(sets),
             len({r for r in columns["after_stage"]}))
    return table
