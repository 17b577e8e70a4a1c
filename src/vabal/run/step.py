"""What each rule runs: one function per rule, found by the rule's name.

Every rule's script is ``workflow/scripts/step.py``: it puts this checkout's ``src/`` first
on the path, then calls ``job(snakemake, __real_file__, for_rule(snakemake.rule))``.
:func:`for_rule` finds the function registered for the rule with :func:`does` (the method
steps share one, each figure rule another). :func:`job` hands the script to the fork server
where one is up (a local run: the job then runs in a fork of a process that has torch
imported already) and otherwise runs the function here. Each function reads the job's
wildcards, inputs and params and calls the library (:mod:`vabal.run.rounds` for the rounds,
:mod:`vabal.report` for the tables and figures).

Logging goes to the rule's log file. A :class:`~vabal.errors.VabalError` ends the job with
its one-line message (in the log and on stderr) and no traceback; Snakemake then removes
the job's outputs, and the library's atomic writes guarantee nothing half-written remains.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

from vabal.errors import VabalError

#: rule name -> the function that does its work (filled by :func:`does`)
RULES: dict[str, Callable] = {}
#: config section of targets (one rule per target) -> the function of its rules
SECTIONS: dict[str, Callable] = {}


def does(*rules: str, section: str | None = None) -> Callable:
    """Register the decorated function as the work of ``rules`` (by default the rule named
    like the function), or of every target rule of the config's ``section``."""

    def register(function: Callable) -> Callable:
        if section:
            SECTIONS[section] = function
        for rule in rules or (() if section else (function.__name__,)):
            RULES[rule] = function
        return function

    return register


def for_rule(rule: str) -> Callable:
    """The function that does the work of the rule named ``rule``."""
    if rule in RULES:
        return RULES[rule]
    from vabal.plan import catalogue

    for section, function in SECTIONS.items():
        if rule in catalogue.section_targets(section):
            return function
    raise KeyError(f"no step registered for rule {rule!r} (vabal.run.step.does)")


def _setup_logging(log_path: str | None) -> None:
    console = logging.StreamHandler(sys.stderr)  # the terminal gets warnings and errors,
    console.setLevel(logging.WARNING)  # the rule's log file gets everything
    handlers = [console]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        handlers=handlers,
        force=True,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )


def _exit_on_sigterm(signum, frame) -> None:
    """SLURM's scancel and timeouts send SIGTERM: unwind (removing temporary files)."""
    raise SystemExit(f"terminated by signal {signum}")


def job(smk, script, function) -> None:
    """The body of every rule's script: in a fork-server child if one is up, else here."""
    from vabal.run import forkserver

    status = forkserver.delegate(script)
    if status is not None:
        sys.exit(status)
    run(smk, function)


def run(smk, function) -> None:
    """Run ``function(smk)`` as the job: its threads, log file and clean exit on errors."""
    import signal

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    _setup_logging(smk.log[0] if smk.log else None)
    # provenance: which copy of the library this job runs (the checkout's, see step.py)
    from vabal.run import forkserver

    logging.getLogger("vabal").info(
        "%s with vabal from %s%s",
        smk.rule,
        Path(__file__).resolve().parents[1],
        " (in a child of the fork server)" if forkserver.IN_CHILD else "",
    )
    import os

    from vabal import kernels

    # Before torch is imported (if it is): the CPU kernels the config pins, and one job uses
    # the threads Snakemake gave it.
    try:
        kernels.pin((getattr(smk, "config", None) or {}).get("cpu_kernels", "native"))
    except VabalError as exc:
        logging.getLogger("vabal").error("%s", exc)
        sys.exit(1)
    threads = max(1, int(smk.threads))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    if "torch" in sys.modules:  # imported already (a fork server's child): too late for those
        sys.modules["torch"].set_num_threads(threads)
    recipe = getattr(smk.params, "recipe", None)
    if recipe and recipe.get("deterministic"):
        _deterministic()
    try:
        function(smk)
    except VabalError as exc:
        logging.getLogger("vabal").error("%s", exc)
        sys.exit(1)


def _deterministic() -> None:
    """``training: {deterministic: true}``: deterministic kernels in every step that runs a
    network (the classifier's training sets the same; VAE training, scoring and feature
    extraction run in jobs of their own). cuBLAS needs its workspace fixed before it starts."""
    import os

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch

    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def _store_dir(smk) -> Path:
    return Path(smk.input.meta).parent


def _context(smk):
    from vabal.run import rounds

    files = {
        k: v
        for k, v in smk.input.items()
        if k in ("classifier", "extract_features", "train_vae", "score")
    }
    return rounds.context(
        _store_dir(smk),
        smk.input.split,
        smk.input.labelled,
        smk.params.recipe,
        int(smk.wildcards.seed),
        int(smk.wildcards.round),
        files,
        getattr(smk.params, "budget", None),
    )


@does()
def prepare_source(smk):
    from vabal.run import rounds

    source = dict(smk.params.source)
    archive = smk.input.get("archive")  # a URL's checked download (rule download_source)
    if archive:
        source["path"] = archive
    rounds.prepare_source(source, Path(smk.output.meta).parent)


@does()
def download_source(smk):
    from vabal.data import download

    source = dict(smk.params.source)
    download.finish(
        smk.wildcards.source,
        source["path"],
        smk.input[0],
        smk.output[0],
        source.get("sha256"),
        source.get("md5"),
    )


@does()
def make_split(smk):
    from vabal.run import rounds

    rounds.split(
        _store_dir(smk),
        dict(smk.params.dataset),
        int(smk.wildcards.seed),
        smk.wildcards.dataset,
        smk.output[0],
    )


@does("train_classifier", "train_round0")
def train_classifier(smk):
    """A round's first job: label (round r adds round r-1's selection), train, evaluate."""
    from vabal.run import rounds

    store_dir, recipe = _store_dir(smk), dict(smk.params.recipe)
    seed, round_ = int(smk.wildcards.seed), int(smk.wildcards.get("round", 0))
    out = smk.output
    rounds.label(
        smk.input.split,
        out.labelled,
        round_,
        smk.input.get("prev_labelled"),
        smk.input.get("prev_selection"),
    )
    rounds.train_classifier(store_dir, out.labelled, recipe, seed, round_, out.classifier)
    rounds.evaluate(
        store_dir,
        smk.input.split,
        out.labelled,
        out.classifier,
        smk.params.evaluate_on,
        recipe,
        out.metrics,
    )


@does()
def extract_round0_features(smk):
    """A shared round 0's features: the same step every feature-reading method runs
    (:class:`vabal.methods.base.FeaturesMethod`), once per classifier recipe."""
    from vabal import io
    from vabal.learn.features import extract_round
    from vabal.run import rounds

    ctx = rounds.context(
        _store_dir(smk),
        smk.input.split,
        smk.input.labelled,
        smk.params.recipe,
        int(smk.wildcards.seed),
        0,
        {"classifier": smk.input.classifier},
    )
    io.save_torch(smk.output[0], extract_round(ctx))


@does("share_round0", "share_round0_features")
def share_round0(smk):
    """A run's round 0: links to the files of the shared round 0 of its recipe."""
    from vabal import io

    for name, source in smk.input.items():
        io.link_file(source, smk.output[name])
        logging.getLogger("vabal").info("%s -> %s", smk.output[name], source)


@does("extract_features", "train_vae", "score")
def method_step(smk):
    from vabal.run import rounds

    method = dict(smk.params.method)
    rounds.method_step(
        smk.rule,
        method.pop("kind"),
        method,
        _context(smk),
        smk.output[0],
        smk.output.get("diagnostics"),
    )


@does()
def select(smk):
    from vabal.run import rounds

    method = dict(smk.params.method)
    rounds.select(
        method.pop("kind"),
        method,
        _context(smk),
        int(smk.params.budget),
        smk.output[0],
        smk.input.get("score"),
    )


def _provenance(smk) -> dict:
    """Code version and config hash, computed here (not a rule parameter, so that neither
    a commit nor an unrelated config edit makes Snakemake redo every table)."""
    from vabal.report import provenance

    return provenance.stamp(dict(smk.config))


@does()
def collect_rounds(smk):
    from vabal.report import provenance
    from vabal.report.tables import collect_rounds

    prov = _provenance(smk)
    collect_rounds(list(smk.input), smk.output.table, prov)
    provenance.write_page(smk.output.page, smk.output.sidecar, dict(smk.config), prov)


@does(section="figures")
def figure(smk):
    from vabal.report import plots
    from vabal.report.tables import target_rounds

    spec = dict(smk.params.spec)
    if spec["kind"] == "vabal_diagnostics":
        plots.vabal_diagnostics(
            spec, list(smk.input.diagnostics), smk.output.figure, smk.output.data, _provenance(smk)
        )
    elif spec["kind"] == "top_images":
        keys = ("selection", "classifier", "images", "samples", "meta")
        files = {k: smk.input[k] for k in keys}
        plots.top_images(spec, files, smk.output.figure, smk.output.data, _provenance(smk))
    else:
        rounds = target_rounds(smk.input.rounds, spec)
        plots.draw(spec, rounds, smk.output.figure, smk.output.data, _provenance(smk))


@does(section="tables")
def table(smk):
    from vabal.report.tables import target_rounds, write_method_table

    spec = dict(smk.params.spec)
    out = {k: smk.output[k] for k in ("csv", "md", "tex", "html")}
    write_method_table(out, target_rounds(smk.input.rounds, spec), spec, _provenance(smk))


@does()
def leaderboard(smk):
    from vabal.report.leaderboard import write_leaderboard
    from vabal.report.tables import target_rounds

    spec = dict(smk.params.spec)
    out = {k: smk.output[k] for k in ("csv", "md", "html", "data")}
    out["png"] = smk.output.figure
    write_leaderboard(target_rounds(smk.input.rounds, spec), spec, out, _provenance(smk))


@does()
def summary(smk):
    """The numbers of a results page (accuracy, paired differences, selection shares)."""
    from vabal import io
    from vabal.report.summary import write_summary
    from vabal.report.tables import target_rounds

    spec = dict(smk.params.spec)
    spec["train_counts"] = {
        d: io.read_json(meta).get("train_class_counts")
        for d, meta in zip(spec["datasets"], smk.input.meta, strict=True)
    }
    rounds = target_rounds(smk.input.rounds, spec)
    write_summary(rounds, spec, {"json": smk.output.json, "md": smk.output.md}, _provenance(smk))


@does()
def strength(smk):
    """Each method's paired difference from Random here and in stored summaries."""
    from vabal.report.strength import write_strength
    from vabal.report.tables import target_rounds

    spec = dict(smk.params.spec)
    out = {k: smk.output[k] for k in ("figure", "data", "md")}
    rounds = target_rounds(smk.input.rounds, spec)
    write_strength(rounds, spec["stored"], spec, out, _provenance(smk))


@does()
def readings(smk):
    """VaB-AL's stored rounds scored again under every reading of Eq. 6."""
    from vabal.report import readings as rd
    from vabal.run import rounds

    spec = dict(smk.params.spec)
    over = rd.variants(spec["all_terms"])
    seeds: dict[tuple, list[int]] = {}
    for d, m, s in spec["runs"]:
        seeds.setdefault((d, m), []).append(int(s))
    runs = []
    for d in spec["datasets"]:
        for m in spec["methods"]:
            per_seed = {}
            for seed in seeds.get((d, m), []):
                files = spec["files"][f"{d}/{m}/{seed}"]
                ctx = rounds.context(
                    files["store"], files["split"], files["labelled"], spec["recipes"][f"{d}/{m}"],
                    seed, spec["round"],
                    {k: files[k] for k in ("classifier", "extract_features", "train_vae")},
                    spec["budget"][d],
                )  # fmt: skip
                per_seed[seed] = rd.compare_round(
                    ctx, spec["params"][m], spec["imbalance"][d], over
                )
            runs.append(
                {
                    "dataset": d,
                    "method": m,
                    "round": spec["round"],
                    "seeds": list(per_seed),
                    "mean_over_seeds": rd.mean_over_seeds(per_seed),
                    "per_seed": per_seed,
                }
            )
    out = {"json": smk.output.json, "md": smk.output.md}
    rd.write_readings({"runs": runs}, out, _provenance(smk))


@does()
def publish(smk):
    """Copy every input to the output of the same position (atomically): a results page's
    tables, figures and numbers into the folder it cites them from."""
    from vabal import io

    for source, copy in zip(smk.input, smk.output, strict=True):
        with io.atomic_path(copy) as tmp:
            tmp.write_bytes(Path(source).read_bytes())


@does()
def to_label(smk):
    """One real round on the user's images (the config's labelling section)."""
    from vabal.run.labelling import next_round

    spec = dict(smk.params.labelling)
    next_round(
        spec["images"],
        smk.input.labels,
        smk.output[0],
        method=dict(smk.params.method),
        budget=spec["budget"],
        seed=spec["seed"],
        recipe=spec.get("training"),
        classes=spec.get("classes"),
        size=spec.get("size"),
        channels=spec.get("channels"),
    )
