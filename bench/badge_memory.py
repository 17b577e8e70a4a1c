"""BADGE's selection memory and time on random features (docs/methods/badge.md).

    python bench/badge_memory.py                          # 1000 of 50 000 x 512, 100 classes
    python bench/badge_memory.py --budget 200 --devices cpu
    python bench/badge_memory.py -h

The selection is the one of ``kind: badge`` after its features are read: the class factor
``a = p - e_ŷ`` from float64 probabilities, then k-means++ seeding on ``a ⊗ h``
(``vabal.methods.badge.method``). Its inputs (the ``(n, d)`` float32 features and the
``(n, C)`` float64 probabilities) exist before the measurement; what is measured is the
memory the selection adds on top of them, and its wall time:

* CPU: after a warm-up selection on 64 rows (libraries' code pages and thread pools), the
  peak resident set size above the resident size at the start, read from
  ``/proc/self/status`` (``VmHWM`` after resetting it through ``/proc/self/clear_refs``;
  where that reset is refused, the ``ru_maxrss`` increase, a lower bound);
* CUDA (when present): ``torch.cuda.max_memory_allocated`` above the allocated bytes at
  the start.

The materialised ``(n, C·d)`` float32 embedding is printed beside it for comparison. One line
per device is printed and all of it is written as JSON to ``--out`` (by default
``bench/results/badge-memory-cpu.json``, ``badge-memory-cuda.json`` when CUDA is measured).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vabal.methods.badge.method import gradient_factors, kmeanspp_seeding  # noqa: E402

MIB = 2**20


def status_kib(field: str) -> int | None:
    """A ``VmXXX`` line of ``/proc/self/status`` in KiB (None off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current resident size (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def inputs(n: int, dim: int, classes: int, device: torch.device, seed: int):
    """Random non-negative features (post-ReLU like) and softmax probabilities."""
    gen = torch.Generator().manual_seed(seed)
    h = torch.rand(n, dim, generator=gen).mul_(2.0)
    logits = torch.randn(n, classes, generator=gen, dtype=torch.float64).mul_(3.0)
    probs = torch.softmax(logits, 1)
    del logits
    return h.to(device), probs.to(device)


def select(h, probs, budget: int, chunk: int, seed: int) -> np.ndarray:
    a = gradient_factors(probs).to(torch.float32)
    return kmeanspp_seeding(a, h, budget, np.random.default_rng(seed), chunk)


def measure_cpu(args) -> dict:
    h, probs = inputs(args.n, args.dim, args.classes, torch.device("cpu"), args.seed)
    select(h[:64], probs[:64], 8, args.chunk_size, args.seed)  # code pages, thread pools
    exact = reset_peak_rss() and status_kib("VmHWM") is not None
    start_rss = status_kib("VmRSS") if exact else None
    start_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    t0 = time.perf_counter()
    picked = select(h, probs, args.budget, args.chunk_size, args.seed)
    seconds = time.perf_counter() - t0
    if exact:
        peak_kib, how = status_kib("VmHWM") - start_rss, "VmHWM - VmRSS at start"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_max
        peak_kib, how = peak, "ru_maxrss increase (lower bound)"
    return {
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "seconds": round(seconds, 3),
        "peak_extra_bytes": int(peak_kib) * 1024,
        "peak_measured_as": how,
        "distinct_picks": int(len(set(picked.tolist()))),
    }


def measure_cuda(args) -> dict:
    device = torch.device("cuda")
    h, probs = inputs(args.n, args.dim, args.classes, device, args.seed)
    torch.cuda.synchronize()
    select(h[:64], probs[:64], 8, args.chunk_size, args.seed)  # CUDA context and kernels
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = torch.cuda.memory_allocated()
    t0 = time.perf_counter()
    picked = select(h, probs, args.budget, args.chunk_size, args.seed)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    return {
        "device": torch.cuda.get_device_name(device),
        "seconds": round(seconds, 3),
        "peak_extra_bytes": int(torch.cuda.max_memory_allocated() - start),
        "peak_measured_as": "torch.cuda.max_memory_allocated - memory_allocated at start",
        "distinct_picks": int(len(set(picked.tolist()))),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=50_000, help="pool samples")
    ap.add_argument("--dim", type=int, default=512, help="penultimate feature dimension")
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--budget", type=int, default=1000, help="samples selected")
    ap.add_argument("--chunk-size", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--devices", nargs="+", choices=["cpu", "cuda"], default=None, help="default: cpu, cuda"
    )
    ap.add_argument("--out", type=Path, default=None, help="JSON file written")
    args = ap.parse_args(argv)
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    if "cuda" in devices and not torch.cuda.is_available():
        ap.error("CUDA is not available")
    out = args.out or ROOT / "bench" / "results" / (
        "badge-memory-cuda.json" if "cuda" in devices else "badge-memory-cpu.json"
    )
    n, d, c = args.n, args.dim, args.classes
    report = {
        "what": "BADGE selection (gradient_factors + kmeanspp_seeding) on random features",
        "n": n,
        "dim": d,
        "classes": c,
        "budget": args.budget,
        "chunk_size": args.chunk_size,
        "inputs_bytes": n * d * 4 + n * c * 8,  # float32 features, float64 probabilities
        "explicit_embedding_bytes": n * c * d * 4,  # the (n, C·d) float32 never built
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": [],
    }
    print(
        f"BADGE: {args.budget} of {n} x {d} features, {c} classes; inputs "
        f"{report['inputs_bytes'] / MIB:.0f} MiB, the explicit embedding would be "
        f"{report['explicit_embedding_bytes'] / MIB:.0f} MiB"
    )
    for device in devices:
        res = measure_cpu(args) if device == "cpu" else measure_cuda(args)
        report["results"].append(res)
        print(
            f"  {res['device']}: {res['seconds']:.2f} s, peak +{res['peak_extra_bytes'] / MIB:.1f}"
            f" MiB ({res['peak_measured_as']}), {res['distinct_picks']} distinct picks"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
