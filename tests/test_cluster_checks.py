"""The workflow's SLURM-specific logic without a cluster (vabal.run.cluster): which jobs ask for
a GPU under the CPU switch, the start-up check against sinfo, and the sacct shim that reads
"CANCELLED by <uid>" as CANCELLED. Fake sinfo/sacct programs stand in for SLURM's."""

from __future__ import annotations

import copy
import os
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import REPO, TINY_CONFIG

from vabal.errors import ConfigError
from vabal.plan import config as cfg
from vabal.run import cluster


def tiny(**training) -> dict:
    config = copy.deepcopy(TINY_CONFIG)
    config["methods"] = {"random": {"kind": "random"}, "cs": {"kind": "coreset"}}
    config["training"].update(training)
    return cfg.validate(config)


def fake(tmp_path: Path, name: str, output: str, rc: int = 0) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    prog = folder / name
    prog.write_text(f"#!/bin/sh\ncat <<'OUT'\n{output}\nOUT\nexit {rc}\n")
    prog.chmod(prog.stat().st_mode | stat.S_IEXEC)
    return prog


def test_gpu_requests_and_the_cpu_switch():
    config = tiny()
    # the classifier's training always; a method's own steps as its MethodInfo says
    rules = (*cluster.NETWORK_RULES, "select")
    assert [cluster.gpus(config, r, "digits_plus1", "random") for r in rules] == [1, 0, 0, 0, 0]
    assert [cluster.gpus(config, r, "digits_plus1", "cs") for r in rules] == [1, 1, 0, 0, 1]
    assert cluster.gpus(config, "extract_features", "digits_plus1", None) == 1  # round 0
    assert cluster.gpus(config, "select", "digits_plus1", "cs") == 1
    assert cluster.any_gpu_jobs(config)
    off = tiny(device="cpu")
    for rule in (*cluster.NETWORK_RULES, "select"):
        assert cluster.gpus(off, rule, "digits_plus1", "cs") == 0
    assert not cluster.any_gpu_jobs(off)
    # a dataset's own training override wins over the config's
    mixed = copy.deepcopy(TINY_CONFIG)
    mixed["datasets"]["digits_plus1"]["training"] = {"device": "cpu"}
    assert cluster.gpus(cfg.validate(mixed), "score", "digits_plus1", "random") == 0


SINFO = "cpu*|(null)\ngpu|gpu:a100:4\ngpu|gpu:a100:4,tmpdisk:100\nmixed|(null)\nmixed|gpu:2"


def test_partition_gpus_reads_sinfo(tmp_path):
    sinfo = str(fake(tmp_path, "sinfo", SINFO))
    assert cluster.partition_gpus(None, sinfo) == ("cpu", False)  # the default partition
    assert cluster.partition_gpus("gpu", sinfo) == ("gpu", True)
    assert cluster.partition_gpus("mixed", sinfo) == ("mixed", True)
    assert cluster.partition_gpus("nope", sinfo) is None  # cannot tell: say nothing
    assert cluster.partition_gpus(None, str(tmp_path / "missing")) is None
    broken = str(fake(tmp_path, "sinfo2", "sinfo: error: slurmctld down", rc=1))
    assert cluster.partition_gpus(None, broken) is None


def test_startup_check_names_the_partition_and_the_switch(tmp_path):
    sinfo = str(fake(tmp_path, "sinfo", SINFO))
    with pytest.raises(ConfigError) as err:
        cluster.check_partition_gpus(tiny(), None, sinfo)
    message = str(err.value)
    assert "SLURM partition 'cpu' has no GPUs" in message and "training: {device: cpu}" in message
    cluster.check_partition_gpus(tiny(), "gpu", sinfo)  # GPUs there: nothing to say
    cluster.check_partition_gpus(tiny(device="cpu"), None, sinfo)  # no GPU jobs
    cluster.check_partition_gpus(tiny(), None, str(tmp_path / "missing"))  # cannot tell


def test_default_partition_from_the_resource_settings():
    def wf(resources):
        return SimpleNamespace(resource_settings=SimpleNamespace(default_resources=resources))

    assert cluster.default_partition(wf({"slurm_partition": "'gpu'", "mem_mb": 1})) == "gpu"
    assert cluster.default_partition(wf({"slurm_partition": SimpleNamespace(value="a")})) == "a"
    assert cluster.default_partition(wf({"mem_mb": 1})) is None
    assert cluster.default_partition(wf(None)) is None
    assert cluster.default_partition(SimpleNamespace()) is None
    assert cluster.is_slurm(SimpleNamespace(executor_plugin=SimpleNamespace(name="slurm")))
    assert not cluster.is_slurm(SimpleNamespace(executor_plugin=None))
    from snakemake.resources import Resources  # what Snakemake passes

    real = Resources.from_mapping({"slurm_partition": "gpu", "mem_mb": 8000})
    assert cluster.default_partition(wf(real)) == "gpu"
    assert cluster.default_partition(wf(Resources.from_mapping({"mem_mb": 1}))) is None


def test_sacct_shim_reads_cancelled_by_uid_as_cancelled(tmp_path):
    rows = "12|CANCELLED by 0\n13|COMPLETED\n14|CANCELLED\n15_2|CANCELLED by 1001\n16|RUNNING"
    fake(tmp_path, "sacct", rows)
    env = {**os.environ, "PATH": os.pathsep.join([str(cluster.SHIM_DIR), str(tmp_path / "bin")])}
    env["PATH"] += os.pathsep + "/usr/bin:/bin"
    out = subprocess.run(
        ["sacct", "-X", "--parsable2"], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [
        "12|CANCELLED",
        "13|COMPLETED",
        "14|CANCELLED",
        "15_2|CANCELLED",
        "16|RUNNING",
    ]
    fake(tmp_path, "sacct", "sacct: error: Problem talking to the database", rc=1)
    failed = subprocess.run(["sacct", "-X"], env=env, capture_output=True, text=True)
    assert failed.returncode == 1  # the real sacct's failure is the shim's


def test_use_sacct_shim_puts_it_first_once(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    cluster.use_sacct_shim()
    cluster.use_sacct_shim()
    parts = os.environ["PATH"].split(os.pathsep)
    assert parts[0] == str(cluster.SHIM_DIR) and parts.count(str(cluster.SHIM_DIR)) == 1
    assert cluster.SHIM_DIR == REPO / "slurm" / "bin"
