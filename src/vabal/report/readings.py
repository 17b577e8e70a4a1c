"""VaB-AL's stored rounds scored again under every reading of Eq. 6 (target ``readings``).

The VAE of a round does not depend on how ``p(x|y^)`` enters the score (the ``reading``),
so one trained VAE gives paired selections: for each seed's round, every reading (and,
with ``all_terms``, the literal sum over classes of Eq. 6 under the first three) is scored
from the same ``features.pt`` and ``vae.pt``. Per reading: the dominant-class share of the
selection, the share the prior and the difficulty move, the spread of the three log-terms,
and how often the classifier is wrong on the selected samples (what Eq. 6 estimates).
"""

from __future__ import annotations

import numpy as np

from vabal import io
from vabal.data.variants import class_roles
from vabal.report.summary import pct as percent

#: the table's columns: each reads one number from a reading's result (None: not there)
ROWS = {
    "dominant_share": lambda v: v["dominant_share"],
    "classifier_error_on_selection": lambda v: v["classifier_error_on_selection"],
    "prior_off": lambda v: v.get("selection_change", {}).get("prior_off"),
    "difficulty_off": lambda v: v.get("selection_change", {}).get("difficulty_off"),
}


def variants(all_terms: bool) -> dict[str, dict]:
    """Reading name -> the VaB-AL parameters it sets."""
    from vabal.methods.vabal.vae import READINGS

    out = {r: {"reading": r} for r in READINGS}
    if all_terms:
        out.update({f"{r}, all": {"reading": r, "likelihood": "all"} for r in READINGS[:3]})
    return out


def compare_round(ctx, params: dict, imbalance, over: dict[str, dict]) -> dict:
    """Every reading in ``over`` on one stored round (``ctx``: its RoundContext, with the
    round's classifier, features and VAE files), and the unlabelled pool for reference."""
    import torch

    from vabal.learn.features import load_round_features
    from vabal.methods.vabal.method import VaBAL

    dominant, _ = class_roles(imbalance, ctx.store.num_classes)
    feats = load_round_features(ctx.files["extract_features"])
    order = np.argsort(feats["sample_id"].numpy())
    predicted = feats["pred"].numpy()[order]  # by sample id, labelled and unlabelled
    ids = feats["sample_id"].numpy()[order]

    def described(chosen) -> dict:
        labels = ctx.labels(chosen)
        return {
            "dominant_share": float(np.isin(labels, dominant).mean()) if dominant else None,
            "classifier_error_on_selection": float(
                (predicted[np.searchsorted(ids, chosen)] != labels).mean()
            ),
            "selected_per_class": np.bincount(labels, minlength=ctx.store.num_classes).tolist(),
        }

    out = {}
    with torch.no_grad():
        for name, setting in over.items():
            method = VaBAL({**params, **setting})
            scores, diag = method.score(ctx)
            out[name] = {
                **described(method.select(ctx, ctx.budget, scores)),
                "selection_change": diag["selection_change"],
                "term_std": {k: v["std"] for k, v in diag["terms"].items()},
            }
    out["pool"] = described(ctx.unlabelled)
    return out


def mean_over_seeds(per_seed: dict) -> dict:
    """Per reading (and the pool), the mean over seeds of each row of the table."""
    rows = {}
    for key in next(iter(per_seed.values())):
        values = [v[key] for v in per_seed.values()]
        rows[key] = {}
        for row, get in ROWS.items():
            got = [g for g in map(get, values) if g is not None]
            rows[key][row] = float(np.mean(got)) if got else None
    return rows


def markdown(results: dict) -> str:
    """The page's table: per dataset, method and round, one line per reading."""

    def pct(x):
        return "—" if x is None else f"{percent(x)} %"

    lines = []
    for run in results["runs"]:
        lines += [
            f"| {run['dataset']} / {run['method']} round {run['round']}, seeds "
            f"{', '.join(map(str, run['seeds']))} | dominant share | classifier wrong on "
            "selection | moved by prior | moved by difficulty |",
            "|---|---|---|---|---|",
        ]
        for key, row in run["mean_over_seeds"].items():
            name = "pool (uniform)" if key == "pool" else key
            lines.append(f"| {name} | " + " | ".join(pct(row[r]) for r in ROWS) + " |")
        lines.append("")
    return "\n".join(lines)


def write_readings(results: dict, out: dict, prov: dict | None = None) -> None:
    io.write_json(out["json"], {**results, "provenance": prov or {}})
    with io.atomic_path(out["md"]) as tmp:
        tmp.write_text(markdown(results))
