"""The SLURM profile (slurm/config.yaml): what it asks of SLURM, and the workflow run through
it on a real single-node SLURM started by tests/cluster/local-slurm.sh.

The cluster tests need root (they start SLURM's daemons) and Debian's slurm-wlm, munge,
slurmdbd and mariadb-server (installed by the script with apt-get); without them they skip
with the reason. The local cluster keeps job accounting (slurmdbd), as production clusters
do, so jobs are followed with `sacct` (the plugin's default) and a cancelled job is
`CANCELLED by 0` there. Its node has no GPU: the runs use the CPU switch
(`training: {device: cpu}`), and the profile as shipped, without it, must stop at
start-up. Against the profile, the runs change only what is specific to a cluster: the
first status check after 1 s instead of 40, small memory requests, no partition or account.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import (
    REPO,
    SHARED_DATASETS,
    TINY_CONFIG,
    cifar100_standin,
    run_snakemake,
    standin_sources_arg,
    without_slurm,
)

from vabal import layout
from vabal.plan import catalogue, grid
from vabal.plan import config as cfg
from vabal.plan import workflow as vw

pytestmark = pytest.mark.slow

PROFILE = REPO / "slurm"
SCRIPT = REPO / "tests" / "cluster" / "local-slurm.sh"
GPU_RULES = {
    "train_round0",
    "extract_round0_features",
    "train_classifier",
    "extract_features",
    "train_vae",
    "score",
}
CPU_RULES = {"prepare_source", "make_split", "collect_rounds", "fig3a"}
ROUND_RULES = {"train_classifier", "extract_features", "train_vae", "score", "select"}
#: the run's folder (its rounds' parent)
RUN = Path(layout.round_path("", "results", dataset="digits_plus1", method="random", seed=0)).parent
# durations, which differ from one run to the next; everything else must be equal
TIMING_KEYS = {"train_seconds"}


def load_profile() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


# ----------------------------------------------------------------- the profile itself


def test_profile_settings():
    prof = load_profile()
    assert prof["executor"] == "slurm"
    for key in ("jobs", "latency-wait", "retries"):
        assert isinstance(prof[key], int) and prof[key] > 0, key
    assert prof["rerun-incomplete"] is True
    # one obvious place for the cluster's own values: default-resources
    assert {"runtime", "mem_mb"} <= set(prof["default-resources"])
    # no global `resources:`: Snakemake sizes a group job with them when it submits it but
    # not inside the job, where the group's steps are started with srun
    assert "resources" not in prof and "cores" not in prof
    # GPU requests come from the rules (resources: gpu=1); the profile never turns them off
    for rule, res in prof["set-resources"].items():
        assert "gpu" not in res and "gres" not in res and "slurm_extra" not in res, rule


def test_profile_has_no_site_specific_names():
    prof = load_profile()
    site_keys = {
        "slurm_partition",
        "slurm_account",
        "slurm_cluster",
        "clusters",
        "cluster",
        "qos",
        "constraint",
        "gpu_model",
        "slurm_extra",
        "nodelist",
    }
    for res in [prof["default-resources"], *prof["set-resources"].values()]:
        assert not site_keys & set(res), res
    site_options = {"slurm-qos", "slurm-reservation", "slurm-partition-config", "slurm-logdir"}
    assert not site_options & set(prof), set(prof) & site_options
    text = (PROFILE / "config.yaml").read_text()
    active = "\n".join(line.split("#")[0] for line in text.splitlines())
    assert not re.search(r"(^|\s)/\w", active), "absolute path in the profile"
    # the partition and account are there to be filled in, commented out
    assert re.search(r"^\s*#\s*slurm_partition:", text, re.M)
    assert re.search(r"^\s*#\s*slurm_account:", text, re.M)


def dry_run(args, cwd, env=None, profile=str(PROFILE)):
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", profile, "-n", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def parse_dry_run(out: str):
    """(rule, wildcards, resources, group or None) of every job a dry run lists."""
    jobs, group = [], None
    for block in re.split(r"\n(?=\s*\[[^\]]+\]\s*(?:\n|Group job))", out):
        head = re.search(r"Group job (\S+)", block)
        if head:
            group = head.group(1)
            continue
        rule = re.search(r"^\s*(?:local)?rule (\w+):", block, re.M)
        if not rule:
            continue
        indented = re.search(r"^(\s+)(?:local)?rule ", block, re.M)
        res = re.search(r"resources: (.*)", block)
        wc = re.search(r"wildcards: (.*)", block)
        files = {
            k: set(m.group(1).split(", ")) if (m := re.search(rf"{k}: (.*)", block)) else set()
            for k in ("input", "output")
        }
        jobs.append(
            {
                "rule": rule.group(1),
                "wildcards": wc.group(1) if wc else "",
                **files,
                "resources": dict(kv.split("=", 1) for kv in res.group(1).split(", ")),
                "group": group if indented and indented.group(1) else None,
            }
        )
    return jobs


def assert_groups_are_rounds_with_one_gpu(jobs):
    """Each group is one round of one run, and no two of its GPU steps can run side by side
    (Snakemake would then ask SLURM for two GPUs for it)."""
    groups = {j["group"] for j in jobs if j["group"]}
    for g in groups:
        members = [j for j in jobs if j["group"] == g]
        assert len({j["wildcards"] for j in members}) == 1, g
        after = {i: set() for i in range(len(members))}  # i -> members that need i's output
        for i, a in enumerate(members):
            for k, b in enumerate(members):
                if a["output"] & b["input"]:
                    after[i].add(k)
        changed = True
        while changed:  # transitive closure
            changed = False
            for i in after:
                more = set().union(*(after[k] for k in after[i])) - after[i]
                if more:
                    after[i] |= more
                    changed = True
        gpu = [i for i, j in enumerate(members) if int(j["resources"].get("gpu", 0))]
        for i in gpu:
            for k in gpu:
                assert i == k or k in after[i] or i in after[k], (
                    g,
                    members[i]["rule"],
                    members[k]["rule"],
                )


def assert_round_steps_are_grouped(jobs):
    """Every step of a round is in its round's group; nothing else is in a group."""
    for j in jobs:
        assert (j["group"] is not None) == (j["rule"] in ROUND_RULES), j


def test_paper_dag_through_the_profile_without_a_cluster(tmp_path):
    """`snakemake --profile slurm -n paper` from the repository root with config.yaml, and
    no SLURM to talk to: the whole paper's DAG (CIFAR-10 and NEU from ../shared/datasets,
    CIFAR-100 from a synthetic stand-in of the official archive), every target once, and
    one SLURM job per round of each run."""
    for name in ("cifar10-jpeg-q75.tar.xz", "neu-cls-64.tar.xz"):
        if not (SHARED_DATASETS / name).exists():
            pytest.skip(f"{SHARED_DATASETS / name} not found")
    standin = standin_sources_arg(cifar100_standin(tmp_path))  # CIFAR-100 is not here
    # the paper's runs alone: rounds.parquet holds every run of the config (the leaderboard's
    # too), so paper computes today's methods unless they are left out
    today = "skip_methods=[margin,entropy,badge,typiclust,balanced]"
    args = ["paper", "--nolock", "--config", f"results={tmp_path}/results", today, standin]
    t0 = time.monotonic()
    out = dry_run(args, REPO, without_slurm(tmp_path), profile="slurm")  # ./slurm
    seconds = time.monotonic() - t0
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w[\w-]*)\s+(\d+)$", out, re.M)}
    print(f"paper DAG: {counts['total']} jobs, dry run {seconds:.1f} s")
    for name in {**catalogue.FIGURES, **catalogue.TABLES}:
        assert counts[name] == 1, name
    assert "leaderboard" not in counts  # beyond the paper: snakemake beyond
    # 255 runs: 13 datasets x 5 methods, 4 lambdas, 4 + 2 table variants, x 3 seeds; 1485
    # rounds, of which round 0 is trained once per dataset, seed and classifier recipe
    assert counts["train_classifier"] == 1485 - 255 and "evaluate" not in counts
    config = cfg.load(REPO / "config.yaml")
    config["skip_methods"] = ["margin", "entropy", "badge", "typiclust", "balanced"]
    recipes = {(d, s, vw.round0_id(config, d, m)) for d, m, s in grid.runs(config)}
    assert counts["train_round0"] == len(recipes) < 255  # MC-Dropout's is a recipe apart
    assert counts["share_round0"] == 255
    assert counts["prepare_source"] == 3 and counts["collect_rounds"] == 1
    assert counts["make_split"] == 17 * 3
    jobs = parse_dry_run(out)
    groups = {j["group"] for j in jobs if j["group"]}
    assert len(groups) == 1485  # one per round of each run
    assert_groups_are_rounds_with_one_gpu(jobs)
    assert_round_steps_are_grouped(jobs)
    # paper runs nothing: it is no SLURM job
    without_groups = sum(1 for j in jobs if j["rule"] != "paper")
    alone = sum(1 for j in jobs if not j["group"] and j["rule"] != "paper")
    print(f"paper: {without_groups} SLURM jobs without groups, {len(groups) + alone} with")


def test_rules_ask_for_gpus_where_they_run_a_network(tmp_path):
    config = copy.deepcopy(TINY_CONFIG)
    config["methods"] = {
        "random": {"kind": "random"},
        "coreset": {"kind": "coreset"},
        "vabal": {"kind": "vabal"},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = without_slurm(tmp_path)  # the start-up check of the partition's GPUs stays silent
    args = ["all", "--snakefile", str(REPO / "Snakefile"), "--configfile", "config.yaml"]
    out = dry_run(args, tmp_path, env)
    jobs = parse_dry_run(out)
    seen = set()
    for j in jobs:
        gpu = int(j["resources"].get("gpu", 0))
        rule = j["rule"]
        seen.add(rule)
        if rule == "select":
            assert gpu == ("method=coreset" in j["wildcards"]), j
        elif rule in GPU_RULES:
            assert gpu == 1, j
        else:
            assert gpu == 0, j
    assert GPU_RULES | CPU_RULES | {"select"} <= seen
    assert_groups_are_rounds_with_one_gpu(jobs)
    assert_round_steps_are_grouped(jobs)
    # the CPU switch: no job asks for a GPU, the profile's other resources stay
    cpu = parse_dry_run(dry_run([*args, "--config", "training={device: cpu}"], tmp_path, env))
    assert {j["rule"] for j in cpu} == seen
    assert all(int(j["resources"].get("gpu", 0)) == 0 for j in cpu)
    trains = [j for j in cpu if j["rule"] == "train_classifier"]
    assert trains and all(j["resources"]["mem_mb"] == "16000" for j in trains)


# ----------------------------------------------------------------- a real SLURM


@pytest.fixture(scope="module")
def slurm_cluster():
    """The local SLURM of tests/cluster/local-slurm.sh: started here (and stopped after)
    unless it already runs."""
    if os.geteuid() != 0:
        pytest.skip("the local SLURM needs root (its daemons run as root)")
    if subprocess.run(["bash", SCRIPT, "status"], capture_output=True).returncode == 0:
        yield {"bring_up_s": None}
        return
    t0 = time.monotonic()
    proc = subprocess.run(["bash", SCRIPT, "start"], capture_output=True, text=True)
    if proc.returncode in (2, 3, 4):  # not root, no packages, another SLURM here
        pytest.skip(f"no local SLURM: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    info = {"bring_up_s": time.monotonic() - t0, "start": proc.stderr.strip()}
    print(f"local SLURM up in {info['bring_up_s']:.1f} s: {info['start']}")
    try:
        yield info
    finally:
        stop = subprocess.run(["bash", SCRIPT, "stop"], capture_output=True, text=True)
        assert stop.returncode == 0, stop.stderr


def local_profile(tmp_path: Path) -> Path:
    """A profile given after slurm/ that replaces only what this cluster needs."""
    prof = load_profile()

    def local(res: dict) -> dict:
        res = {k: v for k, v in res.items() if k not in ("slurm_partition", "slurm_account")}
        return {**res, "mem_mb": 1000}

    overlay = {
        "slurm-init-seconds-before-status-checks": 1,
        "default-resources": local(prof["default-resources"]),
        "set-resources": {rule: local(res) for rule, res in prof["set-resources"].items()},
    }
    path = tmp_path / "local-cluster"
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(yaml.safe_dump(overlay))
    return path


def slurm_command(workdir: Path, extra=()) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--profile",
        str(PROFILE),
        "--profile",
        str(local_profile(workdir.parent / f"{workdir.name}-profile")),
        *extra,
        "all",
    ]


def run_uuid(log: str) -> str:
    m = re.search(r"SLURM run ID: (\S+)", log)
    assert m, log[-3000:]
    return m.group(1)


def slurm_jobs(uuid: str) -> list[dict]:
    """Every job of one Snakemake run that SLURM still knows (MinJobAge = 600 s)."""
    out = subprocess.run(
        ["squeue", "-h", "--states=all", "--name", uuid, "-o", "%i|%k|%T"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    jobs = []
    for line in out.splitlines():
        jid, comment, state = line.split("|")
        show = subprocess.run(
            ["scontrol", "-o", "show", "job", jid], capture_output=True, text=True
        ).stdout
        tres = re.search(r"TresPerJob=(\S+)", show)
        jobs.append(
            {"id": jid, "comment": comment, "state": state, "tres": tres.group(1) if tres else ""}
        )
    return jobs


#: the tiny config with the CPU switch, as a CPU-only cluster runs it
CPU_CONFIG = {**TINY_CONFIG, "training": {**TINY_CONFIG["training"], "device": "cpu"}}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The tiny config run locally (--cores 2, one thread per job), the reference."""
    d = tmp_path_factory.mktemp("local")
    t0 = time.monotonic()
    run_snakemake(d, CPU_CONFIG)
    print(f"local run: {time.monotonic() - t0:.0f} s")
    return d


def assert_same_outputs(a: Path, b: Path):
    split = "results/splits/digits_plus1/seed0.parquet"
    assert (a / split).read_bytes() == (b / split).read_bytes()
    for r in range(3):
        for name in ("labelled.parquet", "selection.parquet"):
            fa, fb = a / RUN / f"round{r}" / name, b / RUN / f"round{r}" / name
            assert fa.exists() == fb.exists(), fa
            if fa.exists():
                assert fa.read_bytes() == fb.read_bytes(), fa
        ma = json.loads((a / RUN / f"round{r}/metrics.json").read_text())
        mb = json.loads((b / RUN / f"round{r}/metrics.json").read_text())
        for key in TIMING_KEYS:
            ma.pop(key), mb.pop(key)
        assert ma == mb, r
        import torch

        wa = torch.load(a / RUN / f"round{r}/classifier.pt", weights_only=False)["state_dict"]
        wb = torch.load(b / RUN / f"round{r}/classifier.pt", weights_only=False)["state_dict"]
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), r
    ta = pd.read_parquet(a / "results/tables/rounds.parquet").drop(columns=list(TIMING_KEYS))
    tb = pd.read_parquet(b / "results/tables/rounds.parquet").drop(columns=list(TIMING_KEYS))
    pd.testing.assert_frame_equal(ta, tb)
    assert np.array_equal(ta["accuracy"], tb["accuracy"])


def test_profile_as_shipped_stops_on_a_partition_without_gpus(slurm_cluster, tmp_path):
    """Without the CPU switch, jobs would ask for GPUs that the partition lacks (sbatch:
    "Invalid generic resource (gres) specification"): the run stops at start-up with one
    message naming the partition and the switch, and submits nothing."""
    work = tmp_path / "slurm"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    before = subprocess.run(["squeue", "-h", "--states=all", "-o", "%i"], capture_output=True)
    proc = subprocess.run(slurm_command(work), cwd=work, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log[-3000:]
    assert "SLURM partition 'local' has no GPUs" in log and "training: {device: cpu}" in log
    assert "SLURM jobid" not in log and "Submitted" not in log
    after = subprocess.run(["squeue", "-h", "--states=all", "-o", "%i"], capture_output=True)
    assert after.stdout == before.stdout  # no job reached SLURM
    assert not (work / "results").exists()


def wait_for(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_run_through_slurm_with_a_cancelled_job_equals_local(slurm_cluster, local_run, tmp_path):
    """The tiny config through sbatch, from an empty folder, with scancel on a running round,
    on a cluster with accounting (sacct says "CANCELLED by 0"): the job counts as failed,
    the profile's retries submit it again, and the run finishes by itself, with the same
    results as a local run and nothing left to do."""
    work = tmp_path / "slurm"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(CPU_CONFIG))
    logfile = tmp_path / "run.log"
    t0 = time.monotonic()
    with open(logfile, "w") as fh:
        run = subprocess.Popen(slurm_command(work), cwd=work, stdout=fh, stderr=subprocess.STDOUT)
    try:
        uuid = wait_for(
            lambda: (m := re.search(r"SLURM run ID: (\S+)", logfile.read_text())) and m.group(1),
            120,
            "the run to start",
        )
        labelled = work / RUN / "round1/labelled.parquet"

        def running_round1():
            jobs = [
                j
                for j in slurm_jobs(uuid)
                if "-round1_" in j["comment"] and j["state"] == "RUNNING"
            ]
            return labelled.exists() and jobs

        job = wait_for(running_round1, 600, "round 1 to run")[0]
        subprocess.run(["scancel", job["id"]], check=True)

        def accounted_state():
            # scancel returns before slurmctld has moved the job on: sacct may still give an
            # active state for a moment (the ones local-slurm.sh waits out), so wait for the
            # final one
            state = subprocess.run(
                ["sacct", "-X", "-n", "-P", "-o", "State", "-j", job["id"]],
                capture_output=True,
                text=True,
            ).stdout.strip()
            active = ("PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING")
            return state if state and state not in active else None

        acct = wait_for(accounted_state, 60, "sacct to report the cancelled job")
        assert acct.startswith("CANCELLED by ")  # what the plugin alone would wait on forever
        assert run.wait(timeout=900) == 0, logfile.read_text()[-6000:]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    wall = time.monotonic() - t0
    assert "SLURM jobid" in logfile.read_text()  # it went through sbatch, not a local fallback
    jobs = slurm_jobs(uuid)
    for r in range(3):
        ran = sorted((j for j in jobs if f"-round{r}_" in j["comment"]), key=lambda j: int(j["id"]))
        # one SLURM job per round (train_classifier and select together; round 0's select
        # alone); round 1 twice
        expected = ["CANCELLED", "COMPLETED"] if r == 1 else ["COMPLETED"]
        assert [j["state"] for j in ran] == expected, (r, ran)
    # and one for each of prepare_source, make_split, train_round0 (round 0's classifier),
    # collect_rounds, fig3a (a figure); share_round0 links on the login node
    others = [j for j in jobs if "-round" not in j["comment"]]
    assert len(others) == 5 and all(j["state"] == "COMPLETED" for j in others), others
    for j in jobs:
        assert "gpu" not in j["tres"], j  # the CPU switch: no job asks for a GPU
    print(f"tiny run through SLURM with one scancel: {wall:.0f} s, {len(jobs)} SLURM jobs")
    assert_same_outputs(local_run, work)
    rerun = subprocess.run(slurm_command(work, ["-n"]), cwd=work, capture_output=True, text=True)
    assert "Nothing to be done" in rerun.stdout + rerun.stderr
