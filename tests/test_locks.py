"""Stale Snakemake locks: removed when their owner is gone, kept while it may be alive."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from vabal.run import locks


@pytest.fixture
def smk(tmp_path):
    root = tmp_path / ".snakemake"
    (root / "locks").mkdir(parents=True)
    (root / "locks" / "0.output.lock").write_text("results/a.parquet\n")
    (root / "locks" / "0.input.lock").write_text("results/b.parquet\n")
    return root


def owner(root, pid, host=None, **extra):
    record = {
        "host": host or socket.gethostname(),
        "pid": pid,
        "start": locks._start_time(pid),
        "boot_id": locks._boot_id(),
        **extra,
    }
    path = root / locks.OWNERS / f"{record['host']}-{pid}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # exited and reaped: its pid names no process
    return proc.pid


def test_locks_of_a_dead_owner_are_removed(smk):
    pid = dead_pid()
    record = owner(smk, pid, start="12345")
    note = locks.clear_stale_locks(smk)
    assert note and f"pid {pid}" in note and "killed" in note
    assert not (smk / "locks").exists() and not record.exists()


def test_locks_of_a_live_owner_are_kept(smk):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        record = owner(smk, proc.pid)
        owner(smk, dead_pid(), start="1")  # a dead one beside it does not matter
        assert locks.clear_stale_locks(smk) is None
        assert len(list((smk / "locks").iterdir())) == 2 and record.exists()
    finally:
        proc.kill()
        proc.wait()
    assert "killed" in locks.clear_stale_locks(smk)  # now it is gone


def test_a_reused_pid_is_not_the_owner(smk):
    """The pid lives, but it is another process than the one recorded (other start time)."""
    owner(smk, os.getpid(), start="0")
    assert "killed" in locks.clear_stale_locks(smk)
    assert not (smk / "locks").exists()


def test_a_killed_but_unreaped_owner_is_gone(smk):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        record = owner(smk, proc.pid)
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # a zombie now, not reaped
        assert "killed" in locks.clear_stale_locks(smk)
        assert not record.exists()
    finally:
        proc.wait()


def test_an_owner_on_another_host_keeps_the_locks(smk):
    owner(smk, 1, host="login-node-7")
    note = locks.clear_stale_locks(smk)
    assert "another host" in note and "login-node-7" in note and "--unlock" in note
    assert (smk / "locks" / "0.output.lock").exists()


def test_locks_without_any_owner_record_are_left_to_snakemake(smk):
    assert locks.clear_stale_locks(smk) is None
    assert (smk / "locks" / "0.output.lock").exists()


def test_a_record_cut_short_counts_as_dead(smk):
    path = smk / locks.OWNERS / "x-1.json"
    path.parent.mkdir()
    path.write_text('{"host": ')
    assert "killed" in locks.clear_stale_locks(smk)


def test_no_locks_nothing_to_say(tmp_path):
    (tmp_path / ".snakemake").mkdir()
    owner(tmp_path / ".snakemake", dead_pid(), start="1")
    assert locks.clear_stale_locks(tmp_path / ".snakemake") is None
    assert not list((tmp_path / ".snakemake" / locks.OWNERS).iterdir())  # pruned


def test_register_records_this_process_until_it_exits(tmp_path):
    code = (
        "import sys, time; from vabal.run import locks; "
        f"print(locks.register({str(tmp_path)!r}), flush=True); time.sleep(0.3)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(".json")
    assert not list((tmp_path / locks.OWNERS).iterdir())  # removed at exit
    path = locks.register(tmp_path)  # this process: alive
    record = json.loads(path.read_text())
    assert record["pid"] == os.getpid() and locks._alive(record) is True
