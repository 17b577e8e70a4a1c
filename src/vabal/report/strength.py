"""How each verdict depends on the classifier's strength (target ``strength``).

For each dataset and method: its paired difference from the reference method (Random) in
the paper's "avg." (the mean accuracy over rounds), seed by seed, under this config's
classifier and under the stored summaries of other protocols (the ``summary`` target's
JSON of an earlier protocol, e.g. v1's 12-epoch classifier), each with its 95 % t interval
over the seeds. A verdict that holds under one classifier and not under the other shows as
two intervals on either side of zero.

The stored side has the per-seed differences only as their mean, standard deviation and
count (the summary's numbers): the interval is computed from those, as
:func:`vabal.report.leaderboard.mean_interval` computes it from the values. With rounds of
equal budgets the "avg." is the area under the budget curve by the rectangle rule; it is
used rather than the leaderboard's AUBC because it is what every stored summary has.
"""

from __future__ import annotations

import math

import numpy as np

from vabal import io
from vabal.errors import DataError
from vabal.report import analysis
from vabal.report.leaderboard import LEVEL, moments_interval
from vabal.report.summary import pct

COLUMNS = [
    "dataset",
    "method",
    "label",
    "protocol",
    "seeds",
    "d_avg_mean",
    "d_avg_std",
    "d_avg_ci_low",
    "d_avg_ci_high",
    "d_final_mean",
    "avg_ahead",
]


def paired_numbers(rounds, datasets, methods, reference: str) -> dict:
    """This config's paired differences from ``reference`` in the layout of a summary's
    JSON: ``{dataset: {"methods": {method: {"vs_<reference>": {...}}}}}``."""
    out = {}
    for d in datasets:
        frame = rounds[rounds["dataset"] == d]
        present = [m for m in methods if m in set(frame["method"]) and m != reference]
        if frame.empty or reference not in set(frame["method"]) or not present:
            continue
        diffs = analysis.paired_differences(frame, d, present, reference)
        out[d] = {
            "methods": {
                row["method"]: {f"vs_{reference}": {k: row[k] for k in row.index}}
                for _, row in diffs.iterrows()
            }
        }
    return out


def protocol_rows(numbers: dict, protocol: str, spec: dict, level: float = LEVEL) -> list[dict]:
    """One row per (dataset, method) of ``spec`` found in a summary's ``numbers``."""
    numbers = numbers.get("datasets", numbers)  # a summary JSON, or its datasets
    ref = spec["reference"]
    rows = []
    for d in spec["datasets"]:
        for m in spec["methods"]:
            paired = numbers.get(d, {}).get("methods", {}).get(m, {}).get(f"vs_{ref}")
            if m == ref or not paired:
                continue
            n = int(paired["seeds"])
            mean, std = float(paired["d_avg_mean"]), paired.get("d_avg_std")
            std = math.nan if std is None else float(std)
            low, high = moments_interval(mean, std, n, level)
            rows.append(
                {
                    "dataset": d,
                    "method": m,
                    "label": spec["labels"].get(m, m),
                    "protocol": protocol,
                    "seeds": n,
                    "d_avg_mean": mean,
                    "d_avg_std": std,
                    "d_avg_ci_low": low,
                    "d_avg_ci_high": high,
                    "d_final_mean": float(paired["d_final_mean"]),
                    "avg_ahead": int(paired["avg_ahead"]),
                }
            )
    return rows


def strength_table(rounds, stored: dict[str, dict], spec: dict):
    """Every protocol's rows: the stored ones (``stored``: protocol -> summary numbers) in
    their order, then this config's (``spec["protocol"]``)."""
    import pandas as pd

    here = paired_numbers(rounds, spec["datasets"], spec["methods"], spec["reference"])
    rows = [r for p, numbers in stored.items() for r in protocol_rows(numbers, p, spec)]
    rows += protocol_rows(here, spec["protocol"], spec)
    if not rows:
        raise DataError(
            f"strength: no paired difference from {spec['reference']!r} for any of "
            f"{', '.join(spec['methods'])} on {', '.join(spec['datasets'])}"
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def strength_markdown(table, spec: dict, prov: dict | None = None) -> str:
    """Per dataset, a row per method: Δ avg. with its interval under each protocol."""
    protocols = list(dict.fromkeys(table["protocol"]))
    ref = spec["labels"].get(spec["reference"], spec["reference"])
    lines = [
        f"## {spec['title']}",
        "",
        f"Paired difference from {ref} in avg. accuracy (mean over rounds), percentage "
        f"points: mean [{100 * spec['level']:g} % CI] (seeds ahead / seeds).",
        "",
    ]
    for d in spec["datasets"]:
        block = table[table["dataset"] == d]
        if block.empty:
            continue
        lines += [f"### {d}", "", "| method | " + " | ".join(protocols) + " |"]
        lines.append("|---" * (len(protocols) + 1) + "|")
        for m in dict.fromkeys(block["method"]):
            cells = []
            for p in protocols:
                row = block[(block["method"] == m) & (block["protocol"] == p)]
                if row.empty:
                    cells.append("—")
                    continue
                r = row.iloc[0]
                interval = (
                    ""
                    if np.isnan(r["d_avg_ci_low"])
                    else f" [{pct(r['d_avg_ci_low'], True)}, {pct(r['d_avg_ci_high'], True)}]"
                )
                cells.append(
                    f"{pct(r['d_avg_mean'], True)}{interval} ({r['avg_ahead']}/{r['seeds']})"
                )
            lines.append(f"| {spec['labels'].get(m, m)} | " + " | ".join(cells) + " |")
        lines.append("")
    if prov:
        lines.append(f"<sub>{', '.join(f'{k}: {v}' for k, v in prov.items())}</sub>")
    return "\n".join(lines) + "\n"


def strength_figure(table, spec: dict, out_png) -> None:
    """Per dataset one panel, a row per method: each protocol's Δ avg. (pp) with its
    interval, side by side; a line at zero (no difference from the reference)."""
    from vabal.report.plots import _grid, _pyplot, _save, _suptitle, _wrap

    plt = _pyplot()
    protocols = list(dict.fromkeys(table["protocol"]))
    markers = dict(zip(protocols, ["o", "D", "s", "^"], strict=False))
    shades = dict(zip(protocols, np.linspace(0.65, 0.0, len(protocols)), strict=True))
    datasets = [d for d in spec["datasets"] if (table["dataset"] == d).any()]
    n_methods = max(table[table["dataset"] == d]["method"].nunique() for d in datasets)
    fig, axes = _grid(plt, len(datasets), size=(4.6, 1.2 + 0.42 * n_methods))
    step = 0.6 / max(1, len(protocols))
    for ax, d in zip(axes, datasets, strict=True):
        block = table[table["dataset"] == d]
        methods = list(dict.fromkeys(block["method"]))
        for i, p in enumerate(protocols):
            rows = block[block["protocol"] == p].set_index("method")
            for y, m in zip(range(len(methods))[::-1], methods, strict=True):
                if m not in rows.index:
                    continue
                r = rows.loc[m]
                mean, lo, hi = (100 * r[k] for k in ("d_avg_mean", "d_avg_ci_low", "d_avg_ci_high"))
                err = [[0.0], [0.0]] if math.isnan(lo) else [[mean - lo], [hi - mean]]
                shade = str(shades[p])
                ax.errorbar(
                    [mean],
                    [y + (len(protocols) - 1) * step / 2 - i * step],
                    xerr=err,
                    fmt=markers[p],
                    ms=4.5,
                    capsize=2.5,
                    color=shade,
                    label=p if y == len(methods) - 1 else None,
                )
        ax.axvline(0.0, ls=":", lw=1, color="black")
        ax.set_yticks(range(len(methods))[::-1], [spec["labels"].get(m, m) for m in methods])
        ax.set_ylim(-0.6, len(methods) - 0.4)
        ref = spec["labels"].get(spec["reference"], spec["reference"])
        ax.set_xlabel(f"Δ avg. accuracy vs {ref} (pp), {100 * spec['level']:g} % CI")
        ax.set_title(_wrap(spec.get("panel_titles", {}).get(d, d)), fontsize=9)
        ax.legend(fontsize=7, loc="best")
    _suptitle(fig, spec["title"])
    _save(fig, out_png)


def write_strength(rounds, stored_files: dict[str, str], spec: dict, out: dict, prov=None):
    """Compare this config's paired differences with the stored summaries' and write
    ``out["figure"]`` (PNG), ``out["data"]`` (CSV, the numbers plotted) and ``out["md"]``."""
    from vabal.report.tables import write_table

    spec = {"level": LEVEL, **spec}
    stored = {protocol: io.read_json(path) for protocol, path in stored_files.items()}
    table = strength_table(rounds, stored, spec)
    strength_figure(table, spec, out["figure"])
    write_table(out["data"], table, prov)
    with io.atomic_path(out["md"]) as tmp:
        tmp.write_text(strength_markdown(table, spec, prov))
    return table
