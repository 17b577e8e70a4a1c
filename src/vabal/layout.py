"""Where the results of a run live, relative to the config's ``results`` folder.

The round chain's files are under ``runs/<dataset>/<method>/seed<seed>/round<round>/``;
their logs under ``logs/`` with the same path. :func:`parse_round` reads a round's identity
back from one of its paths, from the same pattern.

Round 0 labels the same initial set for every method of a dataset and seed, so its
classifier, metrics and features depend only on the classifier's recipe: they are computed
once under ``round0/<dataset>/<recipe>/seed<seed>/`` (``<recipe>``: a hash of the recipe,
:func:`vabal.plan.config.recipe_id`) and each run's ``round0/`` folder holds (relative,
symbolic) links to them.
"""

from __future__ import annotations

import re
from pathlib import Path

RUN = "runs/{dataset}/{method}/seed{seed}"
ROUND = RUN + "/round{round}"
#: round 0 of every run of a dataset and seed with the same classifier recipe, computed once
ROUND0 = "round0/{dataset}/{recipe}/seed{seed}"
#: the files of ROUND0 each run's round 0 links to (features.pt where the method reads them)
ROUND0_FILES = ("labelled.parquet", "classifier.pt", "metrics.json")

_NUMBERS = {"seed", "round"}


def round_path(
    filename: str = "",
    results: str | Path = "",
    *,
    dataset="{dataset}",
    method="{method}",
    seed="{seed}",
    round="{round}",
) -> str:
    """The path of file ``filename`` of a round, under ``results``: the one place a round's
    path is built (rules, planner, targets, scripts). A field not given stays a wildcard
    (``{dataset}``: a Snakemake pattern); ``"*"`` makes a glob."""
    folder = ROUND.format(dataset=dataset, method=method, seed=seed, round=round)
    return str(Path(results) / folder / filename)


def round0_path(
    filename: str = "", results: str | Path = "", *, dataset="{dataset}", recipe="{recipe}",
    seed="{seed}",
) -> str:  # fmt: skip
    """The path of file ``filename`` of a shared round 0 (:data:`ROUND0`), as
    :func:`round_path` builds a round's."""
    folder = ROUND0.format(dataset=dataset, recipe=recipe, seed=seed)
    return str(Path(results) / folder / filename)


def _pattern_regex(pattern: str) -> re.Pattern:
    """``pattern``'s fields as named groups (numbers for seed and round), the rest literal."""
    parts = re.split(r"\{(\w+)\}", pattern)  # literal, field, literal, field, ...
    number, name = r"\d+", r"[^/]+"
    regex = "".join(
        re.escape(p) if i % 2 == 0 else f"(?P<{p}>{number if p in _NUMBERS else name})"
        for i, p in enumerate(parts)
    )
    return re.compile(f"(?:^|/){regex}/")


_ROUND_REGEX = _pattern_regex(ROUND)
_ROUND0_REGEX = _pattern_regex(ROUND0)


def parse_round(path: str | Path) -> dict | None:
    """``{"dataset", "method", "seed", "round"}`` of a file in a round's folder (anywhere below
    a results folder), or None when the path is no such file."""
    match = _ROUND_REGEX.search(Path(path).as_posix())
    if match is None:
        return None
    ids = match.groupdict()
    return {**ids, "seed": int(ids["seed"]), "round": int(ids["round"])}


#: a source's prepared store, and its files by the name the rules give them
STORE = "data/{source}"
STORE_FILES = {"images": "images.npy", "samples": "samples.parquet", "meta": "meta.json"}
#: a dataset's split for one seed (the index of pool, test and initial labels)
SPLIT = "splits/{dataset}/seed{seed}.parquet"
#: every round's metrics in one table
ROUNDS_TABLE = "tables/rounds.parquet"
#: a paper target's files: <FIGURE>.png and .csv; <TABLE>.csv, .md, .tex and .html
FIGURE = "figures/{name}"
TABLE = "tables/{name}"


def describe(path: str | Path) -> str:
    """A round's identity in words, read from one of its paths ("cifar10_plus1 / vabal /
    seed 0 / round 1", or "cifar10_plus1 / round 0 of recipe r1a2b3c4d5e / seed 0" for a
    shared round 0); any other path as it is."""
    ids = parse_round(path)
    if ids is not None:
        return f"{ids['dataset']} / {ids['method']} / seed {ids['seed']} / round {ids['round']}"
    match = _ROUND0_REGEX.search(Path(path).as_posix())
    if match is not None:
        ids = match.groupdict()
        return f"{ids['dataset']} / round 0 of recipe {ids['recipe']} / seed {ids['seed']}"
    return str(path)
