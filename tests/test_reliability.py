"""Kill and resume, and the provenance of inputs, on a reduced quickstart.

One uninterrupted run of scripts/kill_resume.py's reduced quickstart is the reference
(digits +[1] over two rounds with Random and VaB-AL, plain digits one round with Random).

* Kill and resume: the same command is killed with SIGKILL (the whole process tree) at
  random moments, run again each time with no cleanup, then to the end; every split,
  labelled set, selection and score file is byte-identical to the reference's, the metrics
  and the per-round table equal but for durations (scripts/kill_resume.py does the work).
* Provenance: after a change of the config or of a stored file, a dry run lists exactly
  the jobs that depend on what changed (Snakemake's rerun triggers: params, input, mtime).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import time

import pytest
import yaml
from conftest import REPO

from vabal import layout

pytestmark = pytest.mark.slow

_spec = importlib.util.spec_from_file_location("kill_resume", REPO / "scripts" / "kill_resume.py")
kr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kr)

CONFIG = kr.reduced_quickstart(figures=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = kr.prepare(tmp_path_factory.mktemp("reference"), CONFIG)
    proc, seconds = kr.run(root)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (root / "timing.json").write_text(json.dumps({"reference_s": seconds}))
    print(f"reference run: {seconds:.1f} s")
    return root


# ----------------------------------------------------------------------------- kill & resume
def test_kill_and_resume_gives_identical_results(reference, tmp_path):
    start = time.monotonic()
    summary = kr.kill_and_resume(tmp_path, kills=5, seed=1, config=CONFIG, reference=reference)
    print(f"kill and resume: {time.monotonic() - start:.1f} s")
    print(json.dumps({k: v for k, v in summary.items() if k != "final_output"}, indent=1))
    trials = summary["trials"]
    assert summary["kills_delivered"] == 5, trials
    assert all(t["survivors"] == 0 for t in trials if "survivors" in t)
    assert summary["final_rc"] == 0, summary["final_output"]
    assert not summary["traceback_in_output"], summary["final_output"]
    assert summary["nothing_left_to_do"]
    assert summary["differences"] == [] and summary["identical"]
    # what was compared: every file of every round of the three runs
    counts = summary["compared"]
    every = {"dataset": "*", "method": "*", "seed": "*", "round": "*"}
    assert counts[layout.round_path("selection.parquet", **every)] == 2  # Random's, VaB-AL's
    assert counts[layout.round_path("labelled.parquet", **every)] == 5
    assert counts[layout.round_path("scores.parquet", **every)] == 1
    assert counts["rounds"] == 5
    # the kills left what a killed Snakemake leaves, and the next run coped with it
    assert any(t.get("locks") for t in trials), trials
    assert any(t.get("incomplete") for t in trials), trials


def test_jobs_run_this_checkouts_library(reference):
    """Every job imports vabal from this repository's src/, not from wherever else it is
    installed (the rules' script, workflow/scripts/step.py, puts src/ first)."""
    logs = sorted((reference / "results" / "logs").rglob("*.log"))
    server = reference / "results" / "logs" / "forkserver.log"  # not a job: it says its own
    assert f"library {REPO / 'src' / 'vabal'}" in server.read_text()
    logs.remove(server)
    assert len(logs) >= 14  # the source, 2 splits, 10 steps of 5 rounds, the table
    for log in logs:
        assert f"with vabal from {REPO / 'src' / 'vabal'}" in log.read_text(), log


# ----------------------------------------------------------------------------- provenance
def job(rule, **wildcards):
    return (rule, ", ".join(f"{k}={v}" for k, v in wildcards.items()))


def recipe(config, dataset, method="random"):
    from vabal.plan import config as cfg
    from vabal.plan import workflow as vw

    return vw.round0_id(cfg.validate(copy.deepcopy(config)), dataset, method)


def shared0(dataset, features=False, config=None):
    """The shared round 0 of ``dataset`` (seed 0): its training and, if asked, its features."""
    wc = {"dataset": dataset, "recipe": recipe(config or CONFIG, dataset), "seed": 0}
    return {job("train_round0", **wc)} | (
        {job("extract_round0_features", **wc)} if features else set()
    )


def round_jobs(dataset, method, rounds):
    """A run's own jobs: round 0's links, then each round's training and method steps."""
    method_steps = ["extract_features", "train_vae", "score"] if method == "vabal" else []
    run = {"dataset": dataset, "method": method, "seed": 0}
    out = {job("share_round0", **run)}
    if "extract_features" in method_steps:
        out.add(job("share_round0_features", **run))
    for r in range(rounds):
        wc = {**run, "round": r}
        if r > 0:
            out.add(job("train_classifier", **wc))
        if r < rounds - 1:
            out |= {job(s, **wc) for s in [*method_steps, "select"]}
    out.discard(job("extract_features", **run, round=0))  # round 0's is shared
    return out


DP1 = "digits_plus1"
RUNS = {
    "digits_plus1/random": round_jobs(DP1, "random", 2),
    "digits_plus1/vabal": round_jobs(DP1, "vabal", 2),
    "digits/random": round_jobs("digits", "random", 1),
}
SHARED = shared0(DP1, features=True) | shared0("digits")
TABLE = {job("collect_rounds"), job("all")}
SPLITS = {job("make_split", dataset=DP1, seed=0), job("make_split", dataset="digits", seed=0)}
EVERY_JOB = (
    {job("prepare_source", source="digits")} | SPLITS | SHARED | TABLE | set().union(*RUNS.values())
)


def dry_run(folder, config, extra=()):
    """The jobs (rule, wildcards) and reasons a dry run of ``config`` lists in ``folder``."""
    (folder / "changed.yaml").write_text(yaml.safe_dump(config))
    cmd = kr.command(extra=["-n", *extra], configfile="changed.yaml")
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    jobs, reasons, rule, wildcards, reason = set(), {}, None, "", ""

    def close():
        if rule:
            jobs.add((rule, wildcards))
            reasons[(rule, wildcards)] = reason

    for line in out.splitlines():
        if m := re.match(r"^\s*(?:local)?rule (\w+):$", line):
            close()
            rule, wildcards, reason = m.group(1), "", ""
        elif m := re.match(r"^\s+wildcards: (.*)$", line):
            wildcards = m.group(1)
        elif m := re.match(r"^\s+reason: (.*)$", line):
            reason = m.group(1)
    close()
    if not jobs:
        assert "Nothing to be done" in out, out[-3000:]
    return jobs, reasons, out


def changed(path, value):
    config = copy.deepcopy(CONFIG)
    *parents, last = path
    node = config
    for key in parents:
        node = node[key]
    node[last] = value
    return config


def with_method(name):
    config = changed(("methods", name), {"kind": "random"})
    config["runs"][1]["methods"].append(name)
    return config


SCENARIOS = {
    # a method's parameter: that method's steps and what follows them, nothing of Random's
    # and not round 0's classifier and features, which depend on the recipe alone
    "vabal-parameter": (
        changed(("methods", "vabal", "mc_samples"), 4),
        {
            job(s, dataset=DP1, method="vabal", seed=0, round=0)
            for s in ("train_vae", "score", "select")
        }
        | {job("train_classifier", dataset=DP1, method="vabal", seed=0, round=1)}
        | TABLE,
        "Params have changed",
    ),
    # a dataset's budget: its split, its shared round 0 and every run on it; the other
    # dataset is left alone
    "dataset-budget": (
        changed(("datasets", DP1, "budget"), 25),
        {job("make_split", dataset=DP1, seed=0)}
        | shared0(DP1, features=True)
        | RUNS["digits_plus1/random"]
        | RUNS["digits_plus1/vabal"]
        | TABLE,
        "Params have changed",
    ),
    # one dataset's training recipe: a round 0 of the new recipe, and that dataset's runs
    "dataset-training": (
        changed(("datasets", "digits", "training"), {"epochs": 3}),
        shared0("digits", config=changed(("datasets", "digits", "training"), {"epochs": 3}))
        | RUNS["digits/random"]
        | TABLE,
        "Missing output files",
    ),
    # a source: its store and everything built from it
    "source": (changed(("sources", "digits", "test_fraction"), 0.25), EVERY_JOB, "Params"),
    # a new method: its own runs only
    "new-method": (
        with_method("random_b"),
        round_jobs("digits", "random_b", 1) | TABLE,  # the shared round 0 is there already
        "Missing output files",
    ),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_change_reruns_exactly_what_depends_on_it(name, reference):
    config, expected, reason = SCENARIOS[name]
    jobs, reasons, _ = dry_run(reference, config)
    assert jobs == expected, (sorted(jobs - expected), sorted(expected - jobs))
    first = [r for j, r in reasons.items() if reason in r]
    assert first, reasons


def test_unchanged_config_has_nothing_to_do_with_the_default_profile(reference):
    """profiles/default/ is Snakemake's default workflow profile for this Snakefile (found
    beside it): it reruns the outputs a killed run left incomplete, as the SLURM profile."""
    jobs, _, out = dry_run(reference, CONFIG)
    assert jobs == set()
    assert f"workflow specific profile {REPO / 'profiles' / 'default'}" in out
    default = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text())
    slurm = yaml.safe_load((REPO / "slurm" / "config.yaml").read_text())
    assert default["rerun-incomplete"] is True and slurm["rerun-incomplete"] is True


def test_rerun_triggers_choose_what_counts_as_a_change(reference):
    """`--rerun-triggers mtime input` ignores the changed parameter of the default triggers."""
    config, _, _ = SCENARIOS["vabal-parameter"]
    assert dry_run(reference, config, ["--rerun-triggers", "mtime", "input"])[0] == set()


def test_a_changed_store_reruns_everything_built_from_it(reference, tmp_path):
    """A store file with other content reruns every job downstream of it (input trigger on
    the file's date); a file only touched, with the same content, reruns nothing: Snakemake
    compares the checksum it recorded (files up to 1 MB, --max-checksum-file-size)."""
    import numpy as np

    from vabal import io

    work = tmp_path / "copy"
    shutil.copytree(reference, work, symlinks=True)
    images = work / "results" / "data" / "digits" / "images.npy"
    later = images.stat().st_mtime + 60
    os.utime(images, (later, later))
    assert dry_run(work, CONFIG)[0] == set()
    pixels = np.array(io.read_npy(images))
    pixels[0, 0, 0, 0] ^= 1
    io.write_npy(images, pixels)
    jobs, reasons, _ = dry_run(work, CONFIG)
    assert jobs == EVERY_JOB - {job("prepare_source", source="digits")}
    assert any("Updated input files" in r for r in reasons.values()), reasons
