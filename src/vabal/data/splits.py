"""Split index files: the role of every sample of a dataset at one seed.

``results/splits/<dataset>/seed<s>.parquet`` has one row per sample of the source store:

* ``sample_id``, ``label``;
* ``role``: ``test`` (the published test split), ``removed`` (taken out by the imbalance
  variant), ``val`` (the optional validation carve-out: never selectable), ``pool``;
* ``initial``: in the initial labelled set, ``initial_size`` samples drawn uniformly from the
  pool with the run seed; the same for every method at a given seed.

The variant and the validation carve-out are drawn with the dataset's ``variant_seed``, so
every run seed sees the same imbalanced dataset and only the initial set changes with it.
"""

from __future__ import annotations

import numpy as np

from vabal import seeding
from vabal.data.variants import apply_keep, kept_count, kept_counts, parse_imbalance
from vabal.errors import ConfigError

ROLES = ("pool", "val", "test", "removed")
SPLIT_COLUMNS = ["sample_id", "label", "role", "initial"]


def make_split(samples, num_classes: int, dataset_cfg: dict, seed: int, name: str = "dataset"):
    """Build the split table of ``dataset_cfg`` for run ``seed`` from a store's sample table."""
    import pandas as pd

    labels = samples["label"].to_numpy()
    is_test = samples["source_split"].to_numpy() == "test"
    keep = parse_imbalance(dataset_cfg.get("imbalance"), num_classes, f"datasets.{name}.imbalance")
    variant_seed = dataset_cfg.get("variant_seed", 0)

    role = np.where(is_test, "test", "removed").astype(object)
    train_idx = np.flatnonzero(~is_test)
    kept = apply_keep(labels[train_idx], keep, seeding.rng(variant_seed, "variant"))
    role[train_idx[kept]] = "pool"

    val_fraction = dataset_cfg.get("val_fraction", 0.0)
    if val_fraction > 0:
        gen = seeding.rng(variant_seed, "validation")
        for cls in range(num_classes):
            idx = np.flatnonzero((role == "pool") & (labels == cls))
            role[gen.permutation(idx)[: kept_count(len(idx), val_fraction)]] = "val"

    pool = np.flatnonzero(role == "pool")
    check_budget(len(pool), dataset_cfg, name)
    initial = np.zeros(len(labels), dtype=bool)
    chosen = seeding.rng(seed, "initial").permutation(pool)[: initial_size(dataset_cfg)]
    initial[chosen] = True
    return pd.DataFrame(
        {
            "sample_id": samples["sample_id"].to_numpy(dtype=np.int64),
            "label": labels.astype(np.int64),
            "role": pd.Categorical(role, categories=ROLES),
            "initial": initial,
        }
    )


def initial_size(dataset_cfg: dict) -> int:
    return int(dataset_cfg.get("initial_size") or dataset_cfg["budget"])


def labels_needed(dataset_cfg: dict) -> int:
    """Samples the protocol labels in all: the initial set plus one budget per later round."""
    return initial_size(dataset_cfg) + dataset_cfg["budget"] * (dataset_cfg["rounds"] - 1)


def check_budget(pool_size: int, dataset_cfg: dict, name: str) -> None:
    """Fail when the protocol needs more labels than the pool holds."""
    need = labels_needed(dataset_cfg)
    if need > pool_size:
        raise ConfigError(
            f"datasets.{name}: the protocol labels {need} samples (initial "
            f"{initial_size(dataset_cfg)} + {dataset_cfg['rounds'] - 1} rounds x budget "
            f"{dataset_cfg['budget']}) but the pool holds only {pool_size}; lower budget or rounds"
        )


def expected_pool_size(train_counts, num_classes: int, dataset_cfg: dict, name: str) -> int:
    """Pool size implied by per-class training counts, without touching any data."""
    keep = parse_imbalance(dataset_cfg.get("imbalance"), num_classes, f"datasets.{name}.imbalance")
    counts = kept_counts(train_counts, keep)
    val_fraction = dataset_cfg.get("val_fraction", 0.0)
    return sum(n - kept_count(n, val_fraction) if val_fraction > 0 else n for n in counts)


def validate_split(split, path) -> None:
    """Reject a split table whose roles or initial set break the invariants."""
    from vabal.errors import DataError

    bad = set(map(str, split["role"].unique())) - set(ROLES)
    if bad:
        raise DataError(f"{path}: unknown role(s) {sorted(bad)}")
    if (split["initial"] & (split["role"] != "pool")).any():
        raise DataError(f"{path}: initial samples outside the pool")
    if split["sample_id"].duplicated().any():
        raise DataError(f"{path}: duplicated sample_id")
