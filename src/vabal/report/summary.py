"""The numbers of a results page, per dataset, from the rounds table (target ``summary``).

Per dataset: accuracy per round (mean ± std over seeds), the average over rounds and the
final accuracy; each method's paired difference from the reference (Random), seed by seed
(mean ± std, min..max, seeds ahead); the share of each round's selection taken from the
dominant (or rare) classes of an imbalance variant, or from the three smallest training
classes of a dataset without one; and the share of rare classes in the labelled set per
round (Fig. 9). :func:`write_summary` writes the numbers as JSON and the same tables as
Markdown.
"""

from __future__ import annotations

import numpy as np

from vabal import io
from vabal.data.variants import class_roles
from vabal.report import analysis


def pct(x, sign: bool = False) -> str:
    """A fraction as percent with one decimal ("—" for none)."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "—"
    return f"{100 * x:+.1f}" if sign else f"{100 * x:.1f}"


def class_groups(imbalance, num_classes: int, train_counts=None) -> dict[str, list[int]]:
    """Which classes the selection shares count: the variant's dominant classes when they
    are the fewer, its rare ones when those are; for a dataset without a variant its three
    smallest training classes (``train_counts``)."""
    dominant, rare = class_roles(imbalance, num_classes)
    groups = {}
    if imbalance and len(dominant) < len(rare):
        groups["dominant"] = dominant
    if imbalance and len(rare) < len(dominant):
        groups["rare"] = rare
    if not imbalance and train_counts:
        groups["three smallest classes"] = [int(i) for i in np.argsort(train_counts)[:3]]
    return groups


def summarise(frame, dataset: str, spec: dict) -> tuple[list[str], dict]:
    """Markdown lines and the numbers of one dataset. ``spec``: ``methods`` (in order),
    ``labels``, ``reference``, ``imbalance`` and ``train_counts`` per dataset."""
    frame = frame[frame["dataset"] == dataset]
    methods = [m for m in spec["methods"] if m in set(frame["method"])]
    label = {m: spec["labels"].get(m, m) for m in methods}
    n_rounds = int(frame["round"].max()) + 1
    seeds = sorted(int(s) for s in set(frame["seed"]))
    lines = [f"### {dataset}", "", f"Seeds {', '.join(map(str, seeds))}; accuracy in %.", ""]
    labelled = [int(frame[frame["round"] == r]["n_labelled"].iloc[0]) for r in range(n_rounds)]
    lines += [
        "| method | "
        + " | ".join(f"round {r} ({n})" for r, n in enumerate(labelled))
        + " | avg. | final |",
        "|---" * (n_rounds + 3) + "|",
    ]
    curves = analysis.learning_curves(frame, [dataset], methods)
    summary = analysis.method_summary(frame, [dataset], methods).set_index("method")
    out = {"methods": {}, "seeds": seeds, "n_labelled": labelled}
    for m in methods:
        c = curves[curves["method"] == m].sort_values("round")
        std = c["accuracy_std"].fillna(0.0)
        cells = [f"{pct(a)} ± {pct(s)}" for a, s in zip(c["accuracy_mean"], std, strict=True)]
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
            **{k: float(row[k]) for k in ("avg_mean", "avg_std", "final_mean", "final_std")},
        }
    ref = spec.get("reference", "random")
    if ref in methods:
        lines += _paired(frame, dataset, methods, ref, label, out)
    imbalance = spec["imbalance"].get(dataset)
    k = len(frame["labelled_per_class"].iloc[0])
    groups = class_groups(imbalance, k, spec.get("train_counts", {}).get(dataset))
    for group, classes in groups.items():
        lines += _shares(frame, dataset, methods, group, classes, label, out, n_rounds)
        counts = spec.get("train_counts", {}).get(dataset)
        if counts and not imbalance:
            share = sum(counts[c] for c in classes) / sum(counts)
            lines.append(f"\nThese classes are {pct(share)} % of the training set.")
    if imbalance and class_roles(imbalance, k)[1]:
        lines += _rare_ratio(frame, dataset, imbalance, methods, label, out, n_rounds)
    return lines, out


def _paired(frame, dataset, methods, ref, label, out) -> list[str]:
    diffs = analysis.paired_differences(frame, dataset, [m for m in methods if m != ref], ref)
    lines = [
        "",
        f"Paired difference from {label[ref]}, seed by seed (percentage points): mean ± std "
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
        out["methods"][d["method"]][f"vs_{ref}"] = {
            key: (v.item() if hasattr(v, "item") else v)
            for key, v in d.items()
            if key.startswith(("d_", "avg_ahead", "final_ahead", "seeds"))
        }
    return lines


def _shares(frame, dataset, methods, group, classes, label, out, n_rounds) -> list[str]:
    shares = analysis.selection_shares(frame, dataset, methods, classes)
    names = frame["class_names"].iloc[0]
    lines = [
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
    return lines


def _rare_ratio(frame, dataset, imbalance, methods, label, out, n_rounds) -> list[str]:
    rare = analysis.rare_ratio(frame, {dataset: imbalance}, methods)
    lines = [
        "",
        "Share of rare classes in the labelled set (Fig. 9), % (mean over seeds):",
        "",
        "| method | " + " | ".join(f"round {r}" for r in range(n_rounds)) + " |",
        "|---" * (n_rounds + 1) + "|",
    ]
    out["rare_ratio"] = {}
    for m in methods:
        r = rare[rare["method"] == m].sort_values("round")
        lines.append(f"| {label[m]} | " + " | ".join(pct(v) for v in r["rare_ratio_mean"]) + " |")
        out["rare_ratio"][m] = r["rare_ratio_mean"].tolist()
    return lines


def write_summary(rounds, spec: dict, out: dict, prov: dict | None = None) -> dict:
    """Summarise every dataset of ``spec`` and write ``out["json"]`` (the numbers, by
    dataset, with the provenance) and ``out["md"]`` (the tables), atomically."""
    numbers, lines = {}, [f"## {spec.get('title') or 'Summary'}", ""]
    for d in spec["datasets"]:
        text, numbers[d] = summarise(rounds, d, spec)
        lines += [*text, ""]
    if prov:
        lines.append(f"<sub>{', '.join(f'{k}: {v}' for k, v in prov.items())}</sub>")
    io.write_json(out["json"], {"datasets": numbers, "provenance": prov or {}})
    with io.atomic_path(out["md"]) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return numbers
