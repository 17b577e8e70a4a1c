#!/usr/bin/env python3
"""Kill a reduced quickstart at random moments, resume it, and compare with a clean run.

    python scripts/kill_resume.py                  # 10 kills (default)
    python scripts/kill_resume.py --kills 5 --seed 3 --workdir /tmp/kr --keep

1. The reference: the reduced quickstart run once without interruption, with the README's
   command (`snakemake all --cores 2 --configfile config.yaml`, here with --snakefile
   pointing at this repository, run in a folder of its own).
2. The same command in a second folder, started in its own session and killed with SIGKILL
   (the whole process tree: Snakemake and every job it started) after a random delay; then
   started again, killed again, ... ``--kills`` times. Nothing is cleaned up in between: the
   stale locks and "incomplete" marks a killed Snakemake leaves are the workflow's to handle.
3. The same command once more, to the end; it must succeed and a dry run after it must find
   nothing to do.
4. Every split, labelled set, selection and score file must be byte-identical to the
   reference's, every classifier's weights equal, every metrics.json and the per-round table
   equal except for measured durations; no temporary file may be left.

The delays are drawn so that the kills spread over the whole run: each run is expected to
get about 0.6 / (kills + 1) of the work done before it is killed (the reference's duration
and Snakemake's start-up time are measured first). Prints a JSON summary; exit status 0
when the resumed run equals the reference.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # this checkout's library
from vabal import layout  # noqa: E402

#: Keys of metrics.json and columns of rounds.parquet that are measured durations.
TIMING_KEYS = {"train_seconds"}
#: the round files compared byte for byte
ROUND_FILES = ("labelled.parquet", "selection.parquet", "scores.parquet")


def reduced_quickstart(figures: bool = True) -> dict:
    """configs/quickstart.yaml shrunk: one seed, tiny networks; digits +[1] over two rounds
    with Random and VaB-AL (every rule of the round chain), and plain digits one round with
    Random (a second dataset, to see that what one dataset changes leaves the other alone).
    About 25 jobs."""
    config = yaml.safe_load((REPO / "configs" / "quickstart.yaml").read_text())
    config["results"] = "results"
    config["seeds"] = [0]
    config["training"].update({"width": 8, "epochs": 2, "lr_milestones": [1]})
    datasets = config["datasets"]
    config["datasets"] = {
        "digits_plus1": {**datasets["digits_plus1"], "budget": 20, "rounds": 2},
        "digits": {**datasets["digits"], "budget": 20, "rounds": 1},
    }
    config["methods"] = {
        "random": {"kind": "random"},
        "vabal": {"kind": "vabal", "epochs": 1, "mc_samples": 3},
    }
    config["runs"] = [
        {"datasets": ["digits_plus1"], "methods": ["random", "vabal"]},
        {"datasets": ["digits"], "methods": ["random"]},
    ]
    fig = {"datasets": ["digits_plus1"], "methods": ["random", "vabal"]}
    config["figures"] = {"fig3b": fig} if figures else {}
    config["tables"] = {}
    config["beyond"] = {}
    return config


def command(cores: int = 2, extra=(), configfile: str = "config.yaml") -> list[str]:
    """The README's command (`snakemake all --cores 2 --configfile ...`) for this checkout."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "all",
        "--cores",
        str(cores),
        "--snakefile",
        str(REPO / "Snakefile"),
        *extra,
        "--configfile",  # last: it takes every argument after it
        configfile,
    ]


def prepare(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def run(folder: Path, cores: int = 2, extra=()) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    proc = subprocess.run(command(cores, extra), cwd=folder, capture_output=True, text=True)
    return proc, time.monotonic() - start


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), children first found first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text[text.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_tree(proc: subprocess.Popen) -> int:
    """SIGKILL Snakemake's process group and every descendant; returns how many processes."""
    victims = descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # started with start_new_session: pgid == pid
    for pid in victims:  # a job that left the group would survive killpg
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()
    return 1 + len(victims)


def state_after_kill(folder: Path) -> dict:
    """What the killed run left: locks, incomplete marks, temporary files, finished files."""
    smk = folder / ".snakemake"
    results = folder / "results"
    return {
        "locks": len(list((smk / "locks").glob("*.lock"))) if (smk / "locks").is_dir() else 0,
        "incomplete": sum(1 for p in (smk / "incomplete").rglob("*") if p.is_file())
        if (smk / "incomplete").is_dir()
        else 0,
        "tmp_files": len(list(results.rglob("*.tmp"))) if results.is_dir() else 0,
        "outputs": sum(1 for p in results.rglob("*") if p.is_file() and "logs" not in p.parts)
        if results.is_dir()
        else 0,
    }


def survivors(pgid: int) -> int:
    """Processes still in process group ``pgid``."""
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        count += int(fields[2]) == pgid and fields[0] not in ("Z", "X")
    return count


def interrupted_run(
    folder: Path, kills: int, delays: tuple[float, float], rng: random.Random, cores: int = 2
) -> list[dict]:
    """Start the command and SIGKILL it after a random delay, ``kills`` times (fewer when a
    run finishes before its kill: then there is nothing left to interrupt). Each run's
    output goes to ``trial-<i>.log`` beside ``folder``."""
    trials = []
    for i in range(kills):
        delay = rng.uniform(*delays)
        log = folder.parent / f"trial-{i}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                command(cores), cwd=folder, stdout=out, stderr=out, start_new_session=True
            )
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                killed = kill_tree(proc)
                time.sleep(0.2)
                trials.append(
                    {"trial": i, "delay_s": round(delay, 2), "killed_processes": killed}
                    | {"survivors": survivors(proc.pid)}
                    | state_after_kill(folder)
                )
                continue
        if proc.returncode != 0:
            raise RuntimeError(f"run {i} failed before its kill:\n{log.read_text()[-4000:]}")
        trials.append({"trial": i, "delay_s": round(delay, 2), "finished_before_kill": True})
        break
    return trials


# ----------------------------------------------------------------------------- comparison
def _files(root: Path, pattern: str) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.glob(pattern))}


def compare(reference: Path, other: Path) -> tuple[list[str], dict]:
    """Differences between two results folders (empty: identical); and what was compared."""
    import pandas as pd
    import torch

    diffs, counts = [], {}

    def pairs(pattern: str):
        a, b = _files(reference, pattern), _files(other, pattern)
        counts[pattern] = len(a)
        if set(a) != set(b):
            diffs.append(f"{pattern}: files differ: {sorted(set(a) ^ set(b))}")
        return [(k, a[k], b[k]) for k in a if k in b]

    every_round = {"dataset": "*", "method": "*", "seed": "*", "round": "*"}
    for pattern in (
        "splits/*/*.parquet",
        *(layout.round_path(f, **every_round) for f in ROUND_FILES),
    ):
        for k, x, y in pairs(pattern):
            if x.read_bytes() != y.read_bytes():
                diffs.append(f"{k}: bytes differ")
    for k, x, y in pairs(layout.round_path("metrics.json", **every_round)):
        mx, my = (
            {key: v for key, v in json.loads(p.read_text()).items() if key not in TIMING_KEYS}
            for p in (x, y)
        )
        if mx != my:
            diffs.append(f"{k}: metrics differ")
    for k, x, y in pairs(layout.round_path("classifier.pt", **every_round)):
        sx, sy = (torch.load(p, weights_only=True)["state_dict"] for p in (x, y))
        if sx.keys() != sy.keys() or any(not torch.equal(sx[n], sy[n]) for n in sx):
            diffs.append(f"{k}: classifier weights differ")
    for k, x, y in pairs("tables/rounds.parquet"):
        tx, ty = (pd.read_parquet(p).drop(columns=sorted(TIMING_KEYS)) for p in (x, y))
        counts["rounds"] = len(tx)
        try:
            pd.testing.assert_frame_equal(tx, ty)
        except AssertionError as exc:
            diffs.append(f"{k}: {str(exc).splitlines()[0]}")
    leftovers = sorted(str(p.relative_to(other)) for p in other.rglob("*.tmp"))
    if leftovers:
        diffs.append(f"temporary files left: {leftovers}")
    return diffs, counts


# ----------------------------------------------------------------------------- driver
def kill_and_resume(
    workdir: Path,
    kills: int = 10,
    seed: int = 0,
    config: dict | None = None,
    cores: int = 2,
    reference: Path | None = None,
) -> dict:
    """The whole experiment; returns its summary (``identical``: the verdict).

    ``reference``: a folder where the same config already ran to the end (its duration is
    then measured again with a dry run only, so give ``reference_s`` in its ``timing.json``).
    """
    config = config or reduced_quickstart()
    rng = random.Random(seed)
    summary: dict = {"kills_requested": kills, "seed": seed}
    if reference is None:
        reference = prepare(workdir / "reference", config)
        proc, seconds = run(reference, cores)
        if proc.returncode != 0:
            raise RuntimeError(f"reference run failed:\n{proc.stderr[-4000:]}")
        (reference / "timing.json").write_text(json.dumps({"reference_s": seconds}))
    seconds = json.loads((reference / "timing.json").read_text())["reference_s"]
    dry, startup = run(reference, cores, ["-n"])
    summary |= {"reference_s": round(seconds, 1), "startup_s": round(startup, 1)}
    if dry.returncode != 0 or "Nothing to be done" not in dry.stdout + dry.stderr:
        raise RuntimeError(f"reference is not complete:\n{dry.stdout[-2000:]}{dry.stderr[-2000:]}")

    work = max(seconds - startup, 1.0)
    delays = (0.5, startup + 1.2 * work / (kills + 1))
    folder = prepare(workdir / "interrupted", config)
    start = time.monotonic()
    trials = interrupted_run(folder, kills, delays, rng, cores)
    final, final_s = run(folder, cores)
    summary["final_run_s"] = round(final_s, 1)
    summary["interrupted_total_s"] = round(time.monotonic() - start, 1)
    summary["trials"] = trials
    summary["kills_delivered"] = sum(1 for t in trials if "killed_processes" in t)
    summary["final_rc"] = final.returncode
    summary["final_output"] = (final.stdout + final.stderr)[-3000:]
    summary["traceback_in_output"] = "Traceback (most recent call last)" in final.stderr
    if final.returncode != 0:
        summary["identical"] = False
        summary["differences"] = ["the resumed run failed"]
        return summary
    again, _ = run(folder, cores, ["-n"])
    summary["nothing_left_to_do"] = "Nothing to be done" in again.stdout + again.stderr
    diffs, counts = compare(reference / "results", folder / "results")
    summary |= {"compared": counts, "differences": diffs}
    summary["identical"] = not diffs and summary["nothing_left_to_do"]
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="number of SIGKILLs (10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill delays (0)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="where to run (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--no-figures", action="store_true", help="leave the figure out")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vabal-kill-resume-"))
    config = copy.deepcopy(reduced_quickstart(figures=not args.no_figures))
    try:
        summary = kill_and_resume(workdir, args.kills, args.seed, config, args.cores)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    summary.pop("final_output")
    print(json.dumps(summary, indent=2))
    return 0 if summary["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
