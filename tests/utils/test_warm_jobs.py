"""Warm jobs (devcurriculum.utils.warm_jobs): a job forked from the server behaves as the process Snakemake started.

The servers here preload only small modules (``json``), except the one test of the thread variables.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcurriculum.utils import warm_jobs

ROOT = Path(__file__).resolve().parents[2]

# A job script: hands off first, then reports where and how it ran.
JOB = textwrap.dedent(
    """
    from devcurriculum.utils.warm_jobs import hand_off

    hand_off()

    import json, os, sys, tempfile, time
    mode = sys.argv[1]
    if mode == "sleep":
        open(sys.argv[2], "w").write(str(os.getpid()))
        time.sleep(60)
    print(json.dumps({
        "pid": os.getpid(), "ppid": os.getppid(), "cwd": os.getcwd(), "argv": sys.argv,
        "socket_env": os.environ.get("DEVCURRICULUM_WARM_JOBS"),
        "tmp": tempfile.gettempdir(), "threads": __import__("torch").get_num_threads() if mode == "torch" else None,
    }))
    print("to stderr", file=sys.stderr)
    if mode == "fail":
        raise RuntimeError("the job failed")
    sys.exit(3 if mode == "exit3" else 0)
    """
)


def _env(**extra: str) -> dict[str, str]:
    """This process's environment as Snakemake would pass it (pytest changes PYTEST_CURRENT_TEST per phase)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    return {**env, **extra}


def _start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> warm_jobs.ServerHandle | None:
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    return warm_jobs.start_server(tmp_path / "state", tmp_path / "warm.log", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def server(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[warm_jobs.ServerHandle]:
    preload = getattr(request, "param", ("json",))
    handle = _start(tmp_path, monkeypatch, preload=preload)
    assert handle is not None, (tmp_path / "warm.log").read_text()
    try:
        yield handle
    finally:
        handle.stop()
        os.environ.pop(warm_jobs.SOCKET_ENV, None)


def _job_file(tmp_path: Path) -> Path:
    path = tmp_path / "job.py"
    path.write_text(JOB)
    return path


def _run(tmp_path: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(_job_file(tmp_path)), *args],
        capture_output=True,
        text=True,
        env=_env() if env is None else env,
        cwd=cwd or tmp_path,
        timeout=120,
    )


def test_a_job_runs_in_a_child_of_the_server_with_its_own_cwd_argv_env_and_stdio(
    tmp_path: Path, server: warm_jobs.ServerHandle
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    env = _env(TMPDIR=str(work))  # per job; any other difference makes the job run cold
    done = _run(tmp_path, "exit3", "x y", env=env, cwd=work)
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert report["ppid"] == server.process.pid  # forked by the server, not started by us
    assert report["cwd"] == str(work)
    assert report["argv"][1:] == ["exit3", "x y"]
    assert report["socket_env"] is None  # a job's own subprocesses start cold
    assert report["tmp"] == str(work)  # TMPDIR is per job (Snakemake's tmpdir resource)
    assert done.stderr.strip() == "to stderr"
    log = server.log_path.read_text()
    assert "serving on" in log and "running cold" not in log


def test_a_failing_job_prints_its_traceback_and_exits_non_zero(tmp_path: Path, server: warm_jobs.ServerHandle) -> None:
    done = _run(tmp_path, "fail")
    assert done.returncode == 1
    assert "RuntimeError: the job failed" in done.stderr
    assert json.loads(done.stdout.splitlines()[0])["ppid"] == server.process.pid


def test_a_job_whose_environment_differs_runs_cold(tmp_path: Path, server: warm_jobs.ServerHandle) -> None:
    # read at import time by torch (the float kernels): a warm child would keep the server's choice
    env = _env(ATEN_CPU_CAPABILITY="default")
    done = _run(tmp_path, "plain", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ppid"] != server.process.pid
    assert "running cold" in server.log_path.read_text() and "ATEN_CPU_CAPABILITY" in server.log_path.read_text()


def test_without_a_server_the_script_runs_in_its_own_process(tmp_path: Path) -> None:
    env = {k: v for k, v in _env().items() if k != warm_jobs.SOCKET_ENV}
    done = _run(tmp_path, "plain", env=env)
    assert done.returncode == 0 and json.loads(done.stdout)["ppid"] == os.getpid()
    # a socket nobody listens on (a server that died): cold as well
    done = _run(tmp_path, "plain", env=dict(env, DEVCURRICULUM_WARM_JOBS=str(tmp_path / "gone.sock")))
    assert done.returncode == 0 and json.loads(done.stdout)["ppid"] == os.getpid()


@pytest.mark.parametrize("server", [("json", "torch")], indirect=True)
def test_the_job_gets_its_own_thread_count(tmp_path: Path, server: warm_jobs.ServerHandle) -> None:
    # Snakemake sets OMP_NUM_THREADS per job; the server imported torch with 1
    done = _run(tmp_path, "torch", env=_env(OMP_NUM_THREADS="2"))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ppid"] == server.process.pid and report["threads"] == 2


def _wait_for(path: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never written")


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_signalled_client_takes_its_job_with_it(tmp_path: Path, server: warm_jobs.ServerHandle, sig: int) -> None:
    # SIGTERM (Snakemake stopping a job) is forwarded; after SIGKILL the server sees the client gone
    pid_file = tmp_path / "child.pid"
    client = subprocess.Popen([sys.executable, str(_job_file(tmp_path)), "sleep", str(pid_file)], cwd=tmp_path, env=_env())
    child = int(_wait_for(pid_file))
    assert child != client.pid
    client.send_signal(sig)
    assert client.wait(30) == -sig
    assert _gone(child), f"job {child} outlived its client"


def test_stopping_the_server_kills_running_jobs_and_removes_the_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = _start(tmp_path, monkeypatch, preload=("json",))
    assert handle is not None
    try:
        pid_file = tmp_path / "child.pid"
        client = subprocess.Popen([sys.executable, str(_job_file(tmp_path)), "sleep", str(pid_file)], cwd=tmp_path, env=_env())
        child = int(_wait_for(pid_file))
    finally:
        handle.stop()
    assert _gone(child)
    assert client.wait(30) != 0  # its job was killed: never reported as done
    assert not handle.socket_path.exists()
    assert warm_jobs.SOCKET_ENV not in os.environ


def test_a_server_that_cannot_start_leaves_jobs_cold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    handle = _start(tmp_path, monkeypatch, preload=("json",), timeout=0.001)
    assert handle is None
    assert warm_jobs.SOCKET_ENV not in os.environ


def test_the_workflow_switch_and_the_executor_decide() -> None:
    assert "off" in warm_jobs.start_for_workflow(enabled=False, local=True, state_dir="unused", log_path="unused")
    assert "do not run on this machine" in warm_jobs.start_for_workflow(
        enabled=True, local=False, state_dir="unused", log_path="unused"
    )


def test_every_stage_script_hands_off_before_anything_else() -> None:
    for script in sorted((ROOT / "scripts").glob("*.py")):
        body = ast.parse(script.read_text()).body
        statements = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        first, second = statements[0], statements[1]
        assert isinstance(first, ast.ImportFrom) and first.module == "devcurriculum.utils.warm_jobs", script.name
        assert isinstance(second, ast.Expr) and ast.unparse(second) == "hand_off()", script.name


def test_a_job_dies_with_its_server_and_its_client_fails(tmp_path: Path, server: warm_jobs.ServerHandle) -> None:
    pid_file = tmp_path / "child.pid"
    client = subprocess.Popen(
        [sys.executable, str(_job_file(tmp_path)), "sleep", str(pid_file)], cwd=tmp_path, env=_env(),
        stderr=subprocess.PIPE, text=True,
    )
    child = int(_wait_for(pid_file))
    server.process.kill()
    assert client.wait(30) == 1
    assert "lost the job server" in (client.stderr.read() if client.stderr else "")
    assert _gone(child), f"job {child} outlived its server"


def test_a_long_state_path_puts_the_socket_in_a_temporary_folder_removed_at_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)  # a Unix socket path must stay under ~100 bytes
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    handle = warm_jobs.start_server(deep, tmp_path / "warm.log", preload=("json",))
    assert handle is not None and handle.temp_dir is not None
    assert len(str(handle.socket_path)) < 100 and handle.socket_path.exists()
    try:
        done = _run(tmp_path, "plain")
        assert json.loads(done.stdout)["ppid"] == handle.process.pid
    finally:
        handle.stop()
    assert not handle.temp_dir.exists()
