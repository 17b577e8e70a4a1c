"""The tidy per-round table that every figure and table is rebuilt from.

``results/tables/rounds.parquet``: one row per (dataset, method, seed, round) with
n_labelled, accuracy, balanced_accuracy, and list columns per_class_accuracy,
labelled_per_class, class_names.
"""

from __future__ import annotations

import re
from pathlib import Path

from vabal import io
from vabal.errors import DataError

ROUND_PATH = re.compile(
    r"runs/(?P<dataset>[^/]+)/(?P<method>[^/]+)/seed(?P<seed>\d+)/round(?P<round>\d+)/"
    r"metrics\.json$"
)
ROUNDS_COLUMNS = [
    "dataset",
    "method",
    "seed",
    "round",
    "n_labelled",
    "accuracy",
    "balanced_accuracy",
    "evaluated_on",
    "n_eval",
    "per_class_accuracy",
    "labelled_per_class",
    "class_names",
    "train_seconds",
]


def collect_rounds(metric_paths, out) -> None:
    """Gather every round's metrics.json into one Parquet table."""
    import pandas as pd

    rows = []
    for path in map(str, metric_paths):
        match = ROUND_PATH.search(path)
        if not match:
            raise DataError(f"{path}: not a round metrics path (runs/<d>/<m>/seed<s>/round<r>/)")
        metrics = io.read_json(path)
        rows.append({**match.groupdict(), **{k: metrics.get(k) for k in ROUNDS_COLUMNS[4:]}})
    frame = pd.DataFrame(rows, columns=ROUNDS_COLUMNS)
    frame["seed"] = frame["seed"].astype("int64")
    frame["round"] = frame["round"].astype("int64")
    frame = frame.sort_values(["dataset", "method", "seed", "round"]).reset_index(drop=True)
    io.write_parquet(out, frame)


def read_rounds(path):
    return io.read_table(path, "rounds")


def learning_curves(rounds, datasets, methods=None):
    """Mean and std over seeds (and over the given datasets) of accuracy per round."""
    frame = rounds[rounds["dataset"].isin(datasets)]
    if methods:
        frame = frame[frame["method"].isin(methods)]
    return (
        frame.groupby(["method", "round"])
        .agg(
            n_labelled=("n_labelled", "mean"),
            accuracy_mean=("accuracy", "mean"),
            accuracy_std=("accuracy", "std"),
            runs=("accuracy", "size"),
        )
        .reset_index()
    )


def write_table(path: str | Path, frame) -> None:
    """Write a figure's data beside it: CSV or Parquet by suffix."""
    path = Path(path)
    if path.suffix == ".csv":
        with io.atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
    else:
        io.write_parquet(path, frame)
