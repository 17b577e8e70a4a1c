#!/usr/bin/env python3
"""Score stored VaB-AL rounds again under every reading of Eq. 6 and compare the selections.

    python scripts/compare_readings.py --configfile configs/cpu.yaml \\
        --dataset cifar10_plus1 --method vabal --round 0 --out docs/results/readings.json

The VAE of a round does not depend on how ``p(x|y^)`` enters the score (the ``reading``), so
one trained VAE gives paired selections: for each seed's round, every reading (and, with
``--all-terms``, the literal sum over classes of Eq. 6) is scored from the same
``features.pt`` and ``vae.pt``, and the script reports, per reading, the dominant-class
share of the selection, the share the prior and the difficulty move, the spread of the
three log-terms, and how often the classifier is wrong on the selected samples (what Eq. 6
estimates). Prints a Markdown table and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from vabal import io  # noqa: E402
from vabal.data.variants import class_roles  # noqa: E402
from vabal.methods import REGISTRY  # noqa: E402
from vabal.methods.vabal.method import VaBAL  # noqa: E402
from vabal.methods.vabal.vae import READINGS  # noqa: E402
from vabal.plan import config as cfg  # noqa: E402
from vabal.plan.layout import ROUND  # noqa: E402
from vabal.run import rounds  # noqa: E402


def compare(config: dict, dataset: str, method: str, seed: int, round_: int, variants) -> dict:
    ds = config["datasets"][dataset]
    results = Path(config["results"])
    folder = results / ROUND.format(dataset=dataset, method=method, seed=seed, round=round_)
    ctx = rounds.context(
        results / "data" / ds["source"],
        results / "splits" / dataset / f"seed{seed}.parquet",
        folder / "labelled.parquet",
        cfg.training_recipe(config, dataset, method),
        seed,
        round_,
        {
            "classifier": folder / "classifier.pt",
            "extract_features": folder / "features.pt",
            "train_vae": folder / "vae.pt",
        },
        ds["budget"],
    )
    dominant, _ = class_roles(ds.get("imbalance"), ctx.store.num_classes)
    import torch

    from vabal.learn.features import load_round_features

    feats = load_round_features(folder / "features.pt")
    order = np.argsort(feats["sample_id"].numpy())
    classifier_pred = feats["pred"].numpy()[order]  # by sample id, labelled and unlabelled
    ids_sorted = feats["sample_id"].numpy()[order]
    params = REGISTRY["vabal"].resolve(config["methods"][method])
    out = {}
    with torch.no_grad():
        for name, over in variants.items():
            method_obj = VaBAL({**params, **over})
            scores, diag = method_obj.score(ctx)
            chosen = method_obj.select(ctx, ctx.budget, scores)
            labels = ctx.labels(chosen)
            wrong = classifier_pred[np.searchsorted(ids_sorted, chosen)] != labels
            out[name] = {
                "dominant_share": float(np.isin(labels, dominant).mean()) if dominant else None,
                "classifier_error_on_selection": float(wrong.mean()),
                "selection_change": diag["selection_change"],
                "term_std": {k: v["std"] for k, v in diag["terms"].items()},
                "selected_per_class": np.bincount(labels, minlength=ctx.store.num_classes).tolist(),
            }
    pool_labels = ctx.labels(ctx.unlabelled)
    wrong_pool = classifier_pred[np.searchsorted(ids_sorted, ctx.unlabelled)] != pool_labels
    out["pool"] = {
        "dominant_share": float(np.isin(pool_labels, dominant).mean()) if dominant else None,
        "classifier_error_on_selection": float(wrong_pool.mean()),
    }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--method", default="vabal", help="a VaB-AL method whose rounds are stored")
    ap.add_argument("--round", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="*", help="default: the config's seeds")
    ap.add_argument("--all-terms", action="store_true", help="also likelihood: all (Eq. 6's sum)")
    ap.add_argument("--out", help="JSON file to write")
    args = ap.parse_args(argv)
    config = cfg.validate(yaml.safe_load(Path(args.configfile).read_text()))
    variants = {r: {"reading": r} for r in READINGS}
    if args.all_terms:
        variants.update({f"{r}, all": {"reading": r, "likelihood": "all"} for r in READINGS[:3]})
    seeds = args.seeds if args.seeds is not None else config["seeds"]
    per_seed = {
        s: compare(config, args.dataset, args.method, s, args.round, variants) for s in seeds
    }
    rows = ["pool (uniform)", *variants]
    print(
        f"| {args.dataset} round {args.round}, seeds {', '.join(map(str, seeds))} "
        "| dominant share | classifier wrong on selection | moved by prior | moved by difficulty |"
    )
    print("|---|---|---|---|---|")
    summary = {}
    for row in rows:
        key = "pool" if row.startswith("pool") else row
        vals = [per_seed[s][key] for s in seeds]

        def mean(get, vals=vals):
            got = [get(v) for v in vals]
            got = [g for g in got if g is not None]
            return float(np.mean(got)) if got else None

        summary[key] = {
            "dominant_share": mean(lambda v: v["dominant_share"]),
            "classifier_error_on_selection": mean(lambda v: v["classifier_error_on_selection"]),
            "prior_off": mean(lambda v: v.get("selection_change", {}).get("prior_off")),
            "difficulty_off": mean(lambda v: v.get("selection_change", {}).get("difficulty_off")),
        }

        def pct(x):
            return "—" if x is None else f"{100 * x:.1f} %"

        s = summary[key]
        print(
            f"| {row} | {pct(s['dominant_share'])} | {pct(s['classifier_error_on_selection'])} "
            f"| {pct(s['prior_off'])} | {pct(s['difficulty_off'])} |"
        )
    if args.out:
        io.write_json(
            args.out,
            {
                "dataset": args.dataset,
                "method": args.method,
                "round": args.round,
                "seeds": seeds,
                "mean_over_seeds": summary,
                "per_seed": {str(k): v for k, v in per_seed.items()},
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
