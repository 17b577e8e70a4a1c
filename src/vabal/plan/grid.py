"""The grid a config asks for, without torch: its runs (dataset, method, seed) after the run
filters, the datasets they use, and each source's per-class training counts."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

#: Published per-class counts of sources with a fixed content, for budget checks before any
#: data is read (the store's own counts take over once it is prepared).
KNOWN_CLASS_COUNTS = {
    "digits": [178, 182, 177, 183, 181, 182, 181, 179, 174, 180],
    "neu": [1210, 296, 775, 1148, 797, 200, 1589, 773, 438],
    "cifar10": [5000] * 10,
    "cifar100": [500] * 100,
}
HAS_OFFICIAL_TEST = {"cifar10", "cifar100"}


def runs(config: dict, filtered: bool = True) -> Iterator[tuple[str, str, int]]:
    """Every (dataset, method, seed) the config asks for, without repeats; with ``filtered``
    only those the run filters select (``only_*`` keep, ``skip_*`` leave out)."""
    groups = config.get("runs") or [
        {"datasets": list(config["datasets"]), "methods": list(config["methods"])}
    ]
    seen = set()
    for group in groups:
        for d in group["datasets"]:
            for m in group["methods"]:
                for s in group.get("seeds") or config["seeds"]:
                    key = (d, m, int(s))
                    if key in seen or (filtered and not is_selected(config, *key)):
                        continue
                    seen.add(key)
                    yield key


def is_selected(config: dict, dataset: str, method: str, seed: int) -> bool:
    """Whether the run filters keep the run (dataset, method, seed)."""
    for value, key in ((dataset, "datasets"), (method, "methods"), (seed, "seeds")):
        only, skip = config.get(f"only_{key}"), config.get(f"skip_{key}")
        if (only and value not in only) or (skip and value in skip):
            return False
    return True


def selected_datasets(config: dict) -> list[str]:
    return sorted({d for d, _, _ in runs(config)})


def class_counts(config: dict, source: str, results: str | Path | None = None) -> list | None:
    """Per-class training counts of a source: from its store if prepared, else published ones."""
    from vabal import io, layout

    store = Path(results or config["results"]) / layout.STORE.format(source=source)
    meta_path = store / layout.STORE_FILES["meta"]
    if meta_path.exists():
        return io.read_json(meta_path).get("train_class_counts")
    src = config["sources"][source]
    counts = KNOWN_CLASS_COUNTS.get(src["kind"])
    if counts is None or src["kind"] in HAS_OFFICIAL_TEST:
        return counts
    return [n - math.ceil(src["test_fraction"] * n - 1e-9) for n in counts]
