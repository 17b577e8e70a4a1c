"""Which classifier recipe for a CPU: balanced test accuracy against CPU seconds.

Each candidate recipe trains the protocol's classifier (``configs/cpu.yaml``: ResNet-18 of
width 16, the CIFAR stem) on random labelled sets of the protocol's datasets and is
evaluated on their balanced test sets, 3 seeds each:

* CIFAR-10+[1] (airplane dominant) at 500 labels (the split's initial set, round 0 of every
  run of that seed) and 1500 (those 500 and 1000 more drawn at random from the pool);
* NEU at 250 (round 0) and 1000.

Every training runs in a process of its own with one thread and the CPU kernels of its
candidate (``avx2``: pinned, :mod:`vabal.kernels`, the same numbers on every x86-64 CPU;
``native``: what this CPU has), so ``--jobs 2`` fills two cores. A finished cell is one line
of the cells file and is never trained again: a stopped study resumes with the same command.

    python bench/recipe_study.py run --jobs 2                  # every cell, in order
    python bench/recipe_study.py run --only w16-60k v1         # some candidates
    python bench/recipe_study.py report                        # JSON, table and figure
    python bench/recipe_study.py check --only v1 --datasets neu  # same numbers here?

``check`` trains recorded cells again on this machine and compares their accuracies with the
cells file, digit for digit (and the SHA-256 of their test logits where recorded): under
pinned kernels they must be equal on any x86-64 CPU (the platform of each is printed beside
it). ``--launcher`` runs each cell under another program, e.g. QEMU's user mode emulating
an AVX2-only CPU. Emulated AVX2 runs at about 8 MFLOP/s (QEMU 7.2), so the emulated check
trains ``probe-emulated`` (one step, 32 test images; ``probe``, 640 images, needs about
12 hours there); ``probe-emulated@native``, the same under this CPU's own kernels, shows
that its logits see a change of kernels (their SHA-256 differs):

    python bench/recipe_study.py run --only probe-emulated probe-emulated@native \
        --cells bench/results/cross-cpu.jsonl
    python bench/recipe_study.py check --only probe-emulated --seeds 0 \
        --cells bench/results/cross-cpu.jsonl --launcher "qemu-x86_64 -cpu Haswell" \
        --out bench/results/cross-cpu-haswell.json

``report`` writes ``bench/results/recipe-study-cpu.json`` (every cell and the summary),
``docs/results/recipe_study.md`` (the table of docs/results.md) and
``docs/results/recipe_study.png`` (accuracy against CPU seconds).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CONFIG = ROOT / "configs" / "cpu-v1.yaml"  # the sources, datasets and the v1 recipe
CELLS = ROOT / "bench" / "results" / "recipe-study-cpu.jsonl"
JSON = ROOT / "bench" / "results" / "recipe-study-cpu.json"
TABLE = ROOT / "docs" / "results" / "recipe_study.md"
FIGURE = ROOT / "docs" / "results" / "recipe_study.png"

#: labelled-set sizes per dataset (the first is the split's initial set)
BUDGETS = {"cifar10_plus1": (500, 1500), "neu": (250, 1000)}
SEEDS = (0, 1, 2)
ALL = tuple(BUDGETS)

#: the protocol's fast fp32 path: pinned kernels, fp32, channels-last
FP32 = {"amp": "none", "channels_last": True}


def images(n: int, **extra) -> dict:
    """A training of ``n`` images, the step schedule's drop at 80 % (the paper's 160/200)."""
    return {"images": n, "lr_schedule": "multistep", "lr_drops": [0.8], **FP32, **extra}


#: one step (a batch of 64) of the chosen recipe: the emulated-CPU probe's training
ONE_STEP = images(32, lr_schedule="onecycle", warmup=0.2, lr=0.1, tta_flip=True)

#: name -> (what it tests, recipe keys over configs/cpu-v1.yaml's, kernels, datasets,
#: budgets (None: both)); in the order they run
CANDIDATES = {
    "v1": (
        "the v1 protocol: 12 epochs, lr x0.1 after 10, fp32 NCHW",
        {"amp": "none", "channels_last": False},
        "avx2",
        ALL,
        None,
    ),
    "w16-30k": ("30 000 images", images(30_000), "avx2", ALL, None),
    "w16-60k": ("60 000 images", images(60_000), "avx2", ALL, None),
    "w16-60k-1cyc": (
        "60 000 images, one-cycle (warm-up 20 %, linear to 0)",
        images(60_000, lr_schedule="onecycle", warmup=0.2),
        "avx2",
        ALL,
        None,
    ),
    "w16-60k-cos": ("60 000 images, cosine schedule", images(60_000, lr_schedule="cosine"),
                    "avx2", ALL, None),
    "w16-60k-early": ("60 000 images, lr x0.1 after 25 %", images(60_000, lr_drops=[0.25]),
                      "avx2", ALL, None),
    "w16-60k-1cyc-ls": (
        "60 000 images, one-cycle, label smoothing 0.2",
        images(60_000, lr_schedule="onecycle", warmup=0.2, label_smoothing=0.2),
        "avx2",
        ALL,
        None,
    ),
    "w16-60k-1cyc-lr0.1": (
        "60 000 images, one-cycle to lr 0.1",
        images(60_000, lr_schedule="onecycle", warmup=0.2, lr=0.1),
        "avx2",
        ALL,
        None,
    ),
    "w16-100k-1cyc": (
        "100 000 images, one-cycle",
        images(100_000, lr_schedule="onecycle", warmup=0.2),
        "avx2",
        ALL,
        None,
    ),
    "w32-30k": ("width 32, 30 000 images", images(30_000, width=32), "avx2",
                ("cifar10_plus1",), None),
    # kernel sensitivity: the same seeds under this CPU's own fp32 kernels
    "v1@native": (
        "v1, this CPU's own fp32 kernels",
        {"amp": "none", "channels_last": False},
        "native",
        ALL,
        None,
    ),
    "w16-60k-1cyc@native": (
        "60 000 images, one-cycle, this CPU's own fp32 kernels",
        images(60_000, lr_schedule="onecycle", warmup=0.2),
        "native",
        ALL,
        None,
    ),
    # precision: bf16 autocast where the CPU has it natively
    "w16-60k-1cyc-bf16": (
        "60 000 images, one-cycle, bf16 autocast",
        images(60_000, lr_schedule="onecycle", warmup=0.2, amp="bf16"),
        "native",
        ALL,
        (1500, 1000),
    ),
    # a short training of the chosen recipe: cheap enough to run under an emulated CPU
    # (check --launcher), its test logits compared bit for bit (cross-cpu cells file)
    "probe": (
        "640 images of the chosen recipe (a cross-CPU probe, not a candidate)",
        images(640, lr_schedule="onecycle", warmup=0.2, lr=0.1, tta_flip=True),
        "avx2",
        ("neu",),
        (250,),
    ),
    # QEMU 7.2's TCG runs AVX2 code at about 8 MFLOP/s (a 640-image probe: about 12 h), so
    # the emulated check runs one step of the chosen recipe, tested on TEST_IMAGES images
    "probe-emulated": (
        "one step (64 images) of the chosen recipe, 32 test images (an emulated-CPU probe)",
        ONE_STEP,
        "avx2",
        ("neu",),
        (250,),
    ),
    "probe-emulated@native": (
        "the emulated-CPU probe under this CPU's own kernels: does the probe see rounding?",
        ONE_STEP,
        "native",
        ("neu",),
        (250,),
    ),
    # the chosen recipe (one-cycle to lr 0.1): kernel sensitivity and bf16 on it
    "w16-60k-1cyc-lr0.1@native": (
        "60 000 images, one-cycle to lr 0.1, this CPU's own fp32 kernels",
        images(60_000, lr_schedule="onecycle", warmup=0.2, lr=0.1),
        "native",
        ("neu",),
        (250,),  # where v1 moves most
    ),
    "w16-60k-1cyc-lr0.1-bf16": (
        "60 000 images, one-cycle to lr 0.1, bf16 autocast",
        images(60_000, lr_schedule="onecycle", warmup=0.2, lr=0.1, amp="bf16"),
        "native",
        ("cifar10_plus1",),
        (1500,),
    ),
}  # fmt: skip


#: candidates tested on N of the test images, evenly spaced (the rest: the whole test set)
TEST_IMAGES = {"probe-emulated": 32, "probe-emulated@native": 32}


def cells(only=None):
    """Every (candidate, dataset, labels, seed) to train, in order."""
    for name, (_, _, _, datasets, budgets) in CANDIDATES.items():
        if only and name not in only:
            continue
        for dataset in datasets:
            for labels in budgets or BUDGETS[dataset]:
                if labels not in BUDGETS[dataset]:
                    continue
                for seed in SEEDS:
                    yield {"candidate": name, "dataset": dataset, "labels": labels, "seed": seed}


def key(cell: dict) -> tuple:
    return cell["candidate"], cell["dataset"], cell["labels"], cell["seed"]


# ----------------------------------------------------------------------------- one cell
def labelled_set(split, labels: int, seed: int):
    """The split's initial set, topped up to ``labels`` with pool samples drawn at random."""
    import numpy as np

    from vabal import seeding

    initial = split["sample_id"].to_numpy()[split["initial"].to_numpy()]
    pool = split["sample_id"].to_numpy()[split["role"].to_numpy() == "pool"]
    rest = seeding.rng(seed, "recipe-study", labels).permutation(np.setdiff1d(pool, initial))
    return np.sort(np.concatenate([initial, rest[: labels - len(initial)]]))


def run_cell(cell: dict, results: Path) -> dict:
    """Train and evaluate one cell (in this process: its kernels are pinned already)."""
    import numpy as np
    import torch

    from vabal.data import store as store_mod
    from vabal.data.splits import make_split
    from vabal.learn.evaluation import classification_metrics
    from vabal.learn.training import predict_logits, train_classifier
    from vabal.plan import config as cfg
    from vabal.report.provenance import platform

    torch.set_num_threads(1)
    config = cfg.load(CONFIG)
    ds = config["datasets"][cell["dataset"]]
    source = config["sources"][ds["source"]]
    store_dir = results / "data" / ds["source"]
    if not (store_dir / "meta.json").exists():
        store_mod.prepare(source, store_dir)
    store = store_mod.load(store_dir)
    split = make_split(store.samples, store.num_classes, ds, cell["seed"], cell["dataset"])
    ids = labelled_set(split, cell["labels"], cell["seed"])
    test = split["sample_id"].to_numpy()[split["role"].to_numpy() == "test"]
    if cell["candidate"] in TEST_IMAGES:  # every k-th: each class still tested
        n = TEST_IMAGES[cell["candidate"]]
        test = test[:: len(test) // n][:n]
    recipe = cfg.training_recipe(config, cell["dataset"])
    recipe.update({**CANDIDATES[cell["candidate"]][1], "device": "cpu"})
    mean, std = store.meta["mean"], store.meta["std"]
    labels = store.samples["label"].to_numpy()

    wall, cpu = time.perf_counter(), time.process_time()
    model, history = train_classifier(
        np.asarray(store.images[ids]), labels[ids], store.num_classes, mean, std, recipe,
        cell["seed"], 0,
    )  # fmt: skip
    train = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
    wall, cpu = time.perf_counter(), time.process_time()
    test_images = np.asarray(store.images[test])
    out = {}
    for tta in (False, True):
        logits = predict_logits(
            model, test_images, mean, std, recipe["eval_batch_size"], recipe["amp"],
            recipe["channels_last"], tta,
        )  # fmt: skip
        metrics = classification_metrics(logits, labels[test], store.num_classes)
        metrics["logits_sha256"] = hashlib.sha256(np.ascontiguousarray(logits)).hexdigest()
        out["tta" if tta else "plain"] = metrics
        if not tta:
            eval_once = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
    return {
        **cell,
        "balanced_accuracy": out["plain"]["balanced_accuracy"],
        "accuracy": out["plain"]["accuracy"],
        "balanced_accuracy_tta": out["tta"]["balanced_accuracy"],
        "per_class_accuracy": out["plain"]["per_class_accuracy"],
        "test_logits_sha256": out["plain"]["logits_sha256"],
        "train_seconds": train["wall"],
        "train_cpu_seconds": train["cpu"],
        "eval_seconds": eval_once["wall"],
        "eval_cpu_seconds": eval_once["cpu"],
        "n_test": len(test),
        "steps": history[-1]["steps"],
        "images": sum(h["images"] for h in history),
        "final_train_loss": history[-1]["loss"],
        "final_train_acc": history[-1]["train_acc"],
        "recipe": {k: recipe[k] for k in sorted(recipe) if k != "augment"},
        "platform": platform(),
    }


# ----------------------------------------------------------------------------- the runner
def run(args, chosen: list[dict] | None = None) -> int:
    """Train the cells (of ``--only`` / ``--datasets``, or ``chosen``) not in the cells file."""
    from vabal import kernels

    done = set()
    if args.cells.exists():
        for line in args.cells.read_text().splitlines():
            if line.strip():
                done.add(key(json.loads(line)))
    todo = [
        c
        for c in (chosen or cells(args.only))
        if key(c) not in done
        and (not getattr(args, "datasets", None) or c["dataset"] in args.datasets)
    ]
    print(f"{len(done)} cells done, {len(todo)} to train", flush=True)
    lock = threading.Lock()
    failed = []

    def one(cell: dict) -> None:
        env = {**os.environ, **kernels.environment(CANDIDATES[cell["candidate"]][2])}
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
        cmd = [sys.executable, __file__, "cell", json.dumps(cell), "--results", str(args.results)]
        cmd = shlex.split(getattr(args, "launcher", None) or "") + cmd
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            failed.append(cell)
            print(f"FAILED {key(cell)}: {proc.stderr.strip()[-2000:]}", flush=True)
            return
        row = json.loads(lines[-1])
        with lock, args.cells.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(
            f"{row['candidate']:>16} {row['dataset']:>14} {row['labels']:>5} seed {row['seed']}:"
            f" balanced {100 * row['balanced_accuracy']:.2f} % (TTA "
            f"{100 * row['balanced_accuracy_tta']:.2f}) in {row['train_seconds']:.0f} s",
            flush=True,
        )

    args.cells.parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(one, todo))
    return 1 if failed else 0


def check(args) -> int:
    """Train recorded cells again here and compare their accuracies with the record."""
    import tempfile

    recorded = {}
    for line in args.cells.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            recorded[key(row)] = row
    chosen = [
        c
        for c in cells(args.only)
        if key(c) in recorded
        and (not args.datasets or c["dataset"] in args.datasets)
        and (not args.seeds or c["seed"] in args.seeds)
        and (not args.labels or c["labels"] in args.labels)
    ]
    if not chosen:
        raise SystemExit("recipe_study check: no recorded cell matches")
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "cells.jsonl"
        ns = argparse.Namespace(
            cells=fresh,
            only=None,
            datasets=None,
            jobs=args.jobs,
            results=args.results,
            launcher=args.launcher,
        )
        run(ns, chosen)
        again = {key(r): r for r in map(json.loads, fresh.read_text().splitlines())}
    differ, rows = 0, []
    for k in map(key, chosen):
        old, new = recorded[k], again.get(k)
        same = new is not None and all(
            old.get(m) == new.get(m)
            for m in ("balanced_accuracy", "accuracy", "balanced_accuracy_tta")
            + ("test_logits_sha256",) * ("test_logits_sha256" in old)
        )
        differ += not same
        rows.append({"cell": list(k), "same": same, "recorded": old, "here": new})
        now = "failed" if new is None else f"{100 * new['balanced_accuracy']:.4f}"
        print(
            f"{'same' if same else 'DIFFERENT':>9} {k}: recorded "
            f"{100 * old['balanced_accuracy']:.4f} on {old['platform']['cpu']} "
            f"({old['platform']['cpu_capability']}), here {now}"
        )
    print(f"{len(chosen) - differ} of {len(chosen)} cells give the recorded numbers here")
    if args.out:
        text = json.dumps({"launcher": args.launcher, "cells": rows}, indent=1, default=float)
        args.out.write_text(text + "\n")
    return 1 if differ else 0


def cell_main(args) -> int:
    from vabal import kernels

    kernels.verify()
    row = run_cell(json.loads(args.cell), Path(args.results))
    print(json.dumps(row, default=float))
    return 0


# ----------------------------------------------------------------------------- the report
def summarise(rows: list[dict]) -> list[dict]:
    """Mean and std over seeds per (candidate, dataset, labels), with the kernel pairs."""
    import numpy as np

    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["candidate"], r["dataset"], r["labels"]), []).append(r)
    by_key = {(r["candidate"], r["dataset"], r["labels"], r["seed"]): r for r in rows}
    out = []
    for (name, dataset, labels), rs in groups.items():
        acc = np.array([r["balanced_accuracy"] for r in rs]) * 100
        tta = np.array([r["balanced_accuracy_tta"] for r in rs]) * 100
        entry = {
            "candidate": name,
            "what": CANDIDATES[name][0] if name in CANDIDATES else name,
            "kernels": CANDIDATES[name][2] if name in CANDIDATES else None,
            "dataset": dataset,
            "labels": labels,
            "seeds": sorted(r["seed"] for r in rs),
            "balanced_accuracy": acc.mean(),
            "balanced_accuracy_std": acc.std(ddof=1) if len(acc) > 1 else 0.0,
            "balanced_accuracy_tta": tta.mean(),
            "per_seed": {r["seed"]: 100 * r["balanced_accuracy"] for r in rs},
            "cpu_seconds": float(
                np.mean([r["train_cpu_seconds"] + r["eval_cpu_seconds"] for r in rs])
            ),
            "train_seconds": float(np.mean([r["train_seconds"] for r in rs])),
            "images_per_second": float(np.mean([r["images"] / r["train_seconds"] for r in rs])),
            "steps": int(np.mean([r["steps"] for r in rs])),
        }  # fmt: skip
        if "@" in name:  # the same recipe and seeds under the pinned kernels
            pinned = [by_key.get((name.split("@")[0], dataset, labels, r["seed"])) for r in rs]
            moves = [
                100 * abs(r["balanced_accuracy"] - p["balanced_accuracy"])
                for r, p in zip(rs, pinned, strict=True)
                if p is not None
            ]
            entry["kernel_move_max"] = max(moves) if moves else None
            entry["kernel_move_mean"] = float(np.mean(moves)) if moves else None
        if name.endswith("-bf16"):  # bf16 against the same recipe and seeds in fp32 (pinned)
            fp32 = [by_key.get((name[: -len("-bf16")], dataset, labels, r["seed"])) for r in rs]
            diffs = [
                100 * (r["balanced_accuracy"] - p["balanced_accuracy"])
                for r, p in zip(rs, fp32, strict=True)
                if p is not None
            ]
            entry["bf16_minus_fp32_mean"] = float(np.mean(diffs)) if diffs else None
            entry["bf16_minus_fp32_per_seed"] = diffs
        out.append(entry)
    return out


def report(args) -> int:
    rows = [json.loads(x) for x in args.cells.read_text().splitlines() if x.strip()]
    summary = summarise(rows)
    JSON.parent.mkdir(parents=True, exist_ok=True)
    JSON.write_text(json.dumps({"cells": rows, "summary": summary}, indent=1, default=float) + "\n")
    write_table(summary, TABLE)
    draw(summary, FIGURE)
    print(f"wrote {JSON}, {TABLE}, {FIGURE}")
    return 0


def write_table(summary: list[dict], path: Path) -> None:
    cols = [(d, n) for d in BUDGETS for n in BUDGETS[d]]
    names = [n for n in CANDIDATES if any(s["candidate"] == n for s in summary)]
    cell = {(s["candidate"], s["dataset"], s["labels"]): s for s in summary}
    head = " | ".join(f"{d} {n}" for d, n in cols)
    lines = [
        "Balanced test accuracy, % (mean ± std over 3 seeds; TTA: with test-time flip), and "
        "CPU seconds per training and evaluation (one thread).",
        "",
        f"| candidate | kernels | {head} |",
        "|---|---|" + "---|" * len(cols),
    ]
    for name in names:
        parts = []
        for d, n in cols:
            s = cell.get((name, d, n))
            if s is None:
                parts.append("")
                continue
            text = (
                f"{s['balanced_accuracy']:.1f} ± {s['balanced_accuracy_std']:.1f} "
                f"(TTA {s['balanced_accuracy_tta']:.1f}), {s['cpu_seconds']:.0f} s"
            )
            if s.get("kernel_move_max") is not None:
                text += f"; moved ≤ {s['kernel_move_max']:.1f}"
            if s.get("bf16_minus_fp32_mean") is not None:
                text += f"; bf16 − fp32 {s['bf16_minus_fp32_mean']:+.1f}"
            parts.append(text)
        what, kernels = CANDIDATES[name][0], CANDIDATES[name][2]
        lines.append(f"| {name}: {what} | {kernels} | " + " | ".join(parts) + " |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def draw(summary: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [(d, n) for d in BUDGETS for n in BUDGETS[d]]
    fig, axes = plt.subplots(1, len(cols), figsize=(4.2 * len(cols), 4), squeeze=False)
    names = [n for n in CANDIDATES if any(s["candidate"] == n for s in summary)]
    colours = {n: plt.cm.tab20(i % 20) for i, n in enumerate(names)}
    for ax, (d, n) in zip(axes[0], cols, strict=True):
        for s in summary:
            if (s["dataset"], s["labels"]) != (d, n):
                continue
            c = colours[s["candidate"]]
            ax.errorbar(s["cpu_seconds"], s["balanced_accuracy"], yerr=s["balanced_accuracy_std"],
                        fmt="o", color=c, label=s["candidate"], capsize=3)  # fmt: skip
        ax.set_xscale("log")
        ax.set_title(f"{d}, {n} labels")
        ax.set_xlabel("CPU seconds per training + evaluation")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("balanced test accuracy (%)")
    handles, labels = [], []
    for ax in axes[0]:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train every cell not in the cells file yet")
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--only", nargs="+", choices=list(CANDIDATES))
    r.add_argument("--datasets", nargs="+", choices=list(BUDGETS))
    r.add_argument("--results", type=Path, default=ROOT / "results" / "cpu")
    r.add_argument("--cells", type=Path, default=CELLS)
    c = sub.add_parser("cell", help="one cell (a JSON object), in this process")
    c.add_argument("cell")
    c.add_argument("--results", default=str(ROOT / "results" / "cpu"))
    rep = sub.add_parser("report", help="the JSON, table and figure from the cells file")
    rep.add_argument("--cells", type=Path, default=CELLS)
    chk = sub.add_parser("check", help="train recorded cells again here and compare")
    chk.add_argument("--only", nargs="+", choices=list(CANDIDATES))
    chk.add_argument("--datasets", nargs="+", choices=list(BUDGETS))
    chk.add_argument("--seeds", nargs="+", type=int)
    chk.add_argument("--labels", nargs="+", type=int)
    chk.add_argument(
        "--launcher",
        help="a command each cell runs under, e.g. 'qemu-x86_64 -cpu Haswell' (a CPU of "
        "another kind, emulated)",
    )
    chk.add_argument("--jobs", type=int, default=2)
    chk.add_argument("--out", type=Path, help="JSON of each cell: recorded, here, same")
    chk.add_argument("--results", type=Path, default=ROOT / "results" / "cpu")
    chk.add_argument("--cells", type=Path, default=CELLS)
    args = p.parse_args(argv)
    return {"run": run, "cell": cell_main, "report": report, "check": check}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
