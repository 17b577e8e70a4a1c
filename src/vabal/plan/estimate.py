"""GPU time of a config's grid, from the step times ``vabal bench speed`` measured.

``vabal estimate CONFIG BENCH.json [BENCH.json ...]`` reads the ``round`` section (one round
of every method on a CIFAR-10-sized pool at 3 000 labels) and, when present, the ``vaal``
section (VAAL's training per epoch on the fast path), and scales each step to every round
of every run the config asks for:

* ``train_classifier``: seconds per labelled image and epoch, times labelled images x
  epochs x (image pixels / 32x32) x depth (ResNet-34 counts 2x ResNet-18);
* ``evaluate``: per test image x pixels x depth;
* ``extract_features``: per pool image x pixels x depth;
* each method's own steps as its package declares their cost
  (:class:`vabal.methods.registry.Cost`: e.g. VaB-AL's ``train_vae`` per unlabelled sample
  and VAE epoch, BALD's ``score`` per sample and pass x pixels x depth, every ``select``
  per unlabelled sample x budget), each rate from its own line of the benchmark (a method
  the benchmark did not time is named and left out);
* the method steps run in every round but the last (it selects nothing);
* round 0 (its training, evaluation and features) once per dataset, seed and classifier
  recipe, as the workflow computes it (the saving is printed).

It prints GPU seconds per dataset and method and the total, and the number of GPU jobs
(each also pays a process start, listed apart). It is an estimate: linear scaling from one
measured round, with the first-epoch costs (cuDNN autotuning, graph recording) spread over
the images.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter, defaultdict

#: image size (pixels) of each source kind; an image folder's is read from its store
PIXELS = {"digits": 8 * 8, "neu": 64 * 64, "cifar10": 32 * 32, "cifar100": 32 * 32}
DEPTH = {"resnet18": 1.0, "resnet34": 2.0}
#: what the ``round`` section of ``vabal bench speed --size paper`` runs (bench/speed.py: SIZES)
BENCH = {
    "labelled": 3000,
    "pool": 50_000,
    "test": 10_000,
    "epochs": 200,
    "pixels": 32 * 32,
    "budget": 500,
}
#: the method parameters the benchmark's round runs at, where not their defaults
BENCH_PARAMS = {"vaal": {"epochs": 2}}


def bench_params(kind: str, **extra) -> dict:
    """A method's parameters in the benchmark's round (and the benchmark's budget)."""
    from vabal.methods import REGISTRY

    return {
        **REGISTRY[kind].params,
        **BENCH_PARAMS.get(kind, {}),
        "budget": BENCH["budget"],
        **extra,
    }


def step_rates(rows: list[dict]) -> dict[str, float]:
    """Seconds per unit of work of each step, from ``vabal bench speed`` JSON rows: the
    classifier's (``train_classifier``, ``evaluate``, ``extract_features``) and, for every
    method step the benchmark timed (``"<kind>: <step>"``), per unit of its
    :class:`~vabal.methods.registry.Cost` (``"<kind>.<step>"``). A method's own section of
    the benchmark timing one epoch of its ``train_vae`` ("... per epoch", VAAL's fast path)
    wins over the round's shortened training."""
    from vabal.methods import REGISTRY

    by_name = {(r["section"], r["name"]): r for r in rows}

    def seconds(prefix: str) -> float:
        hits = [r["value"] for (sec, name), r in by_name.items() if sec == "round" and
                name.startswith(prefix)]  # fmt: skip
        if not hits:
            raise SystemExit(f"vabal estimate: the benchmark has no round line '{prefix}...'")
        return float(min(hits))

    b = BENCH
    unl = b["pool"] - b["labelled"]
    rates = {
        "train_classifier": seconds("random: train_classifier") / (b["labelled"] * b["epochs"]),
        "evaluate": seconds("random: evaluate") / b["test"],
        "extract_features": seconds("vabal: extract_features") / b["pool"],
    }
    for (sec, name), row in by_name.items():
        kind, _, step = name.partition(": ")
        step = step.split(" (")[0]
        if sec != "round" or kind not in REGISTRY or step not in REGISTRY[kind].costs:
            continue
        units = REGISTRY[kind].costs[step].units(b["pool"], unl, bench_params(kind))
        key = f"{kind}.{step}"
        rates[key] = min(float(row["value"]) / units, rates.get(key, math.inf))
    for row in rows:
        kind = row["section"]
        if kind in REGISTRY and "fast path" in row["name"] and "per epoch" in row["name"]:
            cost = REGISTRY[kind].costs["train_vae"]
            per_epoch = cost.units(b["pool"], unl, bench_params(kind, epochs=1))
            rates[f"{kind}.train_vae"] = float(row["value"]) / per_epoch
    return rates


def run_seconds(
    config: dict, dataset: str, method: str, rates: dict, shared_round0: bool = False
) -> dict[str, float]:
    """GPU seconds of every step of one run (summed over its rounds); with
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
    px = PIXELS.get(kind, BENCH["pixels"]) / BENCH["pixels"]
    recipe = training_recipe(config, dataset, method)
    depth = DEPTH[recipe["classifier"]]
    mkind = config["methods"][method]["kind"]
    params = {**REGISTRY[mkind].resolve(config["methods"][method]), "budget": ds["budget"]}
    steps = REGISTRY[mkind].steps
    out: dict[str, float] = defaultdict(float)
    for r in range(ds["rounds"]):
        labelled = initial_size(ds) + r * ds["budget"]
        unl = pool - labelled
        if r > 0 or not shared_round0:  # round 0 is computed once per recipe (estimate())
            images = training_images(recipe, labelled)
            out["train_classifier"] += rates["train_classifier"] * images * px * depth
            out["evaluate"] += rates["evaluate"] * test * px * depth
            if "extract_features" in steps and r < ds["rounds"] - 1:
                out["extract_features"] += rates["extract_features"] * pool * px * depth
        if r == ds["rounds"] - 1:
            continue
        for step, cost in REGISTRY[mkind].costs.items():  # a step not benchmarked: left out
            if f"{mkind}.{step}" in rates:
                units = cost.units(pool, unl, params, px, depth)
                out[step] += rates[f"{mkind}.{step}"] * units
    return dict(out)


def round0_seconds(config: dict, dataset: str, method: str, rates: dict) -> dict[str, float]:
    """GPU seconds of a shared round 0: the training, its evaluation and, when the method
    reads them, the features (what every run with the same recipe links to)."""
    whole = run_seconds(config, dataset, method, rates, shared_round0=False)
    rest = run_seconds(config, dataset, method, rates, shared_round0=True)
    return {k: v - rest.get(k, 0.0) for k, v in whole.items() if v - rest.get(k, 0.0) > 0}


def estimate(config: dict, rates: dict) -> tuple[list[dict], int, dict]:
    """One row per (dataset, method): its runs, GPU seconds by step (``steps``, summed over
    the runs) and in all (``gpu_s``), round 0 counted once per dataset, seed and recipe (the
    row of the first method with that recipe carries it); the number of GPU jobs of the
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
            {"dataset": d, "method": m, "runs": n, "steps": steps, "gpu_s": sum(steps.values())}
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
    p.add_argument("--startup-s", type=float, default=5.0, help="process start per GPU job")
    args = p.parse_args(argv)
    rows_in = []
    for path in args.bench:
        with open(path) as f:
            rows_in += json.load(f)
    rates = step_rates(rows_in)
    cfg = config_mod.load(args.config)
    rows, jobs, round0 = estimate(cfg, rates)
    rows.sort(key=lambda r: -r["gpu_s"])
    total = sum(r["gpu_s"] for r in rows)
    print(f"{'dataset':<28} {'method':<30} {'runs':>4} {'GPU h':>7}  largest step")
    for r in rows:
        steps = r["steps"]
        top = max(steps, key=steps.get)
        print(
            f"{r['dataset']:<28} {r['method']:<30} {r['runs']:>4} {r['gpu_s'] / 3600:>7.2f}  "
            f"{top} {100 * steps[top] / r['gpu_s']:.0f} %"
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
        f"total: {total / 3600:.1f} GPU hours of compute in {jobs} GPU jobs; process starts add "
        f"{jobs * args.startup_s / 3600:.1f} h at {args.startup_s:g} s each "
        f"({sum(r['runs'] for r in rows)} runs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
