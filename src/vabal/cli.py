"""Command line: ``vabal check-config CONFIG`` validates a config the way the workflow does;
``vabal targets CONFIG`` lists which runs feed each figure and table of the paper."""

from __future__ import annotations

import argparse
import sys

from vabal.errors import VabalError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vabal", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-config", help="validate a config file and list its runs")
    check.add_argument("config", nargs="+", help="config file(s), later ones override")
    tgt = sub.add_parser("targets", help="which runs feed each figure and table (Markdown)")
    tgt.add_argument("config", nargs="+", help="config file(s), later ones override")
    args = parser.parse_args(argv)
    try:
        if args.command == "check-config":
            return _check_config(args.config)
        if args.command == "targets":
            return _targets(args.config)
    except VabalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _load(paths: list[str]) -> dict:
    import yaml

    merged: dict = {}
    for path in paths:
        with open(path) as fh:
            merged = _merge(merged, yaml.safe_load(fh) or {})
    return merged


def _targets(paths: list[str]) -> int:
    from vabal import config as cfg
    from vabal import targets

    print(targets.describe(cfg.validate(_load(paths))), end="")
    return 0


def _check_config(paths: list[str]) -> int:
    from vabal import config as cfg
    from vabal import workflow

    merged = _load(paths)
    workflow.startup(merged)
    runs = list(cfg.runs(merged))
    print(f"config ok: {len(runs)} runs over {len(cfg.selected_datasets(merged))} datasets")
    return 0


def _merge(base: dict, new: dict) -> dict:
    """Snakemake's --configfile merge: nested mappings update, everything else replaces."""
    out = dict(base)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


if __name__ == "__main__":
    sys.exit(main())
