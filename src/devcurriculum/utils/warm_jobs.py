"""Warm job processes for local runs: import torch and the model libraries once, fork every job from there.

A stage job of a local run spends about 5 s of CPU importing torch, transformers' model modules and
torchvision before it computes anything, and the demo runs more than a hundred such jobs on two cores:
a third of its time. When ``warm_jobs`` is on and Snakemake executes jobs on this machine, the
Snakefile starts one :func:`serve` process before the first job (:func:`start_server`, in ``onstart``)
that imports those libraries once and then waits on a Unix socket. Every stage script calls
:func:`hand_off` as its first statement: the small process Snakemake started connects, passes its
stdin/stdout/stderr, working directory, environment and command line, and the server forks a child
that runs the same script there, imports already done. The client waits, forwards signals
(Ctrl-C, SIGTERM) to the child, and exits with the child's status, so Snakemake sees a job like any
other; the server kills a child whose client died (a SIGKILLed job leaves no orphan).

What a job computes does not change: the child runs the same file with the same environment and
arguments, and the libraries preloaded are ones every job would import anyway, before it seeds
anything. The server serves a client only when nothing read at import time can differ:

- the same interpreter (``sys.executable``, so a ``--use-conda`` job runs cold in its own env);
- the same environment except the per-job variables Snakemake sets (threads, TMPDIR; the child
  applies them: :data:`PER_JOB_VARS`), so ``ATEN_CPU_CAPABILITY``, ``PYTHONHASHSEED`` or the
  HF offline switches can never differ between a warm and a cold job;
- not under torchrun (its workers stay its children) and not inside another warm job.

Anything else, or no server (remote executors, ``warm_jobs: false``, a server that failed to
start), and :func:`hand_off` returns at once: the script runs in its own process as before.

Limits: a job's ``benchmark:`` file measures the client process, so its ``max_rss`` and ``cpu_time``
miss the child's (the wall time ``s`` is right); set ``warm_jobs: false`` to profile memory. The
server imports library code once per Snakemake invocation, not the project's own modules, so an edit
to ``src/devcurriculum`` during a run reaches the next job as it does without the server.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn

#: the server's socket path; set in Snakemake's environment (and so every job's) while the server runs
SOCKET_ENV = "DEVCURRICULUM_WARM_JOBS"
#: set by torch.distributed.run in every worker's environment: those stay torchrun's children
TORCHRUN_ENV = "TORCHELASTIC_RUN_ID"
#: what Snakemake sets per job (snakemake.shell): they may differ from the server's; the child applies them
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
PER_JOB_VARS = frozenset((*THREAD_VARS, "TMPDIR", "TMP", "TEMP", "TEMPDIR", "_", "SHLVL", "OLDPWD", "PWD"))
#: what every model job imports anyway (about 4 s of CPU together): pyarrow and pandas are left out,
#: their import starts jemalloc's background thread, and a process with threads must not fork
PRELOAD = (
    "numpy",
    "torch",
    "torch.distributed",
    "torchvision",
    "transformers.models.videomae.modeling_videomae",
    "transformers.models.vjepa2.modeling_vjepa2",
    # what the preamble of a Snakemake script job imports to unpickle its `snakemake` object
    "snakemake.script",
    "snakemake.logging",
    "snakemake.iocontainers",
)
_HEADER = struct.Struct("!I")
_MAX_REQUEST = 16 << 20

#: True in a forked job: hand_off() is then a no-op (the script runs on)
_in_warm_job = False
#: the server's environment before it imported anything (torch's inductor sets TORCHINDUCTOR_CACHE_DIR at
#: import, as it does in every job that imports it): jobs are compared with this
_ENV_AT_START = dict(os.environ)
#: what the preloaded imports added to the environment (a cold job's own imports would add it too)
_ENV_ADDED_BY_IMPORTS: dict[str, str] = {}


def _send_message(sock: socket.socket, message: Mapping[str, Any], fds: Sequence[int] = ()) -> None:
    data = json.dumps(message).encode()
    payload = _HEADER.pack(len(data)) + data
    if fds:
        socket.send_fds(sock, [payload], list(fds))
    else:
        sock.sendall(payload)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise EOFError("warm-job socket closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _recv_message(sock: socket.socket, *, with_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    fds: list[int] = []
    if with_fds:
        head, fds, _flags, _addr = socket.recv_fds(sock, _HEADER.size, with_fds)
        if not head:
            raise EOFError("warm-job socket closed")
        head += _recv_exact(sock, _HEADER.size - len(head))
    else:
        head = _recv_exact(sock, _HEADER.size)
    (size,) = _HEADER.unpack(head)
    if size > _MAX_REQUEST:
        raise ValueError(f"warm-job message of {size} bytes")
    return json.loads(_recv_exact(sock, size)), fds


# ---------------------------------------------------------------------------------------------------
# client: the process Snakemake started


def hand_off() -> None:
    """Run this script in a warm child of the job server, if one serves this job; else return at once.

    Call it as a stage script's first statement, before any heavy import. When the server takes the
    job, this process never returns from here: it exits with the child's status.
    """
    if _in_warm_job:
        return
    path = os.environ.get(SOCKET_ENV)
    if not path or os.environ.get(TORCHRUN_ENV):
        return
    main = sys.modules.get("__main__")
    # a Snakemake script job runs a temporary copy with a preamble (which unpickles the job's
    # `snakemake` object) and points __file__ at the original: the child must run the copy
    script = getattr(main, "__real_file__", None) or getattr(main, "__file__", None)
    if not script:
        return
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        request = {
            "script": os.path.abspath(script),
            "argv": sys.argv,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "path": sys.path,
            "executable": sys.executable,
        }
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        _send_message(sock, request, fds=[0, 1, 2])
        reply, _ = _recv_message(sock)
    except (OSError, EOFError, ValueError):
        # no server, or one that went away: run cold, exactly as without it
        sock.close()
        return
    if "pid" not in reply:
        sock.close()
        return
    _wait_for_child(sock, int(reply["pid"]))


def _wait_for_child(sock: socket.socket, pid: int) -> NoReturn:
    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signum, forward)
    try:
        status, _ = _recv_message(sock)
    except (OSError, EOFError, ValueError) as exc:
        # the server died: its job dies with it (PR_SET_PDEATHSIG); this makes sure, and fails the job
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        print(f"devcurriculum warm jobs: lost the job server while job pid {pid} ran ({exc})", file=sys.stderr)
        os._exit(1)
    if status.get("signal"):
        number = int(status["signal"])
        # die of the same signal, so Snakemake reports it as it would without the server
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        time.sleep(1)
        os._exit(128 + number)
    os._exit(int(status.get("exit", 1)))


# ---------------------------------------------------------------------------------------------------
# the forked child: becomes the job


def _apply_thread_vars(env: Mapping[str, str]) -> None:
    """What the per-job thread variables would have done in a fresh process (read at library load there)."""
    value = env.get("OMP_NUM_THREADS")
    if not value or not value.isdigit() or int(value) < 1:
        return
    threads = int(value)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    with contextlib.suppress(Exception):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)


def _become_job(request: Mapping[str, Any], fds: Sequence[int]) -> NoReturn:
    global _in_warm_job
    _in_warm_job = True
    code = 1
    try:
        server = os.getppid()
        with contextlib.suppress(AttributeError, OSError):
            from devcurriculum.utils.lifeline import set_parent_death_signal

            set_parent_death_signal(signal.SIGKILL)  # no job outlives the server (it would be nobody's)
        if os.getppid() != server:
            os._exit(1)
        os.setpgid(0, 0)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        env = {k: v for k, v in request["env"].items() if k != SOCKET_ENV}
        for key, value in _ENV_ADDED_BY_IMPORTS.items():
            env.setdefault(key, value)
        os.environ.clear()
        os.environ.update(env)
        sys.argv = list(request["argv"])
        sys.path[:] = list(request["path"])
        _apply_thread_vars(env)
        import runpy
        import tempfile

        tempfile.tempdir = None  # TMPDIR is per job: read it again

        try:
            runpy.run_path(request["script"], run_name="__main__")
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


# ---------------------------------------------------------------------------------------------------
# the server


def _decline_reason(request: Mapping[str, Any]) -> str | None:
    """Why this job must run cold, or None: anything read at import time that differs from the server."""
    if request.get("executable") != sys.executable:
        return f"interpreter {request.get('executable')} is not the server's {sys.executable}"
    env = request.get("env") or {}
    ignore = PER_JOB_VARS | {SOCKET_ENV}
    keys = (set(env) | set(_ENV_AT_START)) - ignore
    differing = sorted(k for k in keys if env.get(k) != _ENV_AT_START.get(k))
    if differing:
        return "environment differs from the server's in " + ", ".join(differing[:10])
    if not Path(str(request.get("script", ""))).is_file():
        return f"no script {request.get('script')}"
    return None


@dataclass
class _Job:
    conn: socket.socket
    pid: int
    script: str
    started: float = field(default_factory=time.monotonic)


def _threads_of_this_process() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def _log(stream: IO[str], message: str) -> None:
    stream.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} warm-jobs: {message}\n")
    stream.flush()


def serve(socket_path: str | Path, *, preload: Iterable[str] = PRELOAD, parent_pid: int | None = None) -> int:
    """Import ``preload``, then fork a child for every job that connects to ``socket_path``.

    Prints ``ready`` on stdout once it accepts jobs. Runs until SIGTERM/SIGINT or until ``parent_pid``
    (Snakemake) is gone; then kills any job still running (its client is gone too) and removes the
    socket. Returns the exit status.
    """
    log = sys.stderr
    socket_path = Path(socket_path)
    loaded = []
    for name in preload:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except ImportError as exc:
            _log(log, f"not preloading {name}: {exc}")
    _ENV_ADDED_BY_IMPORTS.update({k: v for k, v in os.environ.items() if k not in _ENV_AT_START})
    threads = _threads_of_this_process()
    if threads > 1:
        # forking a process with threads can deadlock the child on a lock some thread held
        _log(log, f"refusing to serve: {threads} threads after importing {', '.join(loaded)}")
        return 2
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path))
    listener.listen(128)
    listener.setblocking(False)
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, None)
    jobs: dict[int, _Job] = {}  # by pid
    served = declined = 0
    _log(log, f"serving on {socket_path} (pid {os.getpid()}), preloaded {', '.join(loaded)}")
    print("ready", flush=True)

    def finish(pid: int, status: int) -> None:
        job = jobs.pop(pid, None)
        if job is None:
            return
        message = (
            {"signal": os.WTERMSIG(status)} if os.WIFSIGNALED(status) else {"exit": os.waitstatus_to_exitcode(status)}
        )
        with contextlib.suppress(OSError):
            _send_message(job.conn, message)
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(job.conn)
        job.conn.close()

    try:
        while not stopping:
            if parent_pid is not None and not _alive(parent_pid):
                _log(log, f"Snakemake (pid {parent_pid}) is gone: stopping")
                break
            for key, _events in selector.select(timeout=0.2):
                if key.fileobj is listener:
                    with contextlib.suppress(BlockingIOError, InterruptedError):
                        conn, _ = listener.accept()
                        conn.setblocking(True)
                        conn.settimeout(10.0)
                        try:
                            request, fds = _recv_message(conn, with_fds=3)
                        except (OSError, EOFError, ValueError) as exc:
                            _log(log, f"bad request: {exc}")
                            conn.close()
                            continue
                        reason = _decline_reason(request) if len(fds) == 3 else "no stdio descriptors"
                        if reason is not None:
                            declined += 1
                            _log(log, f"running cold: {request.get('script')}: {reason}")
                            with contextlib.suppress(OSError):
                                _send_message(conn, {"declined": reason})
                            for fd in fds:
                                os.close(fd)
                            conn.close()
                            continue
                        for stream in (sys.stdout, sys.stderr):
                            stream.flush()
                        pid = os.fork()
                        if pid != 0:
                            # also here, so a signal forwarded before the child ran setpgid reaches it
                            with contextlib.suppress(OSError):
                                os.setpgid(pid, pid)
                        if pid == 0:
                            listener.close()
                            for job in jobs.values():
                                job.conn.close()
                            conn.close()
                            selector.close()
                            _become_job(request, fds)
                        for fd in fds:
                            os.close(fd)
                        served += 1
                        jobs[pid] = _Job(conn, pid, str(request["script"]))
                        try:
                            _send_message(conn, {"pid": pid})
                        except OSError:
                            _kill_job(pid)
                        conn.settimeout(None)
                        selector.register(conn, selectors.EVENT_READ, pid)
                else:
                    # a client only ever closes its end: it died (SIGKILL) or exited; its job must not outlive it
                    pid = int(key.data)
                    running = jobs.get(pid)
                    data = b""
                    with contextlib.suppress(OSError):
                        data = key.fileobj.recv(1)  # type: ignore[union-attr]
                    if not data:
                        selector.unregister(key.fileobj)
                        if running is not None:
                            _log(log, f"client of pid {pid} ({running.script}) is gone: killing the job")
                            _kill_job(pid)
            while jobs:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                finish(pid, status)
    finally:
        for pid in list(jobs):
            _kill_job(pid)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            finish(pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()
        listener.close()
        _log(log, f"stopped: {served} job(s) served warm, {declined} run cold")
    return 0


def _kill_job(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------------------------------------------
# lifecycle, for the Snakefile


@dataclass
class ServerHandle:
    """A running server: its process, socket and log."""

    process: subprocess.Popen[str]
    socket_path: Path
    log_path: Path
    #: the temporary folder of a socket whose path under the state folder was too long (removed at stop)
    temp_dir: Path | None = None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the server (it kills jobs still running), wait, and take it out of the environment."""
        if os.environ.get(SOCKET_ENV) == str(self.socket_path):
            del os.environ[SOCKET_ENV]
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.temp_dir is not None:
            import shutil

            shutil.rmtree(self.temp_dir, ignore_errors=True)


def start_server(
    state_dir: str | Path,
    log_path: str | Path,
    *,
    wait: bool = True,
    timeout: float = 120.0,
    preload: Sequence[str] = PRELOAD,
) -> ServerHandle | None:
    """Start :func:`serve` for this Snakemake process and put its socket in ``os.environ`` (jobs inherit it).

    ``wait``: return once it accepts jobs, or None (jobs run cold) when it did not within ``timeout``
    (the reason goes to ``log_path``). Without waiting, jobs that start while it still imports find no
    socket and run cold; the rest run warm. The socket lives under ``state_dir`` (a short path: Unix
    socket paths are limited to about 100 bytes; a temporary directory is used when it is too long).
    """
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    socket_path = state_dir / f"warm-jobs-{os.getpid()}.sock"
    temp_dir = None
    if len(str(socket_path.absolute())) > 100:
        import tempfile

        temp_dir = Path(tempfile.mkdtemp(prefix="devcurriculum-"))
        socket_path = temp_dir / "warm-jobs.sock"
    env = dict(os.environ)
    env.pop(SOCKET_ENV, None)
    # the server must stay single-threaded to fork safely: no BLAS/OpenMP pools at import
    for var in THREAD_VARS:
        env[var] = "1"
    log_file = open(log_path, "a")  # noqa: SIM115 (the server writes to it for its whole life)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devcurriculum.utils.warm_jobs",
            str(socket_path.absolute()),
            str(os.getpid()),
            "--preload",
            ",".join(preload),
        ],
        stdout=subprocess.PIPE,
        stderr=log_file,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
        start_new_session=True,  # Ctrl-C reaches Snakemake, which stops the server itself
    )
    log_file.close()
    handle = ServerHandle(process, socket_path.absolute(), log_path, temp_dir)
    if wait and not _wait_ready(process, timeout):
        handle.stop()
        return None
    os.environ[SOCKET_ENV] = str(handle.socket_path)
    return handle


#: the server of this Snakemake process (start_for_workflow / stop_for_workflow)
_server: ServerHandle | None = None


def start_for_workflow(*, enabled: bool, local: bool, state_dir: str | Path, log_path: str | Path) -> str:
    """The Snakefile's ``onstart``: start the server when ``enabled`` (config ``warm_jobs``) and jobs run
    on this machine (``local``); returns one line for Snakemake's log."""
    global _server
    if not enabled:
        return "warm jobs: off (warm_jobs: false): every job imports its libraries itself"
    if not local:
        return "warm jobs: off (jobs do not run on this machine)"
    if os.name != "posix" or not hasattr(os, "fork"):
        return "warm jobs: off (no fork on this system)"
    if _server is None:
        # not waiting: the jobs that start in the ~4 s the server imports run cold, nothing waits for it
        _server = start_server(state_dir, log_path, wait=False)
    return f"warm jobs: on (log: {log_path})"


def stop_for_workflow() -> None:
    """The Snakefile's ``onsuccess``/``onerror``: stop the server if this process started one."""
    global _server
    if _server is not None:
        _server.stop()
        _server = None


def _wait_ready(process: subprocess.Popen[str], timeout: float) -> bool:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
            break
        line = process.stdout.readline()
        if not line:
            return False
        if line.strip() == "ready":
            return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m devcurriculum.utils.warm_jobs SOCKET [PARENT_PID] [--preload a,b,...]``"""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m devcurriculum.utils.warm_jobs", description=serve.__doc__)
    parser.add_argument("socket")
    parser.add_argument("parent_pid", nargs="?", type=int, default=None)
    parser.add_argument("--preload", default=",".join(PRELOAD), help="modules to import before serving")
    args = parser.parse_args(argv)
    with contextlib.suppress(AttributeError, OSError):
        # Linux: the server dies with Snakemake even when Snakemake is SIGKILLed
        from devcurriculum.utils.lifeline import set_parent_death_signal

        set_parent_death_signal(signal.SIGTERM)
    preload = [m for m in args.preload.split(",") if m]
    return serve(args.socket, preload=preload, parent_pid=args.parent_pid)


if __name__ == "__main__":
    sys.exit(main())
