"""A fork server for local runs: a job starts in a fraction of a second, not in 3 s.

Every rule runs a Python job, and most import PyTorch, pandas or matplotlib before any work:
about 2.5 s of a CPU core per job, more than most steps of a small run take. In a local run
the workflow's ``onstart`` hook calls :func:`start`, which launches one server process that
imports those libraries once. Each job's script then calls :func:`delegate`: the server
forks a child that takes the job's stdin, stdout and stderr (passed over a Unix socket), its
working directory, environment and argv, and runs the same script there; the job process
waits, forwards SIGTERM and SIGINT to the child, and exits with the child's status. For
Snakemake it is an ordinary job: same files, same log, same exit status.

The job runs in its own process as before when no server is running (on a cluster, in a dry
run, with ``VABAL_FORKSERVER=off``), when the server belongs to another Python or another
checkout, or when the server cannot be reached. The server never initialises CUDA (a forked
child could not use it): each child starts its own CUDA context, as a fresh process does.
It refuses to serve if importing the libraries started a thread (forking a process with
several threads is unsafe), and it exits when the Snakemake that started it is gone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path

log = logging.getLogger(__name__)

#: the server's socket path in the environment of Snakemake and its jobs; "off" disables it
ENV = "VABAL_FORKSERVER"

#: True in a job's process forked by the server (jobs note it in their log)
IN_CHILD = False

#: imported once by the server, so that no job pays for them (missing ones are skipped)
PRELOAD = (
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "torch",
    "torch._dynamo",  # torch.optim's optimisers import it when constructed (2 s)
    "snakemake.iocontainers",
    "snakemake.logging",
    "vabal.run.step",
    "vabal.run.rounds",
    "vabal.learn.training",
    "vabal.learn.features",
    "vabal.methods.vabal.vae",
    "vabal.report.tables",
    "vabal.report.plots",
)


def preload_modules() -> tuple[str, ...]:
    """What the server imports: :data:`PRELOAD` and every registered method's module."""
    from vabal.methods import REGISTRY

    return PRELOAD + tuple(dict.fromkeys(info.module for info in REGISTRY.values()))


# ----------------------------------------------------------------------------- messages
def _send(conn: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode() + b"\n"
    if fds:
        sent = socket.send_fds(conn, [data], fds)
        data = data[sent:]
    conn.sendall(data)


class _Reader:
    """Newline-framed JSON messages from a stream socket (file descriptors with the first)."""

    def __init__(self, conn: socket.socket):
        self.conn, self.buffer, self.fds = conn, b"", []

    def read(self, with_fds: int = 0) -> dict | None:
        """The next message, or None at end of stream."""
        while b"\n" not in self.buffer:
            if with_fds and not self.fds:
                chunk, fds, _, _ = socket.recv_fds(self.conn, 1 << 16, with_fds)
                self.fds = list(fds)
            else:
                chunk = self.conn.recv(1 << 16)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)


def _identity() -> dict:
    """What must match between a job and the server: the Python and the library's checkout."""
    return {
        "executable": os.path.realpath(sys.executable),
        "library": str(Path(__file__).resolve().parents[1]),
    }


def _flush_std() -> None:
    """Flush stdout and stderr (before a fork, so no buffered text is written twice)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code  # killed by signal n: 128 + n, as a shell says


# ----------------------------------------------------------------------------- job side
def delegate(script: str | os.PathLike) -> int | None:
    """Run ``script`` (this job's script) in a child of the fork server.

    Returns the job's exit status, or None when the job should run in this process (no
    server, another Python or checkout, server unreachable).
    """
    path = os.environ.get(ENV, "")
    if not path or path == "off" or not hasattr(socket, "send_fds"):
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        request = {
            **_identity(),
            "script": os.path.abspath(script),
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "argv": sys.argv,
        }
        _send(conn, request, [0, 1, 2])
        reader = _Reader(conn)
        reply = reader.read()
    except OSError:
        conn.close()
        return None
    if not reply or not reply.get("ok"):
        conn.close()
        return None

    def forward(signum, frame):
        with contextlib.suppress(OSError):
            _send(conn, {"signal": signum})

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        reply = reader.read()
    except OSError:
        reply = None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        conn.close()
    if reply is None or "exit" not in reply:
        print("vabal fork server: lost the job's child process", file=sys.stderr)
        return 1
    return int(reply["exit"])


# ----------------------------------------------------------------------------- server side
def _run_child(request: dict, fds: list[int]) -> None:
    """In the forked child: become the job, run its script, never return."""
    global IN_CHILD
    IN_CHILD = True
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.pop(ENV, None)  # the script must run here, not be handed on again
        import tempfile

        tempfile.tempdir = None  # found again from the job's TMPDIR
        sys.argv = list(request["argv"])
        for s in (signal.SIGTERM, signal.SIGCHLD):
            signal.signal(s, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import runpy

        code = 0
        runpy.run_path(request["script"], run_name="__main__")
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        _flush_std()
        os._exit(code)


def _handle(conn: socket.socket) -> int:
    """In a forked handler: check the request, fork the job's child, report its status."""
    import select

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the server ignores it; we wait here
    reader = _Reader(conn)
    request = reader.read(with_fds=3)
    fds = reader.fds
    if request is None or len(fds) != 3:
        return 1
    mismatch = [k for k, v in _identity().items() if request.get(k) != v]
    if mismatch:
        _send(conn, {"ok": False, "why": f"different {', '.join(mismatch)}"})
        return 0
    _flush_std()
    pid = os.fork()
    if pid == 0:
        conn.close()
        _run_child(request, fds)
    for fd in fds:
        os.close(fd)
    _send(conn, {"ok": True, "pid": pid})
    try:  # readable when the child ends; without it, poll
        waiting, timeout = [conn, os.pidfd_open(pid)], None
    except (AttributeError, OSError):
        waiting, timeout = [conn], 0.05
    while True:
        ready, _, _ = select.select(waiting, [], [], timeout)
        if conn in ready:
            message = reader.read()
            if message is None:  # the job process is gone (killed): end its child too
                _end(pid)
                return 0
            if "signal" in message:
                os.kill(pid, int(message["signal"]))
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            _send(conn, {"exit": _exit_code(status)})
            return 0


def _end(pid: int, grace: float = 10.0) -> None:
    """SIGTERM (the job unwinds, removing its temporary files), SIGKILL after ``grace`` s."""
    import time

    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + grace
    while time.monotonic() < end:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def serve(path: str, parent: int, preload=()) -> None:
    """Import ``preload``, then fork a handler per connection on ``path`` until the
    process ``parent`` (the Snakemake that started the server) is gone or SIGTERM comes."""
    import importlib
    import time

    start = time.perf_counter()
    for name in preload:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            log.warning("not preloaded: %s (%s)", name, exc)
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_initialized():
        log.error("CUDA was initialised while preloading: not serving")
        return
    threads = _threads()
    if threads > 1:
        log.error("%d threads after preloading: not serving", threads)
        return
    seconds = time.perf_counter() - start
    log.info("library %s, preloaded in %.1fs", _identity()["library"], seconds)
    log.info("serving %s", path)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the system
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(64)
        listener.settimeout(1.0)
        while os.getppid() == parent:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            _flush_std()
            if os.fork() == 0:
                listener.close()
                code = 1
                try:
                    conn.settimeout(None)
                    code = _handle(conn)
                finally:
                    os._exit(code)
            conn.close()
    finally:
        listener.close()
        Path(path).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            Path(path).parent.rmdir()  # start()'s folder, when the server outlived Snakemake


# ----------------------------------------------------------------------------- Snakemake side
class Server:
    """A running fork server, as :func:`start` returns it."""

    SOCKET = "socket"  #: its name in the server's folder

    def __init__(self, process, folder: Path):
        self.process, self.folder = process, folder

    @property
    def socket(self) -> str:
        return str(self.folder / self.SOCKET)

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop the server and forget it: later jobs run in their own process."""
        import shutil

        if os.environ.get(ENV) == self.socket:
            del os.environ[ENV]
        if self.running():
            self.process.terminate()
            try:
                self.process.wait(10)
            except Exception:
                self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def start(
    log: str | os.PathLike | None = None,
    preload=None,
    wait: float = 0.0,
    env: dict[str, str] | None = None,
) -> Server | None:
    """Start a fork server for the jobs this process (Snakemake) will launch.

    Sets :data:`ENV` in this process's environment, which the jobs inherit. Returns None,
    starting nothing, where it cannot work (no Unix sockets) or ``VABAL_FORKSERVER=off``.
    The server logs to the file ``log``; it imports the modules ``preload`` names (default
    :func:`preload_modules`: a few seconds). Jobs that start before it serves run in their
    own process, as do all jobs if it fails; ``wait`` seconds at most are spent waiting for
    it here. ``env`` is added to the server's environment before it imports anything (the
    CPU kernel pin: :mod:`vabal.kernels`).
    """
    import subprocess
    import tempfile
    import time

    if os.environ.get(ENV) == "off" or not hasattr(socket, "send_fds") or not hasattr(os, "fork"):
        return None
    folder = Path(tempfile.mkdtemp(prefix="vabal-forkserver-"))
    library = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join([library] + [p for p in [env.get("PYTHONPATH")] if p])
    env.pop(ENV, None)
    # No threads at start-up, so that forking is safe: OpenBLAS's pool (a job that uses
    # Snakemake's threads gets its thread count from its own environment, for PyTorch) and
    # the background thread of pyarrow's jemalloc.
    env["OPENBLAS_NUM_THREADS"] = "1"
    env["JE_ARROW_MALLOC_CONF"] = "background_thread:false"
    # Should anything ask whether CUDA is there, NVML answers: the driver stays uninitialised.
    env["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vabal.run.forkserver",
            str(folder / Server.SOCKET),
            str(os.getpid()),
            ",".join(preload_modules() if preload is None else preload),
            str(log or ""),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # a Ctrl-C reaches the jobs, which end their children
    )
    server = Server(process, folder)
    os.environ[ENV] = server.socket
    end = time.monotonic() + wait
    while time.monotonic() < end and server.running() and not Path(server.socket).exists():
        time.sleep(0.02)
    return server


def _main(argv: list[str]) -> None:
    path, parent, preload, log_file = argv
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        logging.basicConfig(
            filename=log_file,
            filemode="w",
            level=logging.INFO,
            format="%(asctime)s %(name)s %(levelname)s %(message)s",
        )
    try:
        serve(path, int(parent), [m for m in preload.split(",") if m])
    except Exception:
        log.exception("fork server failed")
        raise


if __name__ == "__main__":
    from vabal.run import forkserver  # this module under its own name, for IN_CHILD

    forkserver._main(sys.argv[1:])
