"""Device time of a config's grid, from the step times ``vabal bench speed`` measured.

``vabal estimate CONFIG BENCH.json [BENCH.json ...]`` reads the ``round`` section (one round
of every method, at the size its ``setup`` line records: the paper's CIFAR-10 pool at 3 000
labels on a GPU, ``--size cpu`` for configs/cpu.yaml's classifier on a CPU) and, when
present, the ``vaal`` section (VAAL's training per epoch on the fast path), and scales each
step to every round of every run the config asks for:

* ``train_classifier``: seconds per training image, times the images each training goes
  through (labelled images x epochs, or the recipe's ``images``) x the classifier's size
  relative to the benchmark's: pixels (after a source's ``resize``) x depth (ResNet-34
  counts 2x ResNet-18) x width squared;
* ``evaluate``: per test image x the same size;
* ``extract_features``: per pool image x the same size;
* each method's own steps as its package declares their cost
  (:class:`vabal.methods.registry.Cost`: e.g. VaB-AL's ``train_vae`` per unlabelled sample
  and VAE epoch, BALD's ``score`` per sample and pass x the classifier's size, every
  ``select`` per unlabelled sample x budget), each rate from its own line of the benchmark
  (a method the benchmark did not time is named and left out);
* the method steps run in every round but the last (it selects nothing);
* round 0 (its training, evaluation and features) once per dataset, seed and classifier
  recipe, as the workflow computes it (the saving is printed).

It prints GPU (or CPU, for a benchmark run on a CPU) seconds per dataset and method and the
total, and the number of jobs (each also pays a process start, listed apart). It is an
estimate: linear scaling from one measured round, with the first-epoch costs (cuDNN
autotuning, graph recording, a CPU's warm-up) spread over the images; the width scales by
arithmetic, which a CPU follows more closely than a GPU at small widths.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections import Counter, defaultdict

#: image size (pixels) of each source kind (before a source's ``resize``); an image
#: folder's counts as a CIFAR image
PIXELS = {"digits": 8 * 8, "neu": 64 * 64, "cifar10": 32 * 32, "cifar100": 32 * 32}
DEPTH = {"resnet18": 1.0, "resnet34": 2.0}
#: the classifier every rate is normalised to: ResNet-18 of width 64 on 32x32 images (a
#: classifier step's time grows with the pixels, the depth and the square of the width)
REFERENCE = {"pixels": 32 * 32, "width": 64}
#: what the ``round`` section of ``vabal bench speed --size paper`` runs (bench/speed.py:
#: SIZES); a benchmark's setup line carries its own numbers (older ones: the paper size)
BENCH = {
    "labelled": 3000,
    "pool": 50_000,
    "test": 10_000,
    "epochs": 200,
    "pixels": 32 * 32,
    "width": 64,
    "budget": 500,
    "params": {"vaal": {"epochs": 2}},
}


def bench_size(rows: list[dict]) -> dict:
    """What the benchmark's round ran at, from its setup line(s), and on which device (every
    file given must have run the same size)."""
    sizes = []
    for row in rows:
        if row.get("section") != "setup" or row.get("name") != "device":
            continue
        if "labelled" in row:
            size = {k: row[k] for k in BENCH}
        elif row.get("size", "paper") == "paper":
            size = dict(BENCH)
        else:
            raise SystemExit(
                f"vabal estimate: the benchmark ran size {row['size']!r} but its setup line "
                "does not say at what numbers (rerun `vabal bench speed`)"
            )
        size["device"] = str(row["value"]).split(":")[0]
        size["threads"] = row.get("threads")
        if size not in sizes:
            sizes.append(size)
    if len(sizes) > 1:
        raise SystemExit("vabal estimate: the benchmark files ran different sizes or devices")
    return sizes[0] if sizes else {**BENCH, "device": "cuda", "threads": None}


def classifier_scale(pixels: float, width: float, depth: float = 1.0) -> tuple[float, float]:
    """(pixels, classifier) factors of a classifier step relative to :data:`REFERENCE`."""
    return pixels / REFERENCE["pixels"], depth * (width / REFERENCE["width"]) ** 2


def bench_params(kind: str, size: dict | None = None, **extra) -> dict:
    """A method's parameters in the benchmark's round (and the benchmark's budget)."""
    from vabal.methods import REGISTRY

    size = size or BENCH
    return {
        **REGISTRY[kind].params,
        **size["params"].get(kind, {}),
        "budget": size["budget"],
        **extra,
    }


def step_rates(rows: list[dict]) -> dict[str, float]:
    """Seconds per unit of work of each step, from ``vabal bench speed`` JSON rows, at the
    :data:`REFERENCE` classifier: the classifier's (``train_classifier``, ``evaluate``,
    ``extract_features``) and, for every method step the benchmark timed (``"<kind>:
    <step>"``), per unit of its :class:`~vabal.methods.registry.Cost` (``"<kind>.<step>"``).
    A method's own section of the benchmark timing one epoch of its ``train_vae`` ("... per
    epoch", VAAL's fast path) wins over the round's shortened training."""
    from vabal.methods import REGISTRY

    by_name = {(r["section"], r["name"]): r for r in rows}
    b = bench_size(rows)
    px, net = classifier_scale(b["pixels"], b["width"])

    def seconds(prefix: str) -> float:
        hits = [r["value"] for (sec, name), r in by_name.items() if sec == "round" and
                name.startswith(prefix)]  # fmt: skip
        if not hits:
            raise SystemExit(f"vabal estimate: the benchmark has no round line '{prefix}...'")
        return float(min(hits))

    unl = b["pool"] - b["labelled"]
    rates = {
        "train_classifier": seconds("random: train_classifier")
        / (b["labelled"] * b["epochs"] * px * net),
        "evaluate": seconds("random: evaluate") / (b["test"] * px * net),
        "extract_features": seconds("vabal: extract_features") / (b["pool"] * px * net),
    }
    for (sec, name), row in by_name.items():
        kind, _, step = name.partition(": ")
        step = step.split(" (")[0]
        if sec != "round" or kind not in REGISTRY or step not in REGISTRY[kind].costs:
            continue
        units = REGISTRY[kind].costs[step].units(b["pool"], unl, bench_params(kind, b), px, net)
        key = f"{kind}.{step}"
        rates[key] = min(float(row["value"]) / units, rates.get(key, math.inf))
    for row in rows:
        kind = row["section"]
        if kind in REGISTRY and "fast path" in row["name"] and "per epoch" in row["name"]:
            cost = REGISTRY[kind].costs["train_vae"]
            per_epoch = cost.units(b["pool"], unl, bench_params(kind, b, epochs=1), px, net)
            rates[f"{kind}.train_vae"] = float(row["value"]) / per_epoch
    return rates


def image_pixels(config: dict, source: str) -> int:
    """Pixels of a source's images as the classifier sees them (after its ``resize``)."""
    src = config["sources"][source]
    if src.get("resize"):
        return int(src["resize"]) ** 2
    return PIXELS.get(src["kind"], REFERENCE["pixels"])


def run_seconds(
    config: dict, dataset: str, method: str, rates: dict, shared_round0: bool = False
) -> dict[str, float]:
    """Device seconds of every step of one run (summed over its rounds); with
    ``shared_round0`` without the round 0 it shares with the runs of the same recipe."""
    from vabal.data.splits import expected_pool_size, initial_size
    from vabal.methods import REGISTRY
    from vabal.plan.config import training_images, training_recipe
    from vabal.plan.grid import HAS_OFFICIAL_TEST, KNOWN_CLASS_COUNTS, class_counts

    ds = config["datasets"][dataset]
    source = config["sources"][ds["source"]]
    counts = class_counts(config, ds["source"])
    if counts is None:
        raise SystemExit(f"vabal estimate: {dataset}: prepare its source first (unknown size)")
    pool = expected_pool_size(counts, len(counts), ds, dataset)
    kind = source["kind"]
    test = 10_000 if kind in HAS_OFFICIAL_TEST else sum(KNOWN_CLASS_COUNTS[kind]) - sum(counts)
    recipe = training_recipe(config, dataset, method)
    px, net = classifier_scale(
        image_pixels(config, ds["source"]), recipe["width"], DEPTH[recipe["classifier"]]
    )
    mkind = config["methods"][method]["kind"]
    params = {**REGISTRY[mkind].resolve(config["methods"][method]), "budget": ds["budget"]}
    steps = REGISTRY[mkind].steps
    out: dict[str, float] = defaultdict(float)
    for r in range(ds["rounds"]):
        labelled = initial_size(ds) + r * ds["budget"]
        unl = pool - labelled
        if r > 0 or not shared_round0:  # round 0 is computed once per recipe (estimate())
            images = training_images(recipe, labelled)
            out["train_classifier"] += rates["train_classifier"] * images * px * net
            out["evaluate"] += rates["evaluate"] * test * px * net
            if "extract_features" in steps and r < ds["rounds"] - 1:
                out["extract_features"] += rates["extract_features"] * pool * px * net
        if r == ds["rounds"] - 1:
            continue
        for step, cost in REGISTRY[mkind].costs.items():  # a step not benchmarked: left out
            if f"{mkind}.{step}" in rates:
                units = cost.units(pool, unl, params, px, net)
                out[step] += rates[f"{mkind}.{step}"] * units
    return dict(out)


def round0_seconds(config: dict, dataset: str, method: str, rates: dict) -> dict[str, float]:
    """Device seconds of a shared round 0: the training, its evaluation and, when the method
    reads them, the features (what every run with the same recipe links to)."""
    whole = run_seconds(config, dataset, method, rates, shared_round0=False)
    rest = run_seconds(config, dataset, method, rates, shared_round0=True)
    return {k: v - rest.get(k, 0.0) for k, v in whole.items() if v - rest.get(k, 0.0) > 0}


def estimate(config: dict, rates: dict) -> tuple[list[dict], int, dict]:
    """One row per (dataset, method): its runs, device seconds by step (``steps``, summed
    over the runs) and in all (``seconds``), round 0 counted once per dataset, seed and recipe (the
    row of the first method with that recipe carries it); the number of jobs of the
    grid; and what sharing round 0 saves (``round0``: trainings, shared, seconds saved)."""
    from vabal.methods import REGISTRY
    from vabal.plan.config import recipe_id, training_recipe
    from vabal.plan.grid import runs

    grid = list(runs(config))
    seeds = Counter((d, m) for d, m, _seed in grid)
    trains: dict[tuple, str] = {}  # (dataset, seed, recipe) -> the method that pays for it
    features: dict[tuple, str] = {}  # the same for round 0's features
    for d, m, s in grid:
        key = (d, s, recipe_id(training_recipe(config, d, m)))
        trains.setdefault(key, m)
        if "extract_features" in REGISTRY[config["methods"][m]["kind"]].steps:
            features.setdefault(key, m)
    pays_train = Counter((d, m) for (d, _s, _r), m in trains.items())
    pays_features = Counter((d, m) for (d, _s, _r), m in features.items())
    rows, jobs, saved = [], len(trains) + len(features), 0.0
    for (d, m), n in seeds.items():  # every seed of a run costs the same
        steps = {k: n * v for k, v in run_seconds(config, d, m, rates, True).items()}
        for k, v in round0_seconds(config, d, m, rates).items():
            payers = pays_features[(d, m)] if k == "extract_features" else pays_train[(d, m)]
            steps[k] = steps.get(k, 0.0) + payers * v
            saved += (n - payers) * v
        rows.append(
            {"dataset": d, "method": m, "runs": n, "steps": steps, "seconds": sum(steps.values())}
        )
        rounds = config["datasets"][d]["rounds"]
        method_steps = REGISTRY[config["methods"][m]["kind"]].steps
        # train_classifier (it evaluates too) after round 0, the method steps in all rounds
        # but the last, round 0's features shared
        jobs += n * ((rounds - 1) + (rounds - 1) * len(method_steps))
        jobs -= n * ("extract_features" in method_steps)
    summary = {"trainings": len(grid), "shared": len(trains), "saved_s": saved}
    return rows, jobs, summary


def main(argv: list[str] | None = None) -> int:
    from vabal.plan import config as config_mod

    p = argparse.ArgumentParser(prog="vabal estimate", description=__doc__.splitlines()[0])
    p.add_argument("config", help="a workflow config (config.yaml)")
    p.add_argument("bench", nargs="+", help="JSON files of `vabal bench speed --json` (paper size)")
    p.add_argument("--startup-s", type=float, default=5.0, help="process start per job")
    p.add_argument(
        "--cores",
        type=int,
        default=os.cpu_count() or 1,
        help="for a CPU benchmark of one thread: cores running jobs side by side (wall time)",
    )
    args = p.parse_args(argv)
    rows_in = []
    for path in args.bench:
        with open(path) as f:
            rows_in += json.load(f)
    rates = step_rates(rows_in)
    size = bench_size(rows_in)
    unit = "GPU" if size["device"] == "cuda" else "CPU"
    cfg = config_mod.load(args.config)
    rows, jobs, round0 = estimate(cfg, rates)
    rows.sort(key=lambda r: -r["seconds"])
    total = sum(r["seconds"] for r in rows)
    print(f"{'dataset':<28} {'method':<30} {'runs':>4} {unit + ' h':>7}  largest step")
    for r in rows:
        steps = r["steps"]
        top = max(steps, key=steps.get)
        print(
            f"{r['dataset']:<28} {r['method']:<30} {r['runs']:>4} {r['seconds'] / 3600:>7.2f}  "
            f"{top} {100 * steps[top] / r['seconds']:.0f} %"
        )
    by_step: dict[str, float] = defaultdict(float)
    for r in rows:
        for k, v in r["steps"].items():
            by_step[k] += v
    print("by step: " + ", ".join(f"{k} {v / 3600:.1f} h" for k, v in sorted(by_step.items())))
    print(
        f"round 0: {round0['shared']} trainings shared by {round0['trainings']} runs "
        f"(one per dataset, seed and classifier recipe), {round0['saved_s'] / 3600:.1f} h saved"
    )
    missing = sorted(
        {c["kind"] for c in cfg["methods"].values()} - {k.split(".")[0] for k in rates}
    )
    if missing:
        print(f"not timed by the benchmark (their score and select left out): {missing}")
    print(
        f"total: {total / 3600:.1f} {unit} hours of compute in {jobs} {unit} jobs; process "
        f"starts add {jobs * args.startup_s / 3600:.1f} h at {args.startup_s:g} s each "
        f"({sum(r['runs'] for r in rows)} runs)"
    )
    if unit == "CPU" and size["threads"] == 1:  # the protocol's jobs: one thread each
        print(
            f"on {args.cores} cores, a job on each: about {total / 3600 / args.cores:.1f} h of "
            "wall time"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
