"""The CPU kernels every job runs: the best this CPU has, or one instruction set pinned.

PyTorch chooses its CPU kernels from the CPU at hand: ATen's vectorised loops (AVX2 or
AVX-512), oneDNN's convolutions (AVX2, AVX-512, AVX512-BF16, AMX) and MKL's GEMMs each
take the widest instructions they find. The kernels sum in different orders, so the same
seed gives other weights on another kind of CPU, and a short training amplifies that
rounding into points of accuracy. ``cpu_kernels: avx2`` (or ``avx512``) sets, before torch
is imported, ATen's capability (``ATEN_CPU_CAPABILITY``), oneDNN's ceiling
(``ONEDNN_MAX_CPU_ISA``) and MKL's code path (``MKL_CBWR``), so that every CPU with that
instruction set runs the same kernels and gives the same numbers to the digit (with the same
thread count: each job's comes from Snakemake). ``native`` changes nothing.

The pin is applied where a job's process starts (:func:`pin`, called by
:func:`vabal.run.step.run`) and to the fork server's environment (it imports torch once for
every local job); :func:`verify` checks, where a job first asks for a device, that torch
runs the pinned kernels, and fails with one message otherwise (torch imported before the
pin, or a CPU without that instruction set).
"""

from __future__ import annotations

import functools
import os
import sys

from vabal.errors import ConfigError

#: the environment of each pin, read by torch, oneDNN and MKL when they load
PINS = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"},
    "avx512": {
        "ATEN_CPU_CAPABILITY": "avx512",
        "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
        "MKL_CBWR": "AVX512",
    },
}
#: what ``torch.backends.cpu.get_cpu_capability()`` reports under each pin
CAPABILITY = {"avx2": "AVX2", "avx512": "AVX512"}
#: the job's pin, for :func:`verify` (set by :func:`pin`)
ENV = "VABAL_CPU_KERNELS"


def environment(kind: str) -> dict[str, str]:
    """The variables that pin ``kind`` (none for ``native``)."""
    if kind != "native" and kind not in PINS:
        raise ConfigError(f"config error at cpu_kernels: unknown {kind!r} (native, avx2, avx512)")
    return {**PINS.get(kind, {}), ENV: kind}


def pin(kind: str, env=os.environ) -> None:
    """Pin this process's CPU kernels to ``kind`` (before torch is imported)."""
    env.update(environment(kind))
    verify.cache_clear()
    if "torch" in sys.modules:  # a fork server's child: the server was started pinned
        verify()


def pinned() -> str:
    return os.environ.get(ENV, "native")


def allows_bf16() -> bool:
    """False under a pin: its instruction sets have no native bf16 (and a pinned run must
    not depend on whether the CPU has it)."""
    return pinned() == "native"


@functools.cache
def verify() -> None:
    """Fail when the pinned kernels are not the ones torch runs."""
    kind = pinned()
    if kind == "native":
        return
    import torch

    running = torch.backends.cpu.get_cpu_capability()
    if running != CAPABILITY[kind]:
        raise ConfigError(
            f"config error at cpu_kernels: {kind} asked, but torch runs {running} kernels "
            f"(a CPU without {CAPABILITY[kind]}, or torch imported before the pin); "
            "use cpu_kernels: avx2, which every x86-64 CPU of the last decade has"
        )
