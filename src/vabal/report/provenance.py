"""Which code and which config made a results table.

Every table the pipeline writes (``rounds.parquet``, the data file beside each figure, the
paper's tables) carries two columns: ``code_version`` (the package version and, in a git
checkout, ``git describe --always --dirty``) and ``config_sha256`` (SHA-256 of the validated
config, defaults filled, as canonical JSON). The run filters (``only_*``, ``skip_*``) and
``results`` are left out of the hash: they choose what is computed and where it goes, not
what a result is, so a partial rerun stamps the same hash as a full one.

The values are computed inside the job that writes the table (from the config Snakemake
hands it), not passed as rule parameters: a new commit or an edit elsewhere in the config
does not make Snakemake redraw every figure, and a table keeps the stamp of the run that
actually made it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from pathlib import Path

#: Config keys that select or place results without changing them.
UNHASHED_KEYS = (
    "results",
    "only_datasets",
    "only_methods",
    "only_seeds",
    "skip_datasets",
    "skip_methods",
    "skip_seeds",
)
COLUMNS = ("code_version", "config_sha256")


@functools.cache
def code_version() -> str:
    """``<package version>`` or ``<package version>+g<git describe>`` in a git checkout."""
    from vabal import __version__

    root = Path(__file__).resolve().parents[3]
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return __version__
    described = proc.stdout.strip()
    return f"{__version__}+git.{described}" if proc.returncode == 0 and described else __version__


#: the CPU flags that decide which kernels torch runs
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


#: torch's own CPUID probes, by flag: what the CPU tells this process it has (under an
#: emulator, /proc/cpuinfo still describes the host)
CPUID_PROBES = {
    "avx2": "_is_avx2_supported",
    "avx512f": "_is_avx512_supported",
    "avx512_vnni": "_is_vnni_supported",
    "avx512_bf16": "_is_avx512_bf16_supported",
    "amx_tile": "_is_amx_tile_supported",
}


def _cpu() -> tuple[str, list[str]]:
    """The CPU's model name and which of :data:`CPU_FLAGS` it has: Linux's /proc/cpuinfo,
    less what torch's CPUID probes deny (:data:`CPUID_PROBES`)."""
    import platform as py_platform

    import torch

    model, flags = py_platform.processor() or py_platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", py_platform.machine()):
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    for flag, probe in CPUID_PROBES.items():
        if flag in flags and not getattr(torch.cpu, probe, lambda: True)():
            flags.discard(flag)
    if "avx512f" not in flags:  # no member of a family without its base
        flags -= {"avx512_vnni", "avx512_bf16"}
    if "amx_tile" not in flags:
        flags.discard("amx_bf16")
    return model, [f for f in CPU_FLAGS if f in flags]


def platform() -> dict:
    """Where a job ran: the CPU (model, vector extensions, the kernels torch runs and the
    pin, if any), torch's and oneDNN's versions, the threads, and the CUDA device if one."""
    import re

    import torch

    from vabal import kernels

    model, flags = _cpu()
    onednn = re.search(r"MKL-DNN v([\d.]+)", torch.__config__.show())
    cuda = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {
        "cpu": model,
        "cpu_flags": flags,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_kernels": kernels.pinned(),
        "torch": torch.__version__,
        "onednn": onednn.group(1) if onednn else None,
        "threads": torch.get_num_threads(),
        "cuda_device": cuda,
    }


def platform_line(info: dict | None) -> str:
    """:func:`platform` in one line, for a table's column."""
    if not info:
        return ""
    pin = "" if info["cpu_kernels"] == "native" else f" pinned {info['cpu_kernels']}"
    device = f"; {info['cuda_device']}" if info.get("cuda_device") else ""
    return (
        f"{info['cpu']} ({info['cpu_capability']}{pin}); torch {info['torch']}, oneDNN "
        f"{info['onednn']}; {info['threads']} threads{device}"
    )


def canonical_config(config: dict) -> dict:
    """The part of a config that determines results (see :data:`UNHASHED_KEYS`)."""
    return {k: v for k, v in config.items() if k not in UNHASHED_KEYS}


def config_sha256(config: dict) -> str:
    text = json.dumps(canonical_config(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def stamp(config: dict | None) -> dict:
    """``{"code_version": ..., "config_sha256": ...}`` for ``config`` (None: hash unknown)."""
    return {
        "code_version": code_version(),
        "config_sha256": config_sha256(config) if config is not None else "",
    }


def add_columns(frame, prov: dict | None):
    """``frame`` with the provenance columns appended (a copy)."""
    frame = frame.copy()
    for key in COLUMNS:
        frame[key] = (prov or {}).get(key, "")
    return frame


def write_page(page, sidecar, config: dict, prov: dict) -> None:
    """The provenance of a results folder: an HTML page for the report (code version,
    config hash, run filters, the config itself) and the same as JSON."""
    import html

    import yaml

    from vabal import io
    from vabal.plan import grid

    filters = {k: config[k] for k in UNHASHED_KEYS if k != "results" and config.get(k)}
    runs = list(grid.runs(config))
    info = {
        **prov,
        "results": config.get("results"),
        "filters": filters,
        "runs_selected": len(runs),
        "runs_in_config": sum(1 for _ in grid.runs(config, filtered=False)),
        "config": canonical_config(config),
    }
    io.write_json(sidecar, info)
    text = yaml.safe_dump(info["config"], sort_keys=False, allow_unicode=True)
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(str(v))}</code></td></tr>"
        for k, v in [
            ("code version", prov["code_version"]),
            ("config sha256", prov["config_sha256"]),
            ("run filters", filters or "none"),
            ("runs selected / in config", f"{info['runs_selected']} / {info['runs_in_config']}"),
        ]
    )
    page_text = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><style>"
        "body{font-family:sans-serif;font-size:13px}th{text-align:left;padding-right:12px}"
        "</style></head><body><h3>Provenance of the per-round table</h3>"
        f"<table>{rows}</table><p>Every table (rounds.parquet, each figure's data file, "
        "the paper's tables) records the code version and config hash of the job that "
        "wrote it in its columns code_version and config_sha256.</p>"
        f"<h4>Config (hashed part)</h4><pre>{html.escape(text)}</pre></body></html>\n"
    )
    with io.atomic_path(page) as tmp:
        tmp.write_text(page_text)
