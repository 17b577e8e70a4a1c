"""The numbers behind each figure and table, computed from the per-round table.

Every function takes a rounds frame (the columns of ``rounds.parquet``: dataset, method,
seed, round, n_labelled, accuracy, per_class_accuracy, labelled_per_class, ...) and returns
a tidy frame, which the plotting code draws and writes beside the figure. Accuracies stay
fractions in [0, 1] here; the paper's tables are in percent (see :mod:`vabal.report.tables`).
Nothing trains or reads images here.
"""

from __future__ import annotations

import numpy as np

from vabal.errors import DataError


def select(rounds, datasets=None, methods=None):
    frame = rounds
    if datasets is not None:
        frame = frame[frame["dataset"].isin(list(datasets))]
    if methods is not None:
        frame = frame[frame["method"].isin(list(methods))]
    return frame


def require(frame, datasets, methods, what: str) -> None:
    """Fail with one message when a (dataset, method) pair has no rows."""
    have = set(zip(frame["dataset"], frame["method"], strict=True))
    missing = [(d, m) for d in datasets for m in methods if (d, m) not in have]
    if missing:
        raise DataError(f"{what}: no rounds for (dataset, method) {missing}")


def learning_curves(rounds, datasets, methods):
    """Mean, std, min and max over the given datasets x seeds of accuracy, per method and
    round (the layout of Figs. 3, 4, 8, 10-13). ``runs`` counts the curves averaged."""
    frame = select(rounds, datasets, methods)
    out = (
        frame.groupby(["method", "round"], sort=False)
        .agg(
            n_labelled=("n_labelled", "mean"),
            accuracy_mean=("accuracy", "mean"),
            accuracy_std=("accuracy", "std"),
            accuracy_min=("accuracy", "min"),
            accuracy_max=("accuracy", "max"),
            runs=("accuracy", "size"),
        )
        .reset_index()
    )
    return _order(out, "method", methods).sort_values(["method", "round"], kind="stable")


def _order(frame, column, order):
    """``frame`` with ``column`` as an ordered categorical (legend order = config order)."""
    import pandas as pd

    frame = frame.copy()
    frame[column] = pd.Categorical(frame[column], categories=list(order), ordered=True)
    return frame


def _plain(frame):
    """Categorical columns back to strings (for the written data files)."""
    frame = frame.copy()
    for col in frame.columns:
        if str(frame[col].dtype) == "category":
            frame[col] = frame[col].astype(str)
    return frame.reset_index(drop=True)


def curve_panels(rounds, panels):
    """One learning-curve block per panel; ``panels`` is a list of (title, datasets, methods)."""
    import pandas as pd

    parts = []
    for i, (title, datasets, methods) in enumerate(panels):
        curves = _plain(learning_curves(rounds, datasets, methods))
        curves.insert(0, "panel", title)
        curves.insert(1, "panel_index", i)
        parts.append(curves)
    return pd.concat(parts, ignore_index=True)


def trials(rounds, dataset, methods, highlight):
    """Figs. 14-23: per seed of ``highlight`` one panel with that seed's curve, beside the
    competitors aggregated over all their seeds (mean, min and max)."""
    import pandas as pd

    frame = select(rounds, [dataset])
    own = frame[frame["method"] == highlight]
    others = [m for m in methods if m != highlight]
    agg = _plain(learning_curves(frame, [dataset], others)) if others else None
    parts = []
    for i, seed in enumerate(sorted(own["seed"].unique())):
        run = own[own["seed"] == seed].sort_values("round")
        mine = pd.DataFrame(
            {
                "panel": f"trial {i + 1} (seed {seed})",
                "panel_index": i,
                "method": highlight,
                "seed": seed,
                "round": run["round"].to_numpy(),
                "n_labelled": run["n_labelled"].to_numpy(dtype=float),
                "accuracy_mean": run["accuracy"].to_numpy(),
                "accuracy_std": np.nan,
                "accuracy_min": run["accuracy"].to_numpy(),
                "accuracy_max": run["accuracy"].to_numpy(),
                "runs": 1,
            }
        )
        parts.append(mine)
        if agg is not None:
            comp = agg.copy()
            comp.insert(0, "panel", mine["panel"].iloc[0])
            comp.insert(1, "panel_index", i)
            comp.insert(3, "seed", -1)
            parts.append(comp)
    if not parts:
        raise DataError(f"trials: no rounds of {highlight!r} on {dataset!r}")
    return pd.concat(parts, ignore_index=True)


def run_summary(rounds):
    """Per run (dataset, method, seed): accuracy averaged over all its rounds (the paper's
    "avg.") and at its last round ("final"), with the run's number of rounds."""
    frame = rounds.sort_values(["dataset", "method", "seed", "round"])
    grouped = frame.groupby(["dataset", "method", "seed"], sort=False)
    out = grouped.agg(
        avg=("accuracy", "mean"),
        final=("accuracy", "last"),
        rounds=("round", "size"),
        final_n_labelled=("n_labelled", "last"),
    ).reset_index()
    return out


def method_summary(rounds, datasets, methods, by=("dataset", "method")):
    """Mean and std over seeds (and over datasets not in ``by``) of avg. and final accuracy."""
    runs = run_summary(select(rounds, datasets, methods))
    out = (
        runs.groupby(list(by), sort=False)
        .agg(
            avg_mean=("avg", "mean"),
            avg_std=("avg", "std"),
            final_mean=("final", "mean"),
            final_std=("final", "std"),
            runs=("avg", "size"),
        )
        .reset_index()
    )
    return out


def paired_differences(rounds, dataset, methods, baseline: str):
    """Per method, its avg. and final accuracy minus ``baseline``'s, seed by seed (the runs
    of one seed share the initial labelled set and every random choice made before the
    methods differ): the mean and std of the differences over the seeds both have, their
    min and max, and in how many seeds the method is ahead."""
    import pandas as pd

    runs = run_summary(select(rounds, [dataset], [*methods, baseline]))
    base = runs[runs["method"] == baseline].set_index("seed")
    rows = []
    for method in methods:
        mine = runs[runs["method"] == method].set_index("seed")
        seeds = sorted(set(mine.index) & set(base.index))
        row = {"dataset": dataset, "method": method, "baseline": baseline, "seeds": len(seeds)}
        for what in ("avg", "final"):
            diff = (mine.loc[seeds, what] - base.loc[seeds, what]).to_numpy(dtype=float)
            row.update(
                {
                    f"{what}_mean": float(mine.loc[seeds, what].mean()) if seeds else np.nan,
                    f"d_{what}_mean": float(diff.mean()) if seeds else np.nan,
                    f"d_{what}_std": float(diff.std(ddof=1)) if len(seeds) > 1 else np.nan,
                    f"d_{what}_min": float(diff.min()) if seeds else np.nan,
                    f"d_{what}_max": float(diff.max()) if seeds else np.nan,
                    f"{what}_ahead": int((diff > 0).sum()),
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)


def selection_shares(rounds, dataset, methods, classes: list[int]):
    """The share of each round's selection that belongs to ``classes`` (0-based), from the
    labelled counts of consecutive rounds (round r's selection is what round r+1 adds):
    one row per (method, seed, round of the selection)."""
    import pandas as pd

    frame = select(rounds, [dataset], methods).sort_values(["method", "seed", "round"])
    rows = []
    for (method, seed), run in frame.groupby(["method", "seed"], sort=False):
        counts = np.stack(run["labelled_per_class"].map(np.asarray).to_numpy())
        for r, added in enumerate(np.diff(counts, axis=0)):
            total = added.sum()
            rows.append(
                {
                    "method": method,
                    "seed": int(seed),
                    "round": int(run["round"].iloc[r]),
                    "selected": int(total),
                    "share": float(added[classes].sum() / total) if total else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=["method", "seed", "round", "selected", "share"])


def budget_summary(rounds, budgets: dict, methods):
    """Fig. 7(a): avg. and final accuracy per (budget variant, method)."""
    out = method_summary(rounds, list(budgets), methods)
    out.insert(1, "budget", out["dataset"].map(budgets).astype(int))
    out = _order(out, "method", methods).sort_values(["method", "budget"], kind="stable")
    return _plain(out)


def lambda_summary(rounds, datasets, sweep: dict, competitors):
    """Fig. 7(b): avg. and final accuracy of each swept VaB-AL (its lambda) and of each
    competitor (lambda empty), averaged over the datasets and seeds."""
    methods = [*sweep, *competitors]
    out = method_summary(rounds, datasets, methods, by=("method",))
    out.insert(1, "lambda", out["method"].map(lambda m: sweep.get(m, np.nan)).astype(float))
    out.insert(2, "role", np.where(out["method"].isin(list(sweep)), "sweep", "competitor"))
    out = _order(out, "method", methods).sort_values(["method"], kind="stable")
    return _plain(out)


def rare_ratio(rounds, imbalances: dict, methods):
    """Fig. 9: share of the labelled set that belongs to the rare classes, per round, mean
    and std over seeds, per (dataset, method)."""
    import pandas as pd

    from vabal.data.variants import class_roles

    parts = []
    for dataset, spec in imbalances.items():
        frame = select(rounds, [dataset], methods).copy()
        if frame.empty:
            continue
        k = len(frame["labelled_per_class"].iloc[0])
        _, rare = class_roles(spec, k)
        if not rare:
            raise DataError(f"rare_ratio: dataset {dataset!r} has no rare classes")
        counts = np.stack(frame["labelled_per_class"].map(np.asarray).to_numpy())
        frame["rare_ratio"] = counts[:, rare].sum(axis=1) / counts.sum(axis=1)
        agg = (
            frame.groupby(["method", "round"], sort=False)
            .agg(
                n_labelled=("n_labelled", "mean"),
                rare_ratio_mean=("rare_ratio", "mean"),
                rare_ratio_std=("rare_ratio", "std"),
                runs=("rare_ratio", "size"),
            )
            .reset_index()
        )
        agg.insert(0, "dataset", dataset)
        agg.insert(1, "rare_classes", ",".join(str(c + 1) for c in rare))
        parts.append(_plain(_order(agg, "method", methods).sort_values(["method", "round"])))
    return pd.concat(parts, ignore_index=True)


def class_scatter(rounds, dataset, methods, round_=None):
    """Fig. 6: per method and class, the class's accuracy and the number of its samples in
    the labelled set, at ``round_`` (default: each run's last round), mean over seeds."""
    import pandas as pd

    frame = select(rounds, [dataset], methods)
    if round_ is None:
        last = frame.groupby(["method", "seed"])["round"].transform("max")
        frame = frame[frame["round"] == last]
    else:
        frame = frame[frame["round"] == round_]
    rows = []
    for _, row in frame.iterrows():
        names = list(row["class_names"])
        for c, (acc, n) in enumerate(
            zip(row["per_class_accuracy"], row["labelled_per_class"], strict=True)
        ):
            rows.append(
                {
                    "method": row["method"],
                    "seed": row["seed"],
                    "round": row["round"],
                    "class_index": c,
                    "class_name": names[c],
                    "accuracy": acc,
                    "labelled": n,
                }
            )
    long = pd.DataFrame(rows)
    out = (
        long.groupby(["method", "class_index", "class_name"], sort=False)
        .agg(
            round=("round", "max"),
            accuracy=("accuracy", "mean"),
            labelled=("labelled", "mean"),
            runs=("accuracy", "size"),
        )
        .reset_index()
    )
    out.insert(0, "dataset", dataset)
    return _plain(_order(out, "method", methods).sort_values(["method", "class_index"]))


#: Columns of :func:`vabal_diagnostics`: what a VaB-AL round's score_diagnostics.json says
#: about whether its terms can act (docs/method.md, "Diagnostics").
DIAGNOSTIC_COLUMNS = {
    "std_log_likelihood": "spread of log p(x|y^) as scored (std)",
    "std_log_prior": "spread of log p(y^) (std)",
    "std_log_difficulty": "spread of log p(y|y^) (std)",
    "changed_prior_off": "share of the selection moved by the prior",
    "changed_difficulty_off": "share of the selection moved by the difficulty",
    "active_units": "active latent units (share)",
    "recon_r2": "reconstruction R²",
    "vae_classifier_agreement": "VAE / classifier agreement (unlabelled pool)",
}


def vabal_diagnostics(diagnostics: list[dict], keys: list):
    """One row per scored VaB-AL round: ``keys`` are the (dataset, method, seed, round) of
    each ``score_diagnostics.json`` in ``diagnostics``, in the same order."""
    import pandas as pd

    rows = []
    for (d, m, s, r), diag in zip(keys, diagnostics, strict=True):
        terms = diag.get("terms") or {}
        change = diag.get("selection_change") or {}
        collapse = diag.get("collapse") or {}
        latent = collapse.get("latent_dim")
        active = collapse.get("active_units")
        rows.append(
            {
                "dataset": d,
                "method": m,
                "seed": int(s),
                "round": int(r),
                "reading": (diag.get("params") or {}).get("reading", "literal"),
                "std_log_likelihood": (terms.get("log_likelihood") or {}).get("std"),
                "std_log_prior": (terms.get("log_prior") or {}).get("std"),
                "std_log_difficulty": (terms.get("log_difficulty") or {}).get("std"),
                "changed_prior_off": change.get("prior_off"),
                "changed_difficulty_off": change.get("difficulty_off"),
                "active_units": active / latent if active is not None and latent else None,
                "recon_r2": collapse.get("recon_r2"),
                "vae_classifier_agreement": diag.get("vae_classifier_agreement"),
            }
        )
    frame = pd.DataFrame(rows)
    for col in DIAGNOSTIC_COLUMNS:
        frame[col] = pd.to_numeric(frame.get(col), errors="coerce")
    return frame.sort_values(["dataset", "method", "seed", "round"]).reset_index(drop=True)
