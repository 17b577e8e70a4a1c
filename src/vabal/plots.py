"""Figures rebuilt from the per-round table (no training happens here)."""

from __future__ import annotations

from pathlib import Path

from vabal import io
from vabal.tables import learning_curves, read_rounds, write_table


def accuracy_curve(rounds_path, out_png, out_data, datasets, methods=None, title=None) -> None:
    """Accuracy vs number of labelled samples, mean +- std over seeds, one line per method
    (the layout of Figs. 3 and 4 of the paper)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    rounds = read_rounds(rounds_path)
    curves = learning_curves(rounds, datasets, methods)
    if curves.empty:
        raise ValueError(f"no rounds for datasets {datasets} in {rounds_path}")
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(4.5, 3.4), dpi=150)
    palette = sns.color_palette("colorblind", n_colors=curves["method"].nunique())
    for color, (method, frame) in zip(palette, curves.groupby("method", sort=True), strict=True):
        frame = frame.sort_values("round")
        x, y = frame["n_labelled"], 100 * frame["accuracy_mean"]
        std = 100 * frame["accuracy_std"].fillna(0.0)
        ax.plot(x, y, marker="o", ms=3, label=method, color=color)
        ax.fill_between(x, y - std, y + std, alpha=0.2, color=color)
    ax.set_xlabel("number of labelled samples")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or " + ".join(datasets))
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    with io.atomic_path(out_png) as tmp:
        fig.savefig(tmp, format=Path(out_png).suffix.lstrip(".") or "png")
    plt.close(fig)
    write_table(out_data, curves)
