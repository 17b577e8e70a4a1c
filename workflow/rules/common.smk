import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from vabal.run import cluster as vc
from vabal.data import download
from vabal import kernels
from vabal.run import forkserver, locks
from vabal import layout
from vabal.plan import workflow as vw
from vabal.errors import VabalError

try:
    vw.startup(config)
except VabalError as exc:
    sys.exit(f"error: {exc}")

# A Snakemake killed with SIGKILL leaves its locks: remove them when their owner is gone.
if workflow.is_main_process:
    note = locks.clear_stale_locks()
    if note:
        print(note, file=sys.stderr)
    locks.register()

R = config["results"]

# A local run starts one process that imports PyTorch and the library once; each job's
# script runs in a fork of it (vabal.run.forkserver). Off with VABAL_FORKSERVER=off.
FORKSERVER = {}


def stop_forkserver():
    if FORKSERVER.get("server"):
        FORKSERVER.pop("server").stop()


onstart:
    # A SLURM run, before any job is submitted: sacct's "CANCELLED by <uid>" read as
    # CANCELLED, and no GPU jobs sent to a partition without GPUs (vabal.run.cluster).
    try:
        vc.slurm_startup(workflow, config)
    except VabalError as exc:
        sys.exit(f"error: {exc}")
    if workflow.local_exec:
        FORKSERVER["server"] = forkserver.start(
            f"{R}/logs/forkserver.log",
            env=kernels.environment(config["cpu_kernels"]),
        )


onsuccess:
    stop_forkserver()


onerror:
    stop_forkserver()


STORE = f"{R}/{layout.STORE}"
ENV = "../../envs/vabal.yaml"


wildcard_constraints:
    dataset=r"[A-Za-z][A-Za-z0-9_-]*",
    method=r"[A-Za-z][A-Za-z0-9_-]*",
    source=r"[A-Za-z][A-Za-z0-9_-]*",
    seed=r"\d+",
    round=r"\d+",
    recipe=r"r[0-9a-f]{10}",


def source_download(w):
    """A source whose path is a URL: its checked download (rule download_source)."""
    path = config["sources"][w.source].get("path")
    if not download.is_url(path):
        return {}
    return {"archive": f"{R}/{download.download_path(w.source, path)}"}


def store_files(w):
    src = vw.source_of(config, w.dataset)
    store = layout.STORE.format(source=src)
    return {k: f"{R}/{store}/{f}" for k, f in layout.STORE_FILES.items()}


def split_file(w):
    split = layout.SPLIT.format(dataset=w.dataset, seed=w.seed)
    return f"{R}/{split}"


def round_pattern(name, **fields):
    """The path (pattern: wildcards where `fields` give none) of file `name` of a round."""
    return layout.round_path(name, R, **fields)


def round0_pattern(name, **fields):
    """The path pattern of file `name` of a shared round 0 (dataset, recipe, seed)."""
    return layout.round0_path(name, R, **fields)


def round_log(step, **fields):
    """The log of a round's `step`: the round's path under logs/."""
    return layout.round_path(f"{step}.log", f"{R}/logs", **fields)


def round0_log(step):
    """The log of a shared round 0's `step`."""
    return layout.round0_path(f"{step}.log", f"{R}/logs")


def shared_round0(name):
    """Input function: file `name` of the shared round 0 that a run's round 0 links to."""

    def inputs(w):
        recipe = vw.round0_id(config, w.dataset, w.method)
        return round0_pattern(name, dataset=w.dataset, recipe=recipe, seed=w.seed)

    return inputs


def run_key(w):
    return {
        "dataset": w.dataset,
        "method": w.method,
        "seed": int(w.seed),
        "round": int(w.round),
    }


def classifier_inputs(w):
    """The data, the split (for labels and the evaluation set) and, after round 0, the
    previous round's labelled set and selection."""
    inputs = {**store_files(w), "split": split_file(w)}
    r = int(getattr(w, "round", 0))
    if r > 0:
        prev = {**run_key(w), "round": r - 1}
        inputs["prev_labelled"] = round_pattern("labelled.parquet", **prev)
        inputs["prev_selection"] = round_pattern("selection.parquet", **prev)
    return inputs


def method_inputs(step):
    """Inputs of a method step: the round's data plus the outputs of its earlier steps."""
    earlier = {"extract_features": [], "train_vae": ["extract_features"]}
    earlier["score"] = earlier["train_vae"] + ["train_vae"]
    earlier["select"] = earlier["score"] + ["score"]
    files = {
        "extract_features": "features.pt",
        "train_vae": "vae.pt",
        "score": "scores.parquet",
    }

    def inputs(w):
        steps = vw.REGISTRY[config["methods"][w.method]["kind"]].steps
        out = {
            **store_files(w),
            "split": split_file(w),
            "labelled": round_pattern("labelled.parquet", **run_key(w)),
            "classifier": round_pattern("classifier.pt", **run_key(w)),
        }
        for s in earlier[step]:
            if s in steps:
                out[s] = round_pattern(files[s], **run_key(w))
        return out

    return inputs
