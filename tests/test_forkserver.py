"""The fork server: a job's script runs in a forked child with the job's streams, directory,
environment, argv and exit status; signals reach it; any problem leaves the job to run in
its own process."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import REPO

from vabal.run import forkserver

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

CLIENT = (
    "import sys; from vabal.run import forkserver; "
    "status = forkserver.delegate(sys.argv[1]); "
    "print('in-process' if status is None else 'delegated', file=sys.stderr); "
    "sys.exit(97 if status is None else status)"
)


def wait_for(predicate, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.delenv(forkserver.ENV, raising=False)
    handle = forkserver.start(tmp_path / "server.log", preload=("json",))
    assert handle is not None
    assert wait_for(lambda: Path(handle.socket).exists()), (tmp_path / "server.log").read_text()
    yield handle
    handle.stop()
    assert forkserver.ENV not in os.environ
    assert not Path(handle.socket).exists()


def client(script, cwd, env=None, **kwargs):
    """A job process: hands ``script`` to the server named in ``env``."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(script), "extra-arg"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def write_script(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body))
    return path


def test_job_runs_in_a_child_with_its_streams_directory_environment_and_status(server, tmp_path):
    script = write_script(
        tmp_path / "job.py",
        """
        import os, sys, tempfile
        from vabal.run import forkserver
        print("out:", os.environ["JOB_VALUE"], sys.argv[-1], forkserver.IN_CHILD)
        print("err line", file=sys.stderr)
        open("marker", "w").write(f"{os.getpid()} {os.getppid()} {tempfile.gettempdir()}")
        assert forkserver.ENV not in os.environ  # not handed on again
        sys.exit(3)
        """,
    )
    workdir = tmp_path / "work"
    (workdir / "tmp").mkdir(parents=True)
    env = {"JOB_VALUE": "v42", "TMPDIR": str(workdir / "tmp")}
    proc = client(script, workdir, env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert out == "out: v42 extra-arg True\n"
    assert "err line" in err and "delegated" in err
    pid, ppid, tmp = (workdir / "marker").read_text().split()
    assert int(pid) != proc.pid and int(ppid) != proc.pid  # a child of the server's handler
    assert tmp == str(workdir / "tmp")


def test_exceptions_and_exit_messages_become_a_failed_status(server, tmp_path):
    raises = write_script(tmp_path / "raises.py", "raise RuntimeError('boom')\n")
    proc = client(raises, tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "RuntimeError: boom" in err
    message = write_script(tmp_path / "message.py", "import sys; sys.exit('error: bad')\n")
    proc = client(message, tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "error: bad" in err
    ok = write_script(tmp_path / "ok.py", "pass\n")
    assert client(ok, tmp_path).wait(timeout=60) == 0


def test_sigterm_to_the_job_reaches_its_child(server, tmp_path):
    script = write_script(
        tmp_path / "slow.py",
        """
        import signal, sys, time
        def stop(signum, frame):
            open("terminated", "w").write(str(signum))
            sys.exit(5)
        signal.signal(signal.SIGTERM, stop)
        open("started", "w").write("")
        time.sleep(60)
        """,
    )
    proc = client(script, tmp_path)
    assert wait_for(lambda: (tmp_path / "started").exists())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 5
    assert (tmp_path / "terminated").read_text() == str(int(signal.SIGTERM))


def test_a_killed_job_takes_its_child_with_it(server, tmp_path):
    script = write_script(
        tmp_path / "orphan.py",
        """
        import os, time
        open("pid", "w").write(str(os.getpid()))
        time.sleep(60)
        """,
    )
    proc = client(script, tmp_path)
    assert wait_for(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text())
    child = int((tmp_path / "pid").read_text())
    proc.kill()
    proc.wait(timeout=30)

    def gone():
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        return False

    assert wait_for(gone, timeout=30)


def test_no_server_another_python_or_a_dead_socket_run_the_job_in_process(
    server, tmp_path, monkeypatch
):
    script = write_script(tmp_path / "never.py", "raise SystemExit(9)\n")
    for value in ["", "off", str(tmp_path / "no-socket")]:
        proc = client(script, tmp_path, {forkserver.ENV: value})
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 97 and "in-process" in err
    # a server of another Python (or checkout) declines
    monkeypatch.setattr(forkserver, "_identity", lambda: {"executable": "/other/python"})
    assert forkserver.delegate(script) is None


def test_server_ends_with_the_process_that_started_it(tmp_path):
    starter = (
        "import sys, time; from pathlib import Path; from vabal.run import forkserver; "
        f"s = forkserver.start({str(tmp_path / 'log')!r}, preload=()); "
        "print(s.socket, s.process.pid, flush=True); "
        "[time.sleep(0.05) for _ in range(600) if not Path(s.socket).exists()]"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    env.pop(forkserver.ENV, None)
    out = subprocess.run(
        [sys.executable, "-c", starter], env=env, capture_output=True, text=True, timeout=60
    )
    sock, pid = out.stdout.split()
    assert wait_for(lambda: not Path(sock).exists(), timeout=30), "server outlived its parent"

    def gone():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        # a zombie until its parent (init) reaps it
        return Path(f"/proc/{pid}/stat").exists() and " Z " in Path(f"/proc/{pid}/stat").read_text()

    assert wait_for(gone, timeout=30)


def test_start_is_off_when_asked(monkeypatch):
    monkeypatch.setenv(forkserver.ENV, "off")
    assert forkserver.start() is None
    assert os.environ[forkserver.ENV] == "off"


def test_preload_names_every_method():
    """The server imports every registered method's implementation, none left out."""
    from vabal.methods import REGISTRY

    for info in REGISTRY.values():
        assert info.module in forkserver.preload_modules()


def test_preloading_never_touches_the_cuda_driver():
    """A child cannot use CUDA if the server initialised it: no preloaded module may ask."""
    probe = textwrap.dedent(
        """
        import importlib, torch
        calls = []
        for name in ("_cuda_getDeviceCount", "_cuda_init"):
            if hasattr(torch._C, name):
                real = getattr(torch._C, name)
                def spy(*args, _real=real, _name=name):
                    calls.append(_name)
                    return _real(*args)
                setattr(torch._C, name, spy)
        from vabal.run import forkserver
        for module in forkserver.preload_modules():
            importlib.import_module(module)
        print(calls, torch.cuda.is_initialized())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[-2] == "[] False"
