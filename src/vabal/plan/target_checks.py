"""A configured target checked against its kind and the runs (at validation), and the
files a requested target reads from outside the results (at start-up): one ConfigError
naming the key."""

from __future__ import annotations

from pathlib import Path

from vabal.errors import ConfigError
from vabal.plan import grid
from vabal.plan.catalogue import BEYOND, SINGLE_DATASET, TARGETS, configured, section
from vabal.plan.targets import (
    diagnostics_pairs,
    first_vabal,
    methods_of,
    requested,
    run_seeds,
)


def check(config: dict) -> None:
    """Check every target entry against its kind and the runs; raise one ConfigError."""
    seeds = run_seeds(config)
    for name in configured(config):
        where = f"{section(name)}.{name}"
        e = config[section(name)][name]
        kind = TARGETS[name]
        for key in ("datasets", "methods", "sweep"):
            for n in e.get(key, []):
                known = config["datasets"] if key == "datasets" else config["methods"]
                if n not in known:
                    raise ConfigError(
                        f"config error at {where}.{key}: unknown name {n!r} "
                        f"(defined: {', '.join(known)})"
                    )
        if kind == "vabal_diagnostics":
            _check_vabal(config, e.get("methods", []), f"{where}.methods")
            if not diagnostics_pairs(config, e):
                raise ConfigError(
                    f"config error at {where}: no entry of runs computes a VaB-AL method on "
                    f"{', '.join(e['datasets'])}"
                )
            continue
        if not e.get("methods") and kind not in ("lambda_summary", "sweep_panels"):
            raise ConfigError(f"config error at {where}: methods is missing or empty")
        if kind in SINGLE_DATASET and len(e["datasets"]) != 1:
            raise ConfigError(
                f"config error at {where}.datasets: a {kind} target shows one dataset, "
                f"got {len(e['datasets'])}"
            )
        if kind in ("lambda_summary", "sweep_panels"):
            if not e.get("sweep"):
                raise ConfigError(f"config error at {where}: sweep (the VaB-AL methods) is missing")
            _check_vabal(config, e["sweep"], f"{where}.sweep")
        if kind in ("method_table", "readings"):
            _check_vabal(config, e["methods"], f"{where}.methods")
        if kind == "readings":
            for d in e["datasets"]:
                _check_round(config, d, e["round"], f"{where}.round", last_ok=False)
        if kind == "leaderboard":
            for r in e["references"]:
                if r not in e["methods"]:
                    raise ConfigError(
                        f"config error at {where}.references: {r!r} is not one of its methods"
                    )
        if kind == "trials" and "highlight" in e and e["highlight"] not in e["methods"]:
            raise ConfigError(
                f"config error at {where}.highlight: {e['highlight']!r} is not one of its methods"
            )
        if kind == "trials" and "highlight" not in e:
            first_vabal(config, name, e["methods"])
        if kind == "strength":
            _check_strength(config, e, where)
        if kind in ("summary", "strength"):
            for d in e["datasets"]:
                if not any((d, m) in seeds for m in e["methods"]):
                    raise ConfigError(
                        f"config error at {where}: no entry of runs computes dataset {d!r} "
                        f"with any of its methods"
                    )
            continue
        for d in e["datasets"]:
            for m in methods_of(config, name):
                if (d, m) not in seeds:
                    raise ConfigError(
                        f"config error at {where}: no entry of runs computes dataset {d!r} with "
                        f"method {m!r}; add it to runs"
                    )
        if kind == "top_images":
            _check_top_images(config, e, where, seeds)
        if kind == "class_scatter" and e.get("round") is not None:
            _check_round(config, e["datasets"][0], e["round"], f"{where}.round", last_ok=True)
        if kind == "rare_ratio":
            for d in e["datasets"]:
                _check_has_rare(config, d, f"{where}.datasets")


def _check_strength(config: dict, e: dict, where: str) -> None:
    if e["reference"] not in e["methods"]:
        raise ConfigError(
            f"config error at {where}.reference: {e['reference']!r} is not one of its methods"
        )


def check_stored(config: dict) -> None:
    """Every stored summary a requested ``strength`` target compares with exists (checked
    at start-up, relative to the working directory)."""
    for name in requested(config, [n for n, k in BEYOND.items() if k == "strength"]):
        for protocol, path in config["beyond"][name]["stored"].items():
            if not Path(path).is_file():
                raise ConfigError(
                    f"config error at beyond.{name}.stored.{protocol}: no file {path} (the "
                    f"JSON of a summary target, relative to the working directory)"
                )


def _check_vabal(config: dict, methods, where: str) -> None:
    for m in methods:
        if config["methods"][m]["kind"] != "vabal":
            raise ConfigError(
                f"config error at {where}: {m!r} is a {config['methods'][m]['kind']} method; "
                f"this target compares VaB-AL variants"
            )


def _check_round(config, d, r, where, last_ok):
    rounds = config["datasets"][d]["rounds"]
    top = rounds - 1 if last_ok else rounds - 2
    if not isinstance(r, int) or not 0 <= r <= top:
        what = "rounds" if last_ok else "rounds with a selection (all but the last)"
        raise ConfigError(
            f"config error at {where}: {r!r} is not one of the {what} of {d!r} (0..{top})"
        )


def _check_top_images(config, e, where, seeds) -> None:
    d = e["datasets"][0]
    _check_round(config, d, e.get("round", 0), f"{where}.round", last_ok=False)
    seed = e.get("seed", 0)
    for m in e["methods"]:
        if seed not in seeds[(d, m)]:
            raise ConfigError(
                f"config error at {where}.seed: runs compute {d!r} with {m!r} for seeds "
                f"{seeds[(d, m)]}, not {seed}"
            )
    if e.get("images", 10) < 1:
        raise ConfigError(f"config error at {where}.images: must be at least 1")


def _check_has_rare(config: dict, d: str, where: str) -> None:
    from vabal.data.variants import class_roles

    ds = config["datasets"][d]
    counts = grid.class_counts(config, ds["source"])
    if counts is None:  # unknown until the source is prepared: checked when drawn
        return
    _, rare = class_roles(ds.get("imbalance"), len(counts))
    if not rare:
        raise ConfigError(
            f"config error at {where}: dataset {d!r} has no rare classes (no imbalance variant)"
        )
