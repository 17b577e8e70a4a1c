"""The CPU kernel pin (cpu_kernels) and the platform every round records."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, TINY_CONFIG, run_snakemake

from vabal import kernels, layout
from vabal.errors import ConfigError
from vabal.plan import config as cfg

PROBE = """
import json, sys
sys.path.insert(0, {src!r})
from vabal import kernels
kernels.pin({kind!r})
import torch
from vabal.learn.training import amp_dtype, resolve_device
from vabal.report.provenance import platform
resolve_device("cpu")  # checks the pin
print(json.dumps({{**platform(), "bf16": amp_dtype("auto", torch.device("cpu")) is not None}}))
"""


def probe(kind: str, env: dict | None = None) -> subprocess.CompletedProcess:
    code = PROBE.format(src=str(REPO / "src"), kind=kind)
    clean = {k: v for k, v in os.environ.items() if k not in kernels.PINS["avx2"]}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**clean, **(env or {})}
    )


def test_each_pin_names_the_kernels_of_torch_onednn_and_mkl():
    assert kernels.environment("avx2") == {
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_CBWR": "AVX2",
        kernels.ENV: "avx2",
    }
    assert kernels.environment("native") == {kernels.ENV: "native"}
    with pytest.raises(ConfigError, match="cpu_kernels"):
        kernels.environment("sse2")


def test_a_pinned_process_runs_avx2_kernels_in_fp32_and_says_so():
    proc = probe("avx2")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.splitlines()[-1])
    assert info["cpu_capability"] == "AVX2" and info["cpu_kernels"] == "avx2"
    assert info["bf16"] is False  # no native bf16 under a pin, whatever the CPU has
    assert info["torch"].startswith("2.") and info["onednn"] and info["threads"] >= 1
    assert set(info["cpu_flags"]) <= set(
        ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")
    )


def test_the_flags_are_what_the_cpu_tells_the_process(monkeypatch):
    """Under an emulator /proc/cpuinfo describes the host: a flag torch's CPUID probe denies
    is left out, with the extensions that need it."""
    import torch

    from vabal.report import provenance

    monkeypatch.setattr(torch.cpu, "_is_avx512_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    flags = provenance.platform()["cpu_flags"]
    assert not {"avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16"} & set(flags)


def test_native_kernels_are_this_cpus_own():
    info = json.loads(probe("native").stdout.splitlines()[-1])
    assert info["cpu_kernels"] == "native"
    if "avx512f" in info["cpu_flags"]:
        assert info["cpu_capability"] == "AVX512"


def test_a_pin_that_torch_does_not_run_is_one_error():
    """torch imported before the pin (or a CPU without the instruction set): the first job
    that asks for a device stops with one message."""
    code = f"""
import sys
sys.path.insert(0, {str(REPO / "src")!r})
import torch
from vabal import kernels
from vabal.errors import ConfigError
import os
os.environ[kernels.ENV] = "avx512"
kernels.verify.cache_clear()
try:
    kernels.verify()
except ConfigError as exc:
    print("ERROR", exc)
else:
    print("OK", torch.backends.cpu.get_cpu_capability())
"""
    clean = {k: v for k, v in os.environ.items() if k not in kernels.PINS["avx2"]}
    clean["ATEN_CPU_CAPABILITY"] = "avx2"  # torch runs AVX2 kernels, the pin says AVX-512
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean)
    assert out.stdout.startswith("ERROR config error at cpu_kernels: avx512 asked, but torch")


def test_cpu_kernels_is_checked_by_the_schema():
    config = copy.deepcopy(TINY_CONFIG)
    config["cpu_kernels"] = "avx2"
    validated = cfg.validate(config)
    assert cfg.training_recipe(validated, "digits_plus1")["cpu_kernels"] == "avx2"
    bad = {**copy.deepcopy(TINY_CONFIG), "cpu_kernels": "fast"}
    with pytest.raises(ConfigError, match="cpu_kernels"):
        cfg.validate(bad)


def test_a_length_in_epochs_and_in_images_at_once_is_refused():
    config = copy.deepcopy(TINY_CONFIG)
    config["training"]["images"] = 1000  # beside the tiny config's epochs
    with pytest.raises(ConfigError, match="in epochs or in images, not both"):
        cfg.validate(config)
    # a dataset's epochs replace the config's images
    config["training"].pop("epochs")
    config["datasets"]["digits_plus1"]["training"] = {"epochs": 3}
    recipe = cfg.training_recipe(cfg.validate(config), "digits_plus1")
    assert recipe["images"] is None and recipe["epochs"] == 3
    drops = copy.deepcopy(TINY_CONFIG)
    drops["training"]["lr_drops"] = [1.5]
    with pytest.raises(ConfigError, match="lr_drops"):
        cfg.validate(drops)


@pytest.mark.slow
@pytest.mark.parametrize("forkserver", ["on", "off"])
def test_a_pinned_workflow_records_its_platform(forkserver, tmp_path):
    """Every job of a run with cpu_kernels: avx2 runs the pinned kernels, through the fork
    server or in a process of its own; the round's metrics say where it ran."""
    config = copy.deepcopy(TINY_CONFIG)
    config["cpu_kernels"] = "avx2"
    run = {"dataset": "digits_plus1", "method": "random", "seed": 0}
    target = layout.round_path("metrics.json", "results", **run, round=1)
    env = {} if forkserver == "on" else {"VABAL_FORKSERVER": "off"}
    run_snakemake(tmp_path, config, targets=[target], env=env)
    for r in (0, 1):
        path = tmp_path / layout.round_path("metrics.json", "results", **run, round=r)
        info = json.loads(path.read_text())["platform"]
        assert info["cpu_capability"] == "AVX2" and info["cpu_kernels"] == "avx2", info
        assert info["threads"] == 1
    assert (REPO / "src").exists()
