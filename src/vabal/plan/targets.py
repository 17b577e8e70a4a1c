"""The paper's figures and tables as workflow targets.

Every figure and table of the paper is one target (``fig3a`` ... ``fig23``, ``table1``,
``table2``) with a fixed *kind* (how it is drawn) and a config entry (what it draws): the
datasets and methods whose runs it uses, and the few settings of its kind::

    figures:
      fig3b: {datasets: [cifar10_plus1, cifar10_plus5, cifar10_plus10], methods: [random, vabal]}
      fig7b: {datasets: [cifar10_plus1], methods: [random], sweep: [vabal, vabal_lambda1e-2]}
    tables:
      table1: {datasets: [cifar10_val], methods: [vabal_no_prior, vabal]}

A target needs every round of every seed of each (dataset, method) it names, for the seeds
that ``runs`` gives that pair; a run that several targets name has one path and is
computed once. With run filters (``only_*``, ``skip_*``) a target is requested by
``all_figures`` / ``all_tables`` / ``paper`` only when all of its runs are selected; asked
for by name it computes what it is missing. Nothing here imports torch or pandas.
"""

from __future__ import annotations

from pathlib import Path

from vabal.errors import ConfigError
from vabal.layout import FIGURE, ROUNDS_TABLE, SPLIT, STORE, STORE_FILES, TABLE, round_path
from vabal.plan import grid
from vabal.plan.catalogue import (  # the catalogue, as targets.<name>
    PAPER_TITLES,
    TABLES,
    TARGETS,
    configured,
    entry,
    method_label,
)


# ----------------------------------------------------------------------------- runs
def run_seeds(config: dict, filtered: bool = False) -> dict[tuple[str, str], list[int]]:
    """(dataset, method) -> sorted seeds that ``runs`` computes (filters applied or not)."""
    out: dict[tuple[str, str], set] = {}
    for d, m, s in grid.runs(config, filtered=filtered):
        out.setdefault((d, m), set()).add(s)
    return {k: sorted(v) for k, v in out.items()}


def methods_of(config: dict, name: str) -> list[str]:
    """Every method a target draws: its ``methods`` then its ``sweep`` (no repeats)."""
    e = entry(config, name)
    if TARGETS[name] == "vabal_diagnostics":
        return list(dict.fromkeys(m for _, m in diagnostics_pairs(config, e)))
    return list(dict.fromkeys([*e.get("methods", []), *e.get("sweep", [])]))


def diagnostics_pairs(config: dict, e: dict) -> list[tuple[str, str]]:
    """The (dataset, method) runs a diagnostics target draws: of its datasets, every
    VaB-AL method that ``runs`` computes there (only those of ``methods``, if given)."""
    seeds = run_seeds(config)
    wanted = e.get("methods")
    return [
        (d, m)
        for d in e["datasets"]
        for m in config["methods"]
        if (d, m) in seeds
        and config["methods"][m]["kind"] == "vabal"
        and (wanted is None or m in wanted)
    ]


def target_runs(config: dict, name: str) -> list[tuple[str, str, int]]:
    """Every (dataset, method, seed) a target needs, independent of the run filters."""
    seeds = run_seeds(config)
    e = entry(config, name)
    methods = methods_of(config, name)
    if TARGETS[name] == "top_images":  # one run per method: the seed it shows
        return [(d, m, e.get("seed", 0)) for d in e["datasets"] for m in methods]
    if TARGETS[name] == "vabal_diagnostics":
        return [(d, m, s) for d, m in diagnostics_pairs(config, e) for s in seeds[(d, m)]]
    if TARGETS[name] in ("summary", "strength"):  # of its methods, those run on each dataset
        return [
            (d, m, s)
            for d in e["datasets"]
            for m in methods
            if (d, m) in seeds
            for s in seeds[(d, m)]
        ]
    return [(d, m, s) for d in e["datasets"] for m in methods for s in seeds[(d, m)]]


def scored_rounds(config: dict, name: str) -> list[tuple[str, str, int, int]]:
    """(dataset, method, seed, round) of every round with a score (all but the last) of
    the runs a target needs."""
    return [
        (d, m, s, r)
        for d, m, s in target_runs(config, name)
        for r in range(config["datasets"][d]["rounds"] - 1)
    ]


def requested(config: dict, names=None) -> list[str]:
    """Configured targets (of ``names``) whose runs are all selected by the run filters."""
    selected = set(grid.runs(config))
    names = configured(config) if names is None else [n for n in names if n in configured(config)]
    return [n for n in names if set(target_runs(config, n)) <= selected]


def round_file(config: dict, d: str, m: str, s: int, r: int, filename: str) -> str:
    return round_path(filename, config["results"], dataset=d, method=m, seed=s, round=r)


def metrics_inputs(config: dict, name: str) -> list[str]:
    """metrics.json of every round of every run the target needs."""
    return [
        round_file(config, d, m, s, r, "metrics.json")
        for d, m, s in target_runs(config, name)
        for r in range(config["datasets"][d]["rounds"])
    ]


def readings_files(config: dict, name: str) -> dict[str, dict[str, str]]:
    """For target ``readings``: per run ("dataset/method/seed"), the files its round is
    scored again from, by the name the round's context gives them."""
    e = entry(config, name)
    results = Path(config["results"])
    out = {}
    for d, m, s in target_runs(config, name):
        source = config["datasets"][d]["source"]
        out[f"{d}/{m}/{s}"] = {
            "store": str(results / STORE.format(source=source)),
            "split": str(results / SPLIT.format(dataset=d, seed=s)),
            "labelled": round_file(config, d, m, s, e["round"], "labelled.parquet"),
            "classifier": round_file(config, d, m, s, e["round"], "classifier.pt"),
            "extract_features": round_file(config, d, m, s, e["round"], "features.pt"),
            "train_vae": round_file(config, d, m, s, e["round"], "vae.pt"),
        }
    return out


def inputs(config: dict, name: str) -> dict:
    """The input files of a target's rule, by name: the rounds table (``rounds.parquet``);
    for Fig. 5 the selections and classifiers of the round it shows and the images; for the
    VaB-AL diagnostics the score diagnostics of its rounds; for the summary also each
    dataset's store metadata (its training class counts); for the readings each run's
    round files."""
    entry(config, name)  # configured, or one error naming it
    if TARGETS[name] == "readings":
        files = readings_files(config, name)
        return {
            key: [
                f[key] if key != "store" else f"{f[key]}/{STORE_FILES['meta']}"
                for f in files.values()
            ]
            for key in ("store", "split", "labelled", "classifier", "extract_features", "train_vae")
        }
    if TARGETS[name] == "summary":
        results = Path(config["results"])
        return {
            "rounds": str(results / ROUNDS_TABLE),
            "meta": [
                str(
                    results
                    / STORE.format(source=config["datasets"][d]["source"])
                    / STORE_FILES["meta"]
                )
                for d in entry(config, name)["datasets"]
            ],
        }
    if TARGETS[name] == "strength":
        results = Path(config["results"])
        return {
            "rounds": str(results / ROUNDS_TABLE),
            "stored": list(entry(config, name)["stored"].values()),
        }
    if TARGETS[name] == "vabal_diagnostics":
        return {
            "diagnostics": [
                round_file(config, d, m, s, r, "score_diagnostics.json")
                for d, m, s, r in scored_rounds(config, name)
            ],
        }
    if TARGETS[name] != "top_images":
        return {"rounds": str(Path(config["results"]) / ROUNDS_TABLE)}
    spec = target_spec(config, name)
    d, s, r = spec["datasets"][0], spec["seed"], spec["round"]
    store = Path(config["results"]) / STORE.format(source=config["datasets"][d]["source"])
    return {
        "selection": [round_file(config, d, m, s, r, "selection.parquet") for m in spec["methods"]],
        "classifier": [round_file(config, d, m, s, r, "classifier.pt") for m in spec["methods"]],
        **{key: str(store / name) for key, name in STORE_FILES.items()},
    }


def input_function(config: dict, name: str):
    """A Snakemake input function for target ``name`` (errors surface as one message)."""

    def _inputs(wildcards):
        return inputs(config, name)

    return _inputs


def outputs(config: dict, name: str) -> dict[str, str]:
    """The files target ``name`` writes, by the name its rule gives them."""
    base = Path(config["results"]) / (TABLE if name in TABLES else FIGURE).format(name=name)
    if name in TABLES:
        return {ext: f"{base}.{ext}" for ext in ("csv", "md", "tex", "html")}
    if TARGETS[name] in ("summary", "readings"):  # the numbers and their tables
        table = Path(config["results"]) / TABLE.format(name=name)
        return {ext: f"{table}.{ext}" for ext in ("json", "md")}
    if TARGETS[name] == "strength":  # a figure, its numbers and a table
        table = Path(config["results"]) / TABLE.format(name=name)
        return {"figure": f"{base}.png", "data": f"{base}.csv", "md": f"{table}.md"}
    if TARGETS[name] == "leaderboard":  # a table and its figure
        table = Path(config["results"]) / TABLE.format(name=name)
        return {
            **{ext: f"{table}.{ext}" for ext in ("csv", "md", "html")},
            "figure": f"{base}.png",
            "data": f"{base}.csv",
        }
    return {"figure": f"{base}.png", "data": f"{base}.csv"}


def report_outputs(outputs: dict[str, str]) -> list[str]:
    """Which of a target's outputs the Snakemake report shows: its figure and HTML table,
    or its Markdown where it has neither."""
    shown = [k for k in ("figure", "html") if k in outputs]
    return shown or [k for k in ("md",) if k in outputs]


def requested_files(config: dict, names=None) -> list[str]:
    """The outputs of the requested targets (of ``names``), and the ``metrics.json`` of every
    round they draw: listing those makes a deleted run count as missing (Snakemake does not
    recompute a missing intermediate file whose consumers are up to date), so that
    ``snakemake paper`` recomputes it and then redraws the targets that draw it."""
    names = requested(config, names)
    files = [f for n in names for f in outputs(config, n).values()]
    runs = sorted({f for n in names for f in metrics_inputs(config, n)})
    return files + runs


def publish_pairs(config: dict) -> list[tuple[str, str]]:
    """(file under results, its copy under the config's ``publish`` folder) for every output
    of the requested targets and the rounds table; none without ``publish``."""
    folder = config.get("publish")
    if not folder:
        return []
    results = Path(config["results"])
    files = [f for n in requested(config) for f in outputs(config, n).values()]
    files.append(str(results / ROUNDS_TABLE))
    return [(f, str(Path(folder) / Path(f).relative_to(results))) for f in files]


# ----------------------------------------------------------------------------- specs
def target_spec(config: dict, name: str) -> dict:
    """Everything a target's job needs beyond its input files (the rule's params)."""
    from vabal.methods import REGISTRY

    e = entry(config, name)
    kind = TARGETS[name]
    methods = methods_of(config, name)
    spec = {
        "name": name,
        "kind": kind,
        "title": e.get("title") or f"{PAPER_TITLES[name]} ({', '.join(e['datasets'])})",
        "datasets": list(e["datasets"]),
        "methods": list(e.get("methods", [])) if kind != "vabal_diagnostics" else methods,
        "labels": {m: method_label(config, m) for m in methods},
        "colors": {m: list(config["methods"]).index(m) for m in methods},
        "rounds": {d: config["datasets"][d]["rounds"] for d in e["datasets"]},
        "runs": [list(run) for run in target_runs(config, name)],
    }
    if kind in ("lambda_summary", "sweep_panels"):
        spec["sweep"] = list(e["sweep"])
        spec["lambdas"] = {
            m: REGISTRY["vabal"].resolve(config["methods"][m])["lambda"] for m in e["sweep"]
        }
    if kind == "budget_summary":
        spec["budgets"] = {d: config["datasets"][d]["budget"] for d in e["datasets"]}
    if kind in ("rare_ratio", "top_images"):
        spec["imbalance"] = {d: config["datasets"][d].get("imbalance") for d in e["datasets"]}
    if kind == "panels":
        spec["panel_titles"] = {d: _dataset_title(config, d) for d in e["datasets"]}
    if kind == "trials":
        spec["highlight"] = e.get("highlight") or first_vabal(config, name, spec["methods"])
    if kind == "top_images":
        spec["seed"] = int(e.get("seed", 0))
        spec["round"] = int(e.get("round", 0))
        spec["images"] = int(e.get("images", 10))
    if kind == "class_scatter":
        spec["round"] = e.get("round")  # None: the last round
    if kind == "vabal_diagnostics":
        spec["keys"] = [list(k) for k in scored_rounds(config, name)]
    if kind == "leaderboard":
        spec["references"] = list(e["references"])
    if kind == "strength":
        spec["reference"] = e["reference"]
        spec["protocol"] = e["protocol"]
        spec["stored"] = dict(e["stored"])
    if kind == "summary":
        spec["reference"] = e["reference"]
        spec["imbalance"] = {d: config["datasets"][d].get("imbalance") for d in e["datasets"]}
    if kind == "readings":
        from vabal.plan.config import training_recipe

        spec["round"] = int(e["round"])
        spec["all_terms"] = bool(e["all_terms"])
        spec["imbalance"] = {d: config["datasets"][d].get("imbalance") for d in e["datasets"]}
        spec["budget"] = {d: config["datasets"][d]["budget"] for d in e["datasets"]}
        spec["params"] = {m: REGISTRY["vabal"].resolve(config["methods"][m]) for m in methods}
        spec["recipes"] = {
            f"{d}/{m}": training_recipe(config, d, m) for d in e["datasets"] for m in methods
        }
        spec["files"] = readings_files(config, name)
    if kind == "method_table":
        spec["params"] = {
            m: {
                k: REGISTRY["vabal"].resolve(config["methods"][m])[k]
                for k in ("prior", "difficulty", "w_type", "lambda")
            }
            for m in spec["methods"]
        }
        spec["evaluated_on"] = {d: config["datasets"][d]["evaluate_on"] for d in e["datasets"]}
    return spec


def _dataset_title(config: dict, d: str) -> str:
    return f"{d} (budget {config['datasets'][d]['budget']})"


def first_vabal(config: dict, name: str, methods: list[str]) -> str:
    for m in methods:
        if config["methods"][m]["kind"] == "vabal":
            return m
    raise ConfigError(
        f"config error at figures.{name}: no VaB-AL method among its methods to show trial by "
        f"trial; set highlight: <method>"
    )


# ----------------------------------------------------------------------------- docs
def describe(config: dict) -> str:
    """A Markdown table: which runs feed each target, and which targets share runs."""
    lines = [
        "| target | kind | datasets | methods | seeds | runs | rounds |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in configured(config):
        e = entry(config, name)
        runs = target_runs(config, name)
        seeds = sorted({s for _, _, s in runs})
        n_rounds = sum(config["datasets"][d]["rounds"] for d, _, _ in runs)
        lines.append(
            f"| {name} | {TARGETS[name]} | {', '.join(e['datasets'])} | "
            f"{', '.join(methods_of(config, name))} | {', '.join(map(str, seeds))} | "
            f"{len(runs)} | {n_rounds} |"
        )
    uses = [r for n in configured(config) for r in target_runs(config, n)]
    used = set(uses)
    total = list(grid.runs(config, filtered=False))
    n_rounds = sum(config["datasets"][d]["rounds"] for d, _, _ in total)
    lines += [
        "",
        f"{len(used)} distinct runs feed the targets ({len(uses)} uses); the config computes "
        f"{len(total)} runs, {n_rounds} rounds.",
    ]
    unused = sorted(set(total) - used)
    if unused:
        lines.append(f"{len(unused)} computed runs feed no target.")
    return "\n".join(lines) + "\n"


def spec_function(config: dict, name: str):
    """A Snakemake params function giving target ``name``'s spec."""

    def _spec(wildcards):
        return target_spec(config, name)

    return _spec
