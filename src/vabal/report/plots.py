"""The paper's figures, drawn from per-round results (no training happens here).

:func:`draw` takes a target's spec (:func:`vabal.plan.targets.target_spec`), the frame of the
rounds it needs and two paths: the figure (PNG) and the data it plots (CSV, the frame
returned by :mod:`vabal.report.analysis`, with provenance columns). Fig. 5 also reads the first
round's selections, classifiers and images (:func:`top_images`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from vabal import io
from vabal.data.variants import class_roles
from vabal.errors import DataError
from vabal.report import analysis
from vabal.report.tables import write_table

PANEL_SIZE = (4.2, 3.2)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    return plt


def _colors(spec):
    """One colour per method, the same in every figure: by the method's place in the
    config's ``methods`` (``spec["colors"]``)."""
    import seaborn as sns

    palette = sns.color_palette("colorblind", 10) + sns.color_palette("husl", 10)
    return {m: palette[i % len(palette)] for m, i in spec["colors"].items()}


def _grid(plt, n, size=PANEL_SIZE, max_cols=3):
    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(size[0] * cols, size[1] * rows), dpi=150, squeeze=False
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _save(fig, out_png) -> None:
    plt = _pyplot()
    fig.tight_layout()
    with io.atomic_path(out_png) as tmp:
        fig.savefig(tmp, format=Path(out_png).suffix.lstrip(".") or "png")
    plt.close(fig)


def _curve(ax, frame, color, label, band="std", style="-"):
    frame = frame.sort_values("round")
    x, y = frame["n_labelled"], 100 * frame["accuracy_mean"]
    ax.plot(x, y, style, marker="o", ms=3, label=label, color=color)
    if band == "std":
        std = 100 * frame["accuracy_std"].fillna(0.0)
        ax.fill_between(x, y - std, y + std, alpha=0.18, color=color, lw=0)
    elif band == "range":
        lo, hi = 100 * frame["accuracy_min"], 100 * frame["accuracy_max"]
        ax.fill_between(x, lo, hi, alpha=0.12, color=color, lw=0)


def _wrap(title: str, width: int = 60) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(title, width)) or title


def _suptitle(fig, title: str) -> None:
    """A figure title wrapped to the figure's width."""
    fig.suptitle(_wrap(title, int(13 * fig.get_figwidth())), fontsize=10)


def _label_axes(ax, title, ylabel="accuracy (%)"):
    ax.set_xlabel("number of labelled samples")
    ax.set_ylabel(ylabel)
    ax.set_title(_wrap(title), fontsize=9)
    ax.legend(frameon=False, fontsize=6.5)


# ----------------------------------------------------------------------------- curves
def curve_panels_figure(data, spec, out_png) -> None:
    """Learning curves, one panel per ``panel`` of ``data`` (mean +- std band)."""
    plt = _pyplot()
    panels = data.drop_duplicates("panel_index").sort_values("panel_index")
    fig, axes = _grid(plt, len(panels))
    colors = _colors(spec)
    for ax, (_, p) in zip(axes, panels.iterrows(), strict=True):
        block = data[data["panel_index"] == p["panel_index"]]
        for method in dict.fromkeys(block["method"]):
            _curve(ax, block[block["method"] == method], colors[method], spec["labels"][method])
        _label_axes(ax, p["panel"])
    if len(axes) > 1:
        _suptitle(fig, spec["title"])
    _save(fig, out_png)


def trials_figure(data, spec, out_png) -> None:
    """Figs. 14-23: one panel per trial of the highlighted method; competitors as the mean
    over all their trials with their min-max range shaded."""
    plt = _pyplot()
    colors = _colors(spec)
    hl = spec["highlight"]
    panels = data.drop_duplicates("panel_index").sort_values("panel_index")
    fig, axes = _grid(plt, len(panels))
    for ax, (_, p) in zip(axes, panels.iterrows(), strict=True):
        block = data[data["panel_index"] == p["panel_index"]]
        for method in spec["methods"]:
            rows = block[block["method"] == method]
            if rows.empty:
                continue
            if method == hl:
                _curve(ax, rows, colors[method], f"{spec['labels'][method]} (this trial)", None)
            else:
                label = f"{spec['labels'][method]} (all trials)"
                _curve(ax, rows, colors[method], label, "range", "--")
        _label_axes(ax, p["panel"])
    _suptitle(fig, spec["title"])
    _save(fig, out_png)


# ----------------------------------------------------------------------------- summaries
def _summary_axes(plt, spec):
    fig, axes = _grid(plt, 2, max_cols=2)
    for ax, part in zip(axes, ("avg", "final"), strict=True):
        name = "accuracy averaged over rounds (%)" if part == "avg" else "final accuracy (%)"
        ax.set_ylabel(name)
    _suptitle(fig, spec["title"])
    return fig, axes


def budget_figure(data, spec, out_png) -> None:
    """Fig. 7(a): avg. and final accuracy against the budget per round, per method."""
    plt = _pyplot()
    colors = _colors(spec)
    fig, axes = _summary_axes(plt, spec)
    for ax, part in zip(axes, ("avg", "final"), strict=True):
        for method in spec["methods"]:
            rows = data[data["method"] == method].sort_values("budget")
            y, err = 100 * rows[f"{part}_mean"], 100 * rows[f"{part}_std"].fillna(0)
            ax.errorbar(
                rows["budget"],
                y,
                err,
                marker="o",
                ms=3,
                capsize=2,
                color=colors[method],
                label=spec["labels"][method],
            )
        ax.set_xlabel("samples labelled per round")
        ax.set_xticks(sorted(data["budget"].unique()))
        ax.legend(frameon=False, fontsize=6.5)
    _save(fig, out_png)


def lambda_figure(data, spec, out_png) -> None:
    """Fig. 7(b): avg. and final accuracy of VaB-AL against lambda; competitors as lines."""
    plt = _pyplot()
    colors = _colors(spec)
    fig, axes = _summary_axes(plt, spec)
    sweep = data[data["role"] == "sweep"].sort_values("lambda")
    positive = sweep["lambda"] > 0
    for ax, part in zip(axes, ("avg", "final"), strict=True):
        y, err = 100 * sweep[f"{part}_mean"], 100 * sweep[f"{part}_std"].fillna(0)
        first = spec["sweep"][0]
        ax.errorbar(
            sweep["lambda"],
            y,
            err,
            marker="o",
            ms=3,
            capsize=2,
            color=colors[first],
            label=spec["labels"][first].split(" (")[0],
        )
        for _, row in data[data["role"] == "competitor"].iterrows():
            ax.axhline(
                100 * row[f"{part}_mean"],
                ls="--",
                lw=1,
                color=colors[row["method"]],
                label=spec["labels"][row["method"]],
            )
        if positive.all() and len(sweep) > 1:
            ax.set_xscale("log")
            ax.minorticks_off()
        ax.set_xticks(sweep["lambda"].tolist(), [f"{v:g}" for v in sweep["lambda"]])
        ax.set_xlabel("λ (Eq. 10)")
        ax.legend(frameon=False, fontsize=6.5)
    _save(fig, out_png)


def rare_ratio_figure(data, spec, out_png) -> None:
    """Fig. 9: share of rare-class samples in the labelled set, per round, per method."""
    plt = _pyplot()
    colors = _colors(spec)
    datasets = list(dict.fromkeys(data["dataset"]))
    fig, axes = _grid(plt, len(datasets))
    for ax, d in zip(axes, datasets, strict=True):
        block = data[data["dataset"] == d]
        for method in spec["methods"]:
            rows = block[block["method"] == method].sort_values("round")
            y, std = 100 * rows["rare_ratio_mean"], 100 * rows["rare_ratio_std"].fillna(0)
            ax.plot(
                rows["n_labelled"],
                y,
                marker="o",
                ms=3,
                color=colors[method],
                label=spec["labels"][method],
            )
            ax.fill_between(
                rows["n_labelled"], y - std, y + std, alpha=0.18, color=colors[method], lw=0
            )
        rare = block["rare_classes"].iloc[0]
        _label_axes(ax, f"{d} (rare classes {rare})", "rare classes in the labelled set (%)")
    _suptitle(fig, spec["title"])
    _save(fig, out_png)


def class_scatter_figure(data, spec, out_png) -> None:
    """Fig. 6: per class, its accuracy against its number of labelled samples, per method."""
    plt = _pyplot()
    colors = _colors(spec)
    markers = "osD^v<>Ph*"
    fig, axes = _grid(plt, 1, size=(5.2, 4.0))
    ax = axes[0]
    for i, method in enumerate(spec["methods"]):
        rows = data[data["method"] == method]
        ax.scatter(
            100 * rows["accuracy"],
            rows["labelled"],
            s=22,
            color=colors[method],
            marker=markers[i % len(markers)],
            label=spec["labels"][method],
            alpha=0.85,
        )
    ax.set_xlabel("class-wise accuracy (%)")
    ax.set_ylabel("class-wise number of labelled samples")
    ax.set_title(_wrap(f"{spec['title']}, round {int(data['round'].max())}"), fontsize=9)
    ax.legend(frameon=False, fontsize=6.5)
    _save(fig, out_png)


# ----------------------------------------------------------------------------- Fig. 5
def top_images(spec, files: dict, out_png, out_data, prov=None) -> None:
    """Fig. 5: per method, the top-ranked images of one round's selection, with ground truth
    and the prediction of that round's classifier under each; dominant classes in red."""
    import pandas as pd

    from vabal.learn.training import load_classifier, predict_logits

    meta = io.read_json(files["meta"])
    samples = io.read_table(files["samples"], "samples")
    images = io.read_npy(files["images"], mmap=True)
    names = list(meta["class_names"])
    dataset = spec["datasets"][0]
    dominant, _ = class_roles(spec["imbalance"][dataset], len(names))
    rows = []
    for method, sel_path, clf_path in zip(
        spec["methods"], files["selection"], files["classifier"], strict=True
    ):
        sel = io.read_table(sel_path, "selection").sort_values("rank").head(spec["images"])
        ids = sel["sample_id"].to_numpy(dtype=np.int64)
        model, ckpt = load_classifier(clf_path, "cpu")
        logits = predict_logits(model, np.asarray(images[ids]), ckpt["mean"], ckpt["std"], 256)
        pred = logits.argmax(axis=1)
        truth = samples["label"].to_numpy()[ids]
        if not np.array_equal(truth, sel["label"].to_numpy()):
            raise DataError(f"{sel_path}: labels differ from {files['samples']}")
        for rank, (i, t, p) in enumerate(zip(ids, truth, pred, strict=True)):
            rows.append(
                {
                    "method": method,
                    "rank": rank,
                    "sample_id": int(i),
                    "label": int(t),
                    "class_name": names[t],
                    "predicted": int(p),
                    "predicted_name": names[p],
                    "dominant": bool(t in dominant),
                    "score": float(sel["score"].iloc[rank]) if "score" in sel else np.nan,
                }
            )
    data = pd.DataFrame(rows)
    _top_images_figure(data, images, spec, out_png)
    write_table(out_data, data, prov)


def _top_images_figure(data, images, spec, out_png) -> None:
    plt = _pyplot()
    methods, k = spec["methods"], spec["images"]
    fig, axes = plt.subplots(
        len(methods),
        k,
        figsize=(1.15 * k + 1.2, 1.45 * len(methods) + 0.5),
        dpi=150,
        squeeze=False,
    )
    for r, method in enumerate(methods):
        rows = data[data["method"] == method].sort_values("rank")
        for c in range(k):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if c >= len(rows):
                ax.set_visible(False)
                continue
            row = rows.iloc[c]
            img = np.asarray(images[row["sample_id"]])
            gray = img.shape[-1] == 1
            ax.imshow(img[..., 0] if gray else img, cmap="gray" if gray else None)
            color = "red" if row["dominant"] else "black"
            ax.set_xlabel(
                f"y: {row['class_name']}\nŷ: {row['predicted_name']}", fontsize=5.5, color=color
            )
            for side in ax.spines.values():
                side.set_edgecolor(color)
                side.set_linewidth(1.5 if row["dominant"] else 0.5)
        axes[r][0].set_ylabel(spec["labels"][method], fontsize=7)
    fig.suptitle(
        _wrap(
            f"{spec['title']}: seed {spec['seed']}, round {spec['round']}; dominant class in red",
            120,
        ),
        fontsize=8,
    )
    _save(fig, out_png)


# ----------------------------------------------------------------------------- dispatch
def figure_data(spec: dict, rounds):
    """The frame a figure plots (see :mod:`vabal.report.analysis`)."""
    kind, datasets, methods = spec["kind"], spec["datasets"], spec["methods"]
    analysis.require(rounds, datasets, methods + spec.get("sweep", []), f"{spec['name']} ({kind})")
    if kind == "curve":
        return analysis.curve_panels(rounds, [(spec["title"], datasets, methods)])
    if kind == "panels":
        return analysis.curve_panels(
            rounds, [(spec["panel_titles"][d], [d], methods) for d in datasets]
        )
    if kind == "sweep_panels":
        panels = [(f"λ = {spec['lambdas'][m]:g}", datasets, [m, *methods]) for m in spec["sweep"]]
        return analysis.curve_panels(rounds, panels)
    if kind == "trials":
        return analysis.trials(rounds, datasets[0], methods, spec["highlight"])
    if kind == "budget_summary":
        return analysis.budget_summary(rounds, spec["budgets"], methods)
    if kind == "lambda_summary":
        return analysis.lambda_summary(rounds, datasets, spec["lambdas"], methods)
    if kind == "rare_ratio":
        return analysis.rare_ratio(rounds, spec["imbalance"], methods)
    if kind == "class_scatter":
        return analysis.class_scatter(rounds, datasets[0], methods, spec.get("round"))
    raise ValueError(f"{spec['name']}: no figure data for kind {kind!r}")


DRAW = {
    "curve": curve_panels_figure,
    "panels": curve_panels_figure,
    "sweep_panels": curve_panels_figure,
    "trials": trials_figure,
    "budget_summary": budget_figure,
    "lambda_summary": lambda_figure,
    "rare_ratio": rare_ratio_figure,
    "class_scatter": class_scatter_figure,
}


def draw(spec: dict, rounds, out_png, out_data, prov=None):
    """Compute a figure's data from ``rounds``, draw it and write both; returns the data."""
    data = figure_data(spec, rounds)
    DRAW[spec["kind"]](data, spec, out_png)
    write_table(out_data, data, prov)
    return data


# ----------------------------------------------------------------------------- diagnostics
def vabal_diagnostics(spec: dict, paths: list, out_png, out_data, prov=None):
    """The diagnostics figure: per round, for each (dataset, VaB-AL method), the spread of
    the three log-terms of Eq. 6, the share of the selection the prior and the difficulty
    move, active units, reconstruction R² and VAE/classifier agreement (mean over seeds,
    std band). Reads each scored round's ``score_diagnostics.json``."""
    data = analysis.vabal_diagnostics([io.read_json(p) for p in paths], spec["keys"])
    _diagnostics_figure(data, spec, out_png)
    write_table(out_data, data, prov)
    return data


def _diagnostics_figure(data, spec, out_png) -> None:
    import seaborn as sns

    plt = _pyplot()
    columns = list(analysis.DIAGNOSTIC_COLUMNS)
    fig, axes = _grid(plt, len(columns), size=(3.6, 2.8), max_cols=4)
    lines = list(dict.fromkeys(zip(data["dataset"], data["method"], strict=True)))
    palette = sns.color_palette("colorblind", 10) + sns.color_palette("husl", 10)
    stats = data.groupby(["dataset", "method", "round"])[columns].agg(["mean", "std"])
    rounds = sorted(int(r) for r in data["round"].unique())
    for ax, col in zip(axes, columns, strict=True):
        for i, (d, m) in enumerate(lines):
            block = stats.loc[(d, m)]
            x, y = block.index.to_numpy(), block[(col, "mean")].to_numpy(dtype=float)
            if np.isnan(y).all():
                continue
            sd = np.nan_to_num(block[(col, "std")].to_numpy(dtype=float))
            color = palette[i % len(palette)]
            ax.plot(x, y, marker="o", ms=3, color=color, label=f"{d}: {spec['labels'][m]}")
            ax.fill_between(x, y - sd, y + sd, alpha=0.15, color=color, lw=0)
        if col == "std_log_likelihood":
            ax.set_yscale("log")
        ax.set_xlabel("round")
        ax.set_title(_wrap(analysis.DIAGNOSTIC_COLUMNS[col], 40), fontsize=8)
        ax.set_xticks(rounds)  # the scored rounds, also when there is only one
        ax.set_xlim(rounds[0] - 0.5, rounds[-1] + 0.5)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=6.5)
    _suptitle(fig, spec["title"])
    fig.tight_layout(rect=(0, 0.04 + 0.025 * math.ceil(len(labels) / 4), 1, 0.95))
    with io.atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
