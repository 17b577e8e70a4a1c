"""Locks left behind by a Snakemake that was killed.

While it runs, Snakemake lists the files it works on in ``.snakemake/locks/`` and removes the
list when it exits. A Snakemake killed with SIGKILL (a pre-empted allocation, the OOM killer,
``kill -9``) cannot remove it, and the next run stops with "Directory cannot be locked"
until someone runs ``snakemake --unlock``. Snakemake's lock files hold file names only, not
who wrote them, so they cannot tell a stale lock from a live one.

This module adds the missing owner: every Snakemake process that reads the Snakefile records
itself (host, process id and the process's start time, so a reused process id is not taken
for the owner) in ``.snakemake/vabal-owners/``, and drops the record when it exits. At
start-up, before Snakemake checks its locks, :func:`clear_stale_locks` removes the locks when
every recorded owner is a process of this host that no longer exists. A live owner (another
Snakemake working in the same folder) or an owner on another host, which cannot be checked
from here, keeps the locks: Snakemake then refuses to start, as it should.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
from pathlib import Path

OWNERS = "vabal-owners"


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, from /proc), or None when
    no such process runs. Without /proc, "alive" when a signal 0 reaches it."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            text = stat.read_text()
        except OSError:
            return None
        fields = text[text.rfind(")") + 2 :].split()  # fields[0] is field 3 of proc(5)
        if fields[0] in ("Z", "X"):  # killed, not yet reaped by its parent: gone
            return None
        return fields[19]  # field 22: start time
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return "alive"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _alive(record: dict) -> bool | None:
    """True / False for an owner on this host, None for one on another host."""
    if record.get("host") != socket.gethostname():
        return None
    if record.get("boot_id", "") != _boot_id():
        return False  # recorded before the last reboot
    start = _start_time(int(record["pid"]))
    return start is not None and start == record.get("start", start)


def register(snakemake_dir: str | os.PathLike = ".snakemake") -> Path:
    """Record this process as a Snakemake working in this folder; removed when it exits."""
    from vabal import io

    pid = os.getpid()
    host = socket.gethostname()
    path = Path(snakemake_dir) / OWNERS / f"{host}-{pid}.json"
    record = {"host": host, "pid": pid, "start": _start_time(pid), "boot_id": _boot_id()}
    io.write_json(path, record)
    atexit.register(path.unlink, missing_ok=True)
    return path


def clear_stale_locks(snakemake_dir: str | os.PathLike = ".snakemake") -> str | None:
    """Remove Snakemake's locks when every process that may hold them is gone.

    Returns a one-line note for the user when locks were removed, or when locks are held by
    an owner that cannot be checked from this host; None otherwise. Records of dead owners
    are deleted. Locks with no owner record at all (written by a Snakemake that did not run
    this workflow's Snakefile) are left to Snakemake and ``snakemake --unlock``.
    """
    root = Path(snakemake_dir)
    locks = root / "locks"
    held = locks.is_dir() and any(locks.glob("*.lock"))
    dead, live, unknown = [], [], []
    for path in sorted((root / OWNERS).glob("*.json")):
        try:
            record = json.loads(path.read_text())
            state = _alive(record)
        except (OSError, ValueError, KeyError, TypeError):  # a record cut short: its owner died
            record, state = {"pid": "?", "host": "?"}, False
        if state is False:
            dead.append(record)
            path.unlink(missing_ok=True)
        else:
            (live if state else unknown).append(record)
    if not held or live:
        return None
    if unknown:
        who = ", ".join(f"pid {r['pid']} on {r['host']}" for r in unknown)
        return (
            f"note: {locks} is held by a Snakemake on another host ({who}); if that run is "
            "gone, run `snakemake --unlock` with the same arguments once, then run again"
        )
    if not dead:
        return None
    shutil.rmtree(locks, ignore_errors=True)
    who = ", ".join(f"pid {r['pid']}" for r in dead)
    return (
        f"note: removed the locks of a Snakemake run that was killed ({who}); "
        "its unfinished jobs run again"
    )
