"""Command line.

``vabal check-config CONFIG`` validates a config the way the workflow does;
``vabal targets CONFIG`` lists which runs feed each figure and table of the paper;
``vabal bench NAME [...]`` runs the benchmark ``bench/NAME.py`` (``vabal bench -h`` lists them);
``vabal estimate CONFIG BENCH.json...`` the GPU time of a config's grid
(:mod:`vabal.plan.estimate`);
``vabal leaderboard CONFIG... --out PREFIX`` draws the config's leaderboard from the runs
that have finished so far (every round there), as the ``leaderboard`` target does from all;
``vabal next IMAGES LABELS.csv --out ROUND/ [...]`` runs one real round on a user's own
images and says which to label next (:mod:`vabal.run.labelling`; ``vabal next -h``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vabal.errors import VabalError

#: the benchmarks: one script each in the checkout's bench/ folder
BENCH = Path(__file__).resolve().parents[2] / "bench"


def benchmarks() -> list[str]:
    return sorted(p.stem for p in BENCH.glob("*.py"))


def load_benchmark(name: str):
    """The module of ``bench/<name>.py``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench(argv: list[str]) -> int:
    """``vabal bench NAME [...]``: the ``main`` of ``bench/NAME.py`` (one entry point for the
    benchmarks; each prints figures and writes JSON beside itself, in bench/results/)."""
    names = benchmarks()
    if not argv or argv[0] not in names:
        print(
            "usage: vabal bench NAME [ARGS...]  (vabal bench NAME -h for its arguments)\n"
            f"benchmarks in {BENCH}: {', '.join(names)}",
            file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout,
        )
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    return load_benchmark(argv[0]).main(argv[1:])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        return bench(argv[1:])
    if argv[:1] in (["estimate"], ["next"]):
        if argv[0] == "estimate":
            from vabal.plan.estimate import main as command
        else:
            from vabal.run.labelling import main as command
        try:
            return command(argv[1:])
        except VabalError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    parser = argparse.ArgumentParser(prog="vabal", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-config", help="validate a config file and list its runs")
    check.add_argument("config", nargs="+", help="config file(s), later ones override")
    tgt = sub.add_parser("targets", help="which runs feed each figure and table (Markdown)")
    tgt.add_argument("config", nargs="+", help="config file(s), later ones override")
    board = sub.add_parser("leaderboard", help="the leaderboard of the runs finished so far")
    board.add_argument("config", nargs="+", help="config file(s), later ones override")
    board.add_argument("--out", required=True, help="prefix of the .csv .md .html .png files")
    sub.add_parser("bench", help="the benchmarks of bench/ (vabal bench -h)", add_help=False)
    sub.add_parser("estimate", help="GPU time of a grid (vabal estimate -h)", add_help=False)
    sub.add_parser(
        "next", help="which of your images to label next (vabal next -h)", add_help=False
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "check-config":
            return _check_config(args.config)
        if args.command == "targets":
            return _targets(args.config)
        if args.command == "leaderboard":
            return _leaderboard(args.config, args.out)
    except VabalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _load(paths: list[str]) -> dict:
    import yaml

    from vabal.errors import ConfigError

    merged: dict = {}
    for path in paths:
        try:
            with open(path) as fh:
                loaded = yaml.safe_load(fh) or {}
        except OSError as exc:
            raise ConfigError(f"config file {path}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} holds a {type(loaded).__name__}, not a mapping")
        merged = _merge(merged, loaded)
    return merged


def _targets(paths: list[str]) -> int:
    from vabal.plan import config as cfg
    from vabal.plan import targets

    print(targets.describe(cfg.validate(_load(paths))), end="")
    return 0


def _leaderboard(paths: list[str], out: str) -> int:
    from vabal.plan import config as cfg
    from vabal.plan import targets
    from vabal.report import provenance
    from vabal.report.leaderboard import write_leaderboard
    from vabal.report.tables import rounds_frame

    config = cfg.validate(_load(paths))
    spec = targets.target_spec(config, "leaderboard")
    done, metrics, wanted = [], [], len(spec["runs"])
    for d, m, s in spec["runs"]:
        files = [
            targets.round_file(config, d, m, s, r, "metrics.json") for r in range(spec["rounds"][d])
        ]
        if all(Path(f).exists() for f in files):
            done.append([d, m, s])
            metrics += files
    spec["runs"] = done
    files = {k: f"{out}.{k}" for k in ("csv", "md", "html", "png")}
    files["data"] = f"{out}.data.csv"
    write_leaderboard(rounds_frame(metrics), spec, files, provenance.stamp(config))
    print(f"{len(done)} finished runs of {wanted} drawn: {', '.join(files.values())}")
    return 0


def _check_config(paths: list[str]) -> int:
    from vabal.plan import grid, workflow

    merged = _load(paths)
    workflow.startup(merged)
    runs = list(grid.runs(merged))
    print(f"config ok: {len(runs)} runs over {len(grid.selected_datasets(merged))} datasets")
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
