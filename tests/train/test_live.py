"""Watching a run: metrics.parquet grows while training, TensorBoard events hold the scalars, bars stay off logs."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_loop import FakeLerac, run_tiny

from devcurriculum.train.live import TENSORBOARD_DIR
from devcurriculum.utils.io import read_table, write_table
from devcurriculum.utils.progress import progress_bar, stream_is_terminal


def _poll_metrics(path: Path, done: threading.Event) -> list[tuple[int, list[int], bytes]]:
    """Every complete table a reader could open while the run goes on: (rows, steps, complete flag)."""
    seen: list[tuple[int, list[int], bytes]] = []
    while not done.is_set():
        if path.exists():
            table = read_table(path)  # never a half-written or mixed file: an exception here fails the test
            meta = table.schema.metadata or {}
            entry = (table.num_rows, table.column("step").to_pylist(), meta.get(b"devcurriculum.complete", b""))
            if not seen or seen[-1][0] != entry[0]:
                seen.append(entry)
        time.sleep(0.002)
    return seen


def test_a_reader_sees_metrics_parquet_grow_during_a_slowed_run(tmp_path: Path) -> None:
    done = threading.Event()
    errors: list[BaseException] = []

    def train() -> None:
        try:
            run_tiny(tmp_path, total=24, sleep_s=0.03, pretrain={"log_every": 4, "checkpoint_every": 100})
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=train)
    worker.start()
    seen = _poll_metrics(tmp_path / "out" / "metrics.parquet", done)
    worker.join()
    assert not errors, errors
    partial = [(rows, steps, flag) for rows, steps, flag in seen if flag == b"false"]
    assert len(partial) >= 3, seen  # it grew in front of the reader, at least three times
    for rows, steps, _ in partial:
        assert rows % 4 == 0 and 0 < rows < 24 and steps == list(range(rows))
    assert [rows for rows, _, _ in partial] == sorted({rows for rows, _, _ in partial})
    final = pq.read_table(tmp_path / "out" / "metrics.parquet")
    assert final.num_rows == 24 and final.schema.metadata[b"devcurriculum.complete"] == b"true"


def test_read_table_sees_one_version_of_a_table_rewritten_under_it(tmp_path: Path) -> None:
    """pq.read_table(path) opens the path twice and mixes two versions mid-rewrite; read_table must not."""
    import pyarrow as pa

    path = tmp_path / "metrics.parquet"
    write_table(pa.table({"step": [0]}), path)
    stop = threading.Event()

    def rewrite() -> None:
        rows = 4
        while not stop.is_set():
            write_table(pa.table({"step": list(range(rows)), "loss": [0.5] * rows}), path)
            rows = 4 if rows >= 400 else rows + 4

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        for _ in range(1000):
            table = read_table(path)
            assert table.column("step").to_pylist() == list(range(table.num_rows))
    finally:
        stop.set()
        writer.join()


def test_tensorboard_events_hold_every_scalar_of_the_metrics_table(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for _ in range(2):  # a retrained run replaces the old events instead of drawing a second curve
        run_tiny(tmp_path, total=6, lerac=FakeLerac(), pretrain={"tensorboard": True, "log_every": 2})
    events = EventAccumulator(str(tmp_path / "out" / TENSORBOARD_DIR))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss", "lr", "stage", "effective_fraction", "blur_sigma", "lr_group/0", "lr_group/1"} <= tags
    metrics = pq.read_table(tmp_path / "out" / "metrics.parquet").to_pydict()
    for tag, column in (("loss", metrics["loss"]), ("lr", metrics["lr"]), ("stage", metrics["stage"]),
                        ("blur_sigma", metrics["blur_sigma"])):
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == list(range(6)), tag
        assert [s.value for s in scalars] == pytest.approx(column, rel=1e-6), tag
    # LeRaC: the deep group starts at 1 % of the base rate (FakeLerac), both meet it at step 2
    deep = [s.value for s in events.Scalars("lr_group/1")]
    assert deep[:2] == pytest.approx([0.01 * lr for lr in metrics["lr"][:2]], rel=1e-6)
    assert deep[2:] == pytest.approx(metrics["lr"][2:], rel=1e-6)
    assert metrics["lr_groups"][0] == pytest.approx([metrics["lr"][0], 0.01 * metrics["lr"][0]])


def test_no_tensorboard_folder_unless_asked(tmp_path: Path) -> None:
    run_tiny(tmp_path, total=2)
    assert not (tmp_path / "out" / TENSORBOARD_DIR).exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bars_draw_on_a_terminal_only() -> None:
    tty, log_file = _Terminal(), io.StringIO()
    for stream in (tty, log_file):
        for _ in progress_bar(range(50), desc="chunk g0", file=stream):
            pass
    assert stream_is_terminal(tty) and not stream_is_terminal(log_file)
    assert "chunk g0" in tty.getvalue() and "50/50" in tty.getvalue()
    assert log_file.getvalue() == ""
    quiet = _Terminal()
    for _ in progress_bar(range(5), enabled=False, file=quiet):
        pass
    assert quiet.getvalue() == ""


def test_flushes_of_a_long_table_are_spaced_by_their_cost(tmp_path: Path) -> None:
    from devcurriculum.train.live import THROTTLE_ROWS, LiveMetrics
    from devcurriculum.train.metrics import COLUMNS, MetricsLog

    row = {c: 0.0 for c in COLUMNS} | {"pool": "g0", "stage": 0, "global_batch": 8, "lr_groups": [0.1]}
    short, long = MetricsLog(), MetricsLog()
    for step in range(THROTTLE_ROWS):
        long.append(row | {"step": step})
        if step < 10:
            short.append(row | {"step": step})
    live = LiveMetrics(tmp_path / "metrics.parquet", metadata={"devcurriculum.complete": "false"})
    assert live.flush(long)
    live._last_flush_cost = 3600.0  # as if the last rewrite had taken an hour (a stalled file system)
    assert not live.flush(long)  # too soon for a table this long
    assert live.flush(long, force=True) and live.flush(short)  # short tables are always written
    assert pq.read_table(tmp_path / "metrics.parquet").num_rows == 10

