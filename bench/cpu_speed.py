"""How fast the classifier trains on this CPU: precision, layout, compile, threads, kernels.

Every measurement runs in a process of its own (the CPU kernels must be chosen before torch
is imported, :mod:`vabal.kernels`) and prints one JSON row; this script gathers them,
prints a line each and writes them all to one JSON file:

* ``step``: the training step of the protocol's classifier (ResNet-18 of width 16, CIFAR
  stem, batch 64 of 32x32x3, SGD with momentum, :class:`vabal.learn.training.TrainStep`)
  in fp32 and under bf16 autocast, with the standard (NCHW) and the channels-last layout,
  eager and ``torch.compile``-d (inductor), with 1 and 2 threads, on this CPU's own kernels
  and on the kernels pinned to AVX2; images per second and the speed-up over today's step
  (fp32, NCHW, eager);
* ``training``: a whole training as a round runs it (:func:`train_classifier`: the epochs'
  augmentation on the device, the steps, then the evaluation of 10 000 test images), one
  thread, for the v1 recipe's path (fp32, NCHW), the default on this CPU (``amp: auto``,
  ``channels_last: auto``) and the protocol's pinned path; training images per second of
  the whole (training and evaluation seconds), and the speed-up over v1's.

    python bench/cpu_speed.py                       # all, JSON to bench/results/
    python bench/cpu_speed.py --sections training   # one section
    python bench/cpu_speed.py --quick               # short runs (what the tests run)

Nothing here is a test: it prints figures (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

BATCH, WIDTH, SIDE, CLASSES = 64, 16, 32, 10


def step_cases(threads: tuple[int, ...], compile_: bool = True, native_bf16=True) -> list[dict]:
    cases = []
    for kernels in ("native", "avx2"):
        for t in threads:
            for amp in ("none", "bf16"):
                if amp == "bf16" and (kernels == "avx2" or not native_bf16):
                    continue  # no native bf16 (the pin, or the CPU): emulated, 20x slower
                for cl in (False, True):
                    cases.append({"kernels": kernels, "threads": t, "amp": amp, "cl": cl})
    precisions = ("none", "bf16") if native_bf16 else ("none",)
    for amp in precisions if compile_ else ():  # inductor: a minute to compile; one thread
        for cl in (False, True):
            cases.append({"kernels": "native", "threads": 1, "amp": amp, "cl": cl, "compile": True})
    return cases


TRAININGS = {
    "v1 path (fp32, NCHW)": {"kernels": "native", "amp": "none", "channels_last": False},
    "default here (amp auto, channels_last auto)": {"kernels": "native"},
    "protocol (pinned avx2, fp32, channels-last)": {
        "kernels": "avx2",
        "amp": "none",
        "channels_last": True,
    },
}


def name_of(case: dict) -> str:
    dtype = "bf16 autocast" if case["amp"] == "bf16" else "fp32"
    layout = "channels-last" if case["cl"] else "NCHW"
    compiled = ", torch.compile" if case.get("compile") else ""
    return f"{dtype}, {layout}{compiled}, {case['threads']} thread(s), {case['kernels']} kernels"


# ----------------------------------------------------------------------------- children
def run_step(case: dict, quick: bool) -> dict:
    import torch

    from vabal.learn.models import build_classifier
    from vabal.learn.training import Compute, TrainStep
    from vabal.plan.config import TRAINING_DEFAULTS

    torch.set_num_threads(case["threads"])
    recipe = {
        **TRAINING_DEFAULTS,
        "width": WIDTH,
        "lr": 0.05,
        "amp": case["amp"],
        "channels_last": case["cl"],
        "compile": bool(case.get("compile")),
        "device": "cpu",
    }
    compute = Compute.of(recipe, torch.device("cpu"))
    model = compute.model(build_classifier("resnet18", CLASSES, 3, WIDTH, seed=0))
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (BATCH, SIDE, SIDE, 3), dtype=torch.uint8, generator=gen)
    data = compute.images(images.numpy(), [0.5] * 3, [0.25] * 3)
    x, y = data.data, torch.randint(0, CLASSES, (BATCH,), generator=gen)
    step = TrainStep(model, data, recipe, compute.dtype, fast=True)
    start = time.perf_counter()
    for _ in range(2 if quick else 5):
        step(x, y)
    warm = time.perf_counter() - start
    n = 3 if quick else 40
    start = time.perf_counter()
    for _ in range(n):
        step(x, y)
    seconds = time.perf_counter() - start
    return {"images_per_s": BATCH * n / seconds, "warmup_s": warm, "steps": n}


def run_training(case: dict, quick: bool) -> dict:
    import numpy as np
    import torch

    from vabal.learn.training import Compute, predict_logits, train_classifier
    from vabal.plan.config import TRAINING_DEFAULTS

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n, test = (256, 256) if quick else (1500, 10_000)
    images = rng.integers(0, 256, (n, SIDE, SIDE, 3), dtype=np.uint8)
    labels = rng.integers(0, CLASSES, n)
    test_images = rng.integers(0, 256, (test, SIDE, SIDE, 3), dtype=np.uint8)
    recipe = {
        **TRAINING_DEFAULTS,
        "width": WIDTH,
        "batch_size": BATCH,
        "lr": 0.05,
        "images": 1024 if quick else 12_800,
        "lr_drops": [0.8],
        "eval_batch_size": 128,
        "device": "cpu",
        **{k: v for k, v in case.items() if k != "kernels"},
    }
    start = time.perf_counter()
    model, history = train_classifier(images, labels, CLASSES, [0.5] * 3, [0.25] * 3, recipe, 0, 0)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    predict_logits(model, test_images, [0.5] * 3, [0.25] * 3, 128, recipe["amp"],
                   recipe["channels_last"])  # fmt: skip
    eval_s = time.perf_counter() - start
    seen = sum(h["images"] for h in history)
    compute = Compute.of(recipe, torch.device("cpu"))
    return {
        "images_per_s": seen / (train_s + eval_s),
        "train_images_per_s": seen / train_s,
        "train_s": train_s,
        "eval_s": eval_s,
        "eval_images_per_s": test / eval_s,
        "images": seen,
        "test_images": test,
        "compute": compute.describe(),
    }


def child(args) -> int:
    from vabal import kernels
    from vabal.report.provenance import platform

    kernels.verify()
    case = json.loads(args.case)
    row = run_step(case, args.quick) if args.section == "step" else run_training(case, args.quick)
    print(json.dumps({**row, "platform": platform()}))
    return 0


# ----------------------------------------------------------------------------- parent
def measure(section: str, case: dict, quick: bool) -> dict:
    from vabal import kernels

    env = {**os.environ, **kernels.environment(case["kernels"]), "PYTHONPATH": str(ROOT / "src")}
    threads = str(case.get("threads", 1))
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    cmd = [sys.executable, __file__, "child", section, json.dumps(case)]
    proc = subprocess.run(
        cmd + (["--quick"] if quick else []), capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:  # recorded, not fatal: e.g. a crash of compiled code
        lines = [x for x in proc.stderr.strip().splitlines() if not x.startswith("W")]
        return {"error": (lines or ["no message"])[-1][:300], "returncode": proc.returncode}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command")
    c = sub.add_parser("child")
    c.add_argument("section", choices=["step", "training"])
    c.add_argument("case")
    c.add_argument("--quick", action="store_true")
    p.add_argument("--sections", nargs="+", default=["step", "training"])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--quick", action="store_true", help="a few steps each, no compile (tests)")
    p.add_argument(
        "--json", type=Path, default=None, help="default: bench/results/cpu-speed-<date>.json"
    )
    args = p.parse_args(argv)
    if args.command == "child":
        return child(args)

    rows = []
    from vabal.learn.training import cpu_has_fast_bf16
    from vabal.report.provenance import platform

    here = platform()
    bf16 = cpu_has_fast_bf16()
    decision = {
        "section": "default",
        "name": "amp: auto on this CPU",
        "value": "bf16" if bf16 else "fp32",
        "reason": (
            "native bf16 (AVX512-BF16 or AMX)"
            if bf16
            else "no native bf16 on this CPU: amp auto keeps fp32 (bf16 would be emulated)"
        ),
        "platform": here,
    }
    rows.append(decision)
    print(f"[default] {decision['name']}: {decision['value']} ({decision['reason']}); "
          f"{here['cpu']}, flags {', '.join(here['cpu_flags'])}", flush=True)  # fmt: skip

    def add(section, name, row, baseline=None):
        row = {"section": section, "name": name, **row}
        rows.append(row)
        if "error" in row:
            print(f"[{section}] {name}: failed ({row['error']})", flush=True)
            return
        if baseline:
            row["speedup"] = row["images_per_s"] / baseline
        extra = f" ({row['speedup']:.2f}x)" if baseline else ""
        print(f"[{section}] {name}: {row['images_per_s']:.0f} img/s{extra}", flush=True)

    if "step" in args.sections:
        base = None
        for case in step_cases(tuple(args.threads), compile_=not args.quick, native_bf16=bf16):
            row = measure("step", case, args.quick)
            if base is None:  # today's step: fp32, NCHW, eager, native kernels, 1 thread
                base = row["images_per_s"]
            add("step", name_of(case), {**row, "case": case}, base)
    if "training" in args.sections:
        base = None
        for name, case in TRAININGS.items():
            row = measure("training", case, args.quick)
            base = base or row["images_per_s"]
            add("training", name, {**row, "case": case}, base)
    out = args.json or ROOT / "bench" / "results" / f"cpu-speed-{time.strftime('%Y-%m-%d')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
