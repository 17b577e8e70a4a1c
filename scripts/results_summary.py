#!/usr/bin/env python3
"""The numbers of docs/results.md, from a protocol's per-round table.

    python scripts/results_summary.py --configfile configs/cpu.yaml \\
        --rounds results/cpu/tables/rounds.parquet --out docs/results/summary.json

Per dataset: accuracy per round (mean ± std over seeds), the average over rounds and the
final accuracy, each method's paired difference from Random seed by seed (mean ± std,
min..max, seeds ahead), the share of each round's selection taken from the dominant (or
rare) classes, and the share of rare classes in the labelled set per round (Fig. 9).
Prints Markdown, writes the same numbers as JSON.
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
from vabal.plan import config as cfg  # noqa: E402
from vabal.plan import grid, targets  # noqa: E402
from vabal.report import analysis  # noqa: E402


def pct(x, sign=False) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "—"
    return f"{100 * x:+.1f}" if sign else f"{100 * x:.1f}"


def class_groups(config, dataset, rounds) -> dict[str, list[int]]:
    """Which classes the selection shares count: the variant's dominant and rare classes,
    or for a dataset without a variant its three smallest training classes."""
    spec = config["datasets"][dataset].get("imbalance")
    k = len(rounds["labelled_per_class"].iloc[0])
    dominant, rare = class_roles(spec, k)
    groups = {}
    if spec and len(dominant) < len(rare):
        groups["dominant"] = dominant
    if spec and len(rare) < len(dominant):
        groups["rare"] = rare
    if not spec:
        counts = grid.class_counts(config, config["datasets"][dataset]["source"])
        groups["three smallest classes"] = [int(i) for i in np.argsort(counts)[:3]]
    return groups


def summarise(config, rounds, dataset) -> tuple[list[str], dict]:
    frame = rounds[rounds["dataset"] == dataset]
    methods = [m for m in config["methods"] if m in set(frame["method"])]
    label = {m: targets.method_label(config, m) for m in methods}
    n_rounds = int(frame["round"].max()) + 1
    seeds = sorted(set(frame["seed"]))
    lines = [f"### {dataset}", "", f"Seeds {', '.join(map(str, seeds))}; accuracy in %."]
    lines += [
        "",
        "| method | "
        + " | ".join(
            f"round {r} ({int(frame[frame['round'] == r]['n_labelled'].iloc[0])})"
            for r in range(n_rounds)
        )
        + " | avg. | final |",
        "|---" * (n_rounds + 3) + "|",
    ]
    curves = analysis.learning_curves(frame, [dataset], methods)
    summary = analysis.method_summary(frame, [dataset], methods).set_index("method")
    out = {"methods": {}, "seeds": seeds}
    for m in methods:
        c = curves[curves["method"] == m].sort_values("round")
        cells = [
            f"{pct(a)} ± {pct(s if not np.isnan(s) else 0.0)}"
            for a, s in zip(c["accuracy_mean"], c["accuracy_std"], strict=True)
        ]
        row = summary.loc[m]
        lines.append(
            f"| {label[m]} | "
            + " | ".join(cells)
            + f" | {pct(row['avg_mean'])} ± {pct(row['avg_std'])}"
            + f" | {pct(row['final_mean'])} ± {pct(row['final_std'])} |"
        )
        out["methods"][m] = {
            "label": label[m],
            "accuracy_mean": c["accuracy_mean"].tolist(),
            "accuracy_std": c["accuracy_std"].tolist(),
            "avg_mean": row["avg_mean"],
            "avg_std": row["avg_std"],
            "final_mean": row["final_mean"],
            "final_std": row["final_std"],
        }
    if "random" in methods:
        others = [m for m in methods if m != "random"]
        diffs = analysis.paired_differences(frame, dataset, others, "random")
        lines += [
            "",
            "Paired difference from Random, seed by seed (percentage points): mean ± std "
            "[min, max], seeds ahead.",
            "",
            "| method | Δ avg. | Δ final |",
            "|---|---|---|",
        ]
        for _, d in diffs.iterrows():
            cells = [
                f"{pct(d[f'd_{w}_mean'], True)} ± {pct(d[f'd_{w}_std'])} "
                f"[{pct(d[f'd_{w}_min'], True)}, {pct(d[f'd_{w}_max'], True)}], "
                f"{d[f'{w}_ahead']}/{d['seeds']}"
                for w in ("avg", "final")
            ]
            lines.append(f"| {label[d['method']]} | {cells[0]} | {cells[1]} |")
            out["methods"][d["method"]]["vs_random"] = {
                k: (v.item() if hasattr(v, "item") else v)
                for k, v in d.items()
                if k.startswith(("d_", "avg_ahead", "final_ahead", "seeds"))
            }
    for group, classes in class_groups(config, dataset, frame).items():
        shares = analysis.selection_shares(frame, dataset, methods, classes)
        names = frame["class_names"].iloc[0]
        pool = grid.class_counts(config, config["datasets"][dataset]["source"])
        lines += [
            "",
            f"Share of each round's selection from the {group} "
            f"({', '.join(names[c] for c in classes)}), % (mean ± std over seeds):",
            "",
            "| method | " + " | ".join(f"round {r}" for r in range(n_rounds - 1)) + " |",
            "|---" * n_rounds + "|",
        ]
        out.setdefault("selection_share", {})[group] = {"classes": classes, "by_method": {}}
        for m in methods:
            per = shares[shares["method"] == m].groupby("round")["share"].agg(["mean", "std"])
            lines.append(
                f"| {label[m]} | "
                + " | ".join(f"{pct(a)} ± {pct(s)}" for a, s in per.itertuples(index=False))
                + " |"
            )
            out["selection_share"][group]["by_method"][m] = per["mean"].tolist()
        if pool and not config["datasets"][dataset].get("imbalance"):
            share = sum(pool[c] for c in classes) / sum(pool)
            lines.append(f"\nThese classes are {pct(share)} % of the training set.")
    spec = config["datasets"][dataset].get("imbalance")
    if spec and class_roles(spec, len(frame["labelled_per_class"].iloc[0]))[1]:
        rare = analysis.rare_ratio(frame, {dataset: spec}, methods)
        lines += [
            "",
            "Share of rare classes in the labelled set (Fig. 9), % (mean over seeds):",
            "",
            "| method | " + " | ".join(f"round {r}" for r in range(n_rounds)) + " |",
            "|---" * (n_rounds + 1) + "|",
        ]
        out["rare_ratio"] = {}
        for m in methods:
            r = rare[rare["method"] == m].sort_values("round")
            lines.append(
                f"| {label[m]} | " + " | ".join(pct(v) for v in r["rare_ratio_mean"]) + " |"
            )
            out["rare_ratio"][m] = r["rare_ratio_mean"].tolist()
    return lines, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", required=True)
    ap.add_argument("--rounds", required=True, help="the protocol's rounds.parquet")
    ap.add_argument("--datasets", nargs="*", help="default: every dataset in the table")
    ap.add_argument("--out", help="JSON file to write")
    args = ap.parse_args(argv)
    config = cfg.validate(yaml.safe_load(Path(args.configfile).read_text()))
    rounds = io.read_table(args.rounds, "rounds")
    datasets = args.datasets or [d for d in config["datasets"] if d in set(rounds["dataset"])]
    everything = {}
    for d in datasets:
        lines, everything[d] = summarise(config, rounds, d)
        print("\n".join(lines) + "\n")
    if args.out:
        io.write_json(args.out, everything)
    return 0


if __name__ == "__main__":
    sys.exit(main())
