"""The steps of one active-learning round, each reading and writing files.

``label -> train_classifier -> evaluate`` (one job of the workflow) and, per method,
``[extract_features] -> [train_vae] -> [score] -> select``; round r's ``label`` adds round
r-1's selection to round r-1's labelled set. Each function takes paths and plain
parameters (what a Snakemake rule passes), checks its inputs, and writes its outputs
through :mod:`vabal.io`, so a killed step leaves no partial file.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from vabal import io
from vabal.data import store as store_mod
from vabal.data.splits import make_split, validate_split
from vabal.errors import DataError

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- data
def prepare_source(source_cfg: dict, out_dir: str | Path) -> None:
    start = time.perf_counter()
    store_mod.prepare(source_cfg, out_dir)
    log.info("prepared %s in %.1fs", out_dir, time.perf_counter() - start)


def split(store_dir, dataset_cfg: dict, seed: int, name: str, out: str | Path) -> None:
    store = store_mod.load(store_dir)
    table = make_split(store.samples, store.num_classes, dataset_cfg, seed, name)
    counts = table["role"].value_counts().to_dict()
    log.info("split %s seed %d: %s, initial %d", name, seed, counts, int(table["initial"].sum()))
    io.write_parquet(out, table)


def read_split(path):
    table = io.read_table(path, "split")
    validate_split(table, path)
    return table


def read_ids(path, table: str) -> np.ndarray:
    """The sample ids of a labelled or selection table."""
    return io.read_table(path, table)["sample_id"].to_numpy(dtype=np.int64)


# ----------------------------------------------------------------------------- labelling
def label(split_path, out, round_: int, prev_labelled=None, prev_selection=None) -> None:
    """The oracle: round 0 labels the initial set, round r adds round r-1's selection."""
    import pandas as pd

    table = read_split(split_path)
    labels = table["label"].to_numpy()
    if round_ == 0:
        ids = table["sample_id"].to_numpy()[table["initial"].to_numpy()]
        frame = pd.DataFrame({"sample_id": ids, "label": labels[ids], "round_added": 0})
    else:
        before = io.read_table(prev_labelled, "labelled")
        new = read_ids(prev_selection, "selection")
        pool = set(table["sample_id"].to_numpy()[table["role"].to_numpy() == "pool"].tolist())
        bad = [i for i in new.tolist() if i not in pool]
        if bad or np.intersect1d(new, before["sample_id"]).size or len(set(new)) != len(new):
            raise DataError(
                f"{prev_selection}: selection overlaps the labelled set or leaves "
                f"the pool ({bad[:5]}...)"
            )
        added = pd.DataFrame({"sample_id": new, "label": labels[new], "round_added": round_})
        frame = pd.concat([before, added], ignore_index=True)
    frame = frame.sort_values("sample_id").reset_index(drop=True)
    io.write_parquet(out, frame)
    log.info("round %d: %d labelled", round_, len(frame))


# ----------------------------------------------------------------------------- classifier
def train_classifier(store_dir, labelled_path, recipe: dict, seed: int, round_: int, out) -> None:
    from vabal.learn.training import save_classifier
    from vabal.learn.training import train_classifier as fit

    store = store_mod.load(store_dir)
    ids = read_ids(labelled_path, "labelled")
    labels = store.samples["label"].to_numpy()[ids]
    start = time.perf_counter()
    model, history = fit(
        np.asarray(store.images[ids]),
        labels,
        store.num_classes,
        store.meta["mean"],
        store.meta["std"],
        recipe,
        seed,
        round_,
        where=out,
    )
    seconds = time.perf_counter() - start
    images_seen = sum(r["images"] for r in history)
    log.info(
        "trained on %d samples in %.1fs (%.0f img/s)",
        len(ids),
        seconds,
        images_seen / max(seconds, 1e-9),
    )
    save_classifier(
        out,
        model,
        {
            "mean": store.meta["mean"],
            "std": store.meta["std"],
            "history": history,
            "train_seconds": seconds,
            "n_labelled": len(ids),
        },
    )


def evaluate(
    store_dir, split_path, labelled_path, classifier_path, evaluate_on: str, recipe: dict, out
) -> None:
    from vabal.learn.evaluation import class_counts, classification_metrics
    from vabal.learn.finite import require_finite
    from vabal.learn.training import load_classifier, predict_logits, resolve_device
    from vabal.report.provenance import platform

    store = store_mod.load(store_dir)
    table = read_split(split_path)
    ids = table["sample_id"].to_numpy()[table["role"].to_numpy() == evaluate_on]
    model, ckpt = load_classifier(classifier_path, resolve_device(recipe["device"]))
    logits = predict_logits(
        model,
        np.asarray(store.images[ids]),
        ckpt["mean"],
        ckpt["std"],
        recipe["eval_batch_size"],
        recipe["amp"],
        recipe["channels_last"],
        recipe["tta_flip"],
    )
    require_finite(f"the logits of the {evaluate_on} samples", logits, classifier_path)
    labelled = io.read_table(labelled_path, "labelled")
    metrics = classification_metrics(logits, table["label"].to_numpy()[ids], store.num_classes)
    metrics.update(
        {
            "evaluated_on": evaluate_on,
            "n_eval": len(ids),
            "n_labelled": len(labelled),
            "labelled_per_class": class_counts(labelled["label"].to_numpy(), store.num_classes),
            "class_names": store.class_names,
            "train_seconds": float(ckpt.get("train_seconds", float("nan"))),
            "platform": platform(),
        }
    )
    log.info(
        "%s accuracy %.4f balanced %.4f on %d samples",
        evaluate_on,
        metrics["accuracy"],
        metrics["balanced_accuracy"],
        len(ids),
    )
    io.write_json(out, metrics)


# ----------------------------------------------------------------------------- methods
def context(store_dir, split_path, labelled_path, recipe, seed, round_, files, budget=None):
    from vabal.methods.base import RoundContext

    store = store_mod.load(store_dir)
    table = read_split(split_path)
    labelled = np.sort(read_ids(labelled_path, "labelled"))
    pool = table["sample_id"].to_numpy()[table["role"].to_numpy() == "pool"]
    unlabelled = np.setdiff1d(pool, labelled)
    return RoundContext(
        store=store,
        split=table,
        labelled=labelled,
        unlabelled=unlabelled,
        seed=seed,
        round=round_,
        recipe=recipe,
        files={k: Path(v) for k, v in files.items()},
        budget=None if budget is None else int(budget),
    )


def build_method(kind: str, params: dict):
    from vabal.methods import REGISTRY

    info = REGISTRY[kind]
    return info.load()(info.resolve({"kind": kind, **params}))


def method_step(step: str, kind: str, params: dict, ctx, out, diagnostics=None) -> None:
    """Run an optional step (extract_features, train_vae, score) of a method.

    ``score`` may return the scores alone or ``(scores, diagnostics)``; the diagnostics dict
    (plus score statistics and timing) is written as JSON to ``diagnostics``.
    """
    import pandas as pd

    from vabal.learn.finite import require_finite

    method = build_method(kind, params)
    start = time.perf_counter()
    result = getattr(method, step)(ctx)
    seconds = time.perf_counter() - start
    if step == "score":
        extra = {}
        if isinstance(result, tuple):
            result, extra = result
        scores = np.asarray(result, dtype=np.float64)
        if scores.shape != ctx.unlabelled.shape:
            raise ValueError(
                f"{kind}.score returned {scores.shape} scores for {len(ctx.unlabelled)} samples"
            )
        require_finite(f"{kind}'s scores", scores, out)
        io.write_parquet(out, pd.DataFrame({"sample_id": ctx.unlabelled, "score": scores}))
        if diagnostics is not None:
            stats = (
                {
                    "seconds": seconds,
                    "n_scored": len(scores),
                    "score_min": scores.min(),
                    "score_max": scores.max(),
                    "score_mean": scores.mean(),
                }
                if len(scores)
                else {}
            )
            io.write_json(diagnostics, {"method": kind, **stats, **extra})
    else:
        io.save_torch(out, result)
    log.info("%s %s: %.2fs", kind, step, seconds)


def select(kind: str, params: dict, ctx, budget: int, out, scores_path=None) -> None:
    """Choose the next samples to label and check the selection's invariants."""
    import pandas as pd

    method = build_method(kind, params)
    scores = None
    if scores_path is not None:
        frame = io.read_table(scores_path, "scores")
        if not np.array_equal(frame["sample_id"].to_numpy(), ctx.unlabelled):
            raise DataError(f"{scores_path}: scores do not cover the unlabelled pool")
        scores = frame["score"].to_numpy()
    if budget > len(ctx.unlabelled):
        log.warning(
            "budget %d exceeds the %d unlabelled samples left: taking them all",
            budget,
            len(ctx.unlabelled),
        )
        budget = len(ctx.unlabelled)
    start = time.perf_counter()
    chosen = np.asarray(method.select(ctx, budget, scores), dtype=np.int64)
    seconds = time.perf_counter() - start
    if len(chosen) != budget or len(np.unique(chosen)) != budget:
        raise RuntimeError(f"{kind} selected {len(np.unique(chosen))} distinct of {budget}")
    if not np.isin(chosen, ctx.unlabelled).all():
        raise RuntimeError(f"{kind} selected samples outside the unlabelled pool")
    frame = pd.DataFrame(
        {"sample_id": chosen, "label": ctx.labels(chosen), "rank": np.arange(budget)}
    )
    if scores is not None:
        frame["score"] = scores[np.searchsorted(ctx.unlabelled, chosen)]
    io.write_parquet(out, frame)
    log.info("%s selected %d of %d in %.2fs", kind, budget, len(ctx.unlabelled), seconds)
