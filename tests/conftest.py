"""Shared fixtures: the repository, tiny configs, and running the workflow in a temp folder."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# One thread per test process, set before torch is imported: the suite runs in parallel
# workers, and OpenMP threads that outnumber the cores spin against each other (a tiny
# training then takes 40x longer under load). Workflow runs give each job its own count.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = Path(os.environ.get("VABAL_SHARED_DATASETS", REPO.parent / "shared" / "datasets"))

#: A config small enough for a CPU test: digits, one dominant variant, tiny ResNet-18.
TINY_CONFIG = {
    "results": "results",
    "seeds": [0],
    "training": {
        "classifier": "resnet18",
        "width": 8,
        "epochs": 4,
        "batch_size": 32,
        "lr": 0.05,
        "lr_milestones": [3],
        "augment": {"crop_padding": 1, "hflip": False},
    },
    "sources": {"digits": {"kind": "digits"}},
    "datasets": {
        "digits_plus1": {"source": "digits", "imbalance": "+[1]", "budget": 20, "rounds": 3},
    },
    "methods": {"random": {"kind": "random"}},
    "figures": {"fig3a": {"datasets": ["digits_plus1"], "methods": ["random"]}},
}


#: Test modules by duration, longest first (measured): the parallel workers of the default
#: command (pytest-xdist, one module per worker at a time, in this order: pyproject.toml's
#: --no-loadscope-reorder) start them first, so that no long module is left to run alone
#: at the end. The others follow in their usual order.
LONGEST_FIRST = (
    "test_cluster",
    "test_paper_workflow",
    "test_bad_inputs",
    "test_reliability",
    "test_method_invariants",
    "test_method_invariants_today",
    "test_workflow",
    "test_baselines",
    "test_vabal",
    "test_store",
    "test_sources",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(Path(str(item.fspath)).stem, len(rank)))


@pytest.fixture
def tiny_config() -> dict:
    return copy.deepcopy(TINY_CONFIG)


def run_snakemake(workdir: Path, config: dict, targets=("all",), extra=(), check=True, env=None):
    """Run the project's Snakefile with ``config`` in ``workdir``; returns the process.
    ``env``: variables added to this process's environment."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", *targets, "--snakefile", str(REPO / "Snakefile")]
    cmd += ["--directory", str(workdir), "--cores", "2", *extra, "--quiet", "rules"]
    cmd += ["--configfile", str(cfg)]  # last: it takes every argument after it
    proc = subprocess.run(
        cmd, capture_output=True, text=True, cwd=workdir, env={**os.environ, **(env or {})}
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture
def snakemake_run():
    return run_snakemake


def cifar100_standin(root: Path, per_class: int = 2) -> Path:
    """A synthetic stand-in for the official cifar-100-python.tar.gz (same pickle format:
    train / test / meta with b'data', b'fine_labels', b'fine_label_names'; random pixels),
    named otherwise so that the official MD5 is not expected of it."""
    from test_sources import _cifar100_folder, _pack

    top, _ = _cifar100_folder(root / "standin-src", per_class=per_class, test_per_class=1)
    return _pack(root / "standin-cifar-100-python.tar.gz", top, "cifar-100-python")


def without_slurm(tmp_path: Path) -> dict:
    """This process's environment on a machine with SLURM's commands but no cluster to ask:
    an empty SLURM_CONF makes every SLURM command fail at once. (A SLURM_CONF that names no
    file makes them retry for up to 60 s, and the executor plugin runs `scontrol show
    config`, with a 10 s timeout, whenever Snakemake loads it.)"""
    conf = tmp_path / "empty-slurm.conf"
    conf.write_text("")
    return {**os.environ, "SLURM_CONF": str(conf)}


def features_round(path: Path, ids, labelled, penultimate, logits, seed=0, round_=0, device="cpu"):
    """A round whose ``path/features.pt`` is written as the shared extract step writes it.

    ``ids``: the file's sample ids, row by row, in any order (together ``0..n-1``);
    ``labelled``: the labelled ones (the others are the pool); ``penultimate`` ``(n, d)`` and
    ``logits`` ``(n, C)``: the file's rows, in the order of ``ids``. The taps are float16 (as
    :func:`vabal.learn.features.extract` stores them): the first ``1, 2, 3`` columns of the
    penultimate features stand in for the earlier stages, the penultimate ones are ``taps[3]``;
    logits float32, ``pred`` their argmax. Returns the :class:`~vabal.methods.base.RoundContext`
    (no store; split labels all 0; ``recipe`` just the device) with ``files`` naming the file.
    """
    import numpy as np
    import pandas as pd
    import torch

    from vabal import io
    from vabal.methods.base import RoundContext

    ids, labelled = np.ascontiguousarray(ids), np.sort(labelled)
    feats, logits = penultimate.to(torch.float16), logits.detach().float()
    path.mkdir(parents=True, exist_ok=True)
    file = path / "features.pt"
    io.save_torch(
        file,
        {
            "sample_id": torch.from_numpy(ids),
            "labelled": torch.from_numpy(np.isin(ids, labelled)),
            "taps": [feats[:, :1], feats[:, :2], feats[:, :3], feats],
            "logits": logits,
            "pred": logits.argmax(1),
        },
    )
    return RoundContext(
        store=None,
        split=pd.DataFrame({"sample_id": np.arange(len(ids)), "label": 0}),
        labelled=labelled,
        unlabelled=np.setdiff1d(ids, labelled),
        seed=seed,
        round=round_,
        recipe={"device": device},
        files={"extract_features": file},
    )


def local_cifar10() -> str:
    """The paper config's cifar10 source on these machines (its default is the official URL,
    which the machines of the tests cannot reach)."""
    return f"{{kind: cifar10, path: {SHARED_DATASETS / 'cifar10-jpeg-q75.tar.xz'}}}"


def standin_sources_arg(archive: Path) -> str:
    """--config argument pointing the paper config's cifar100 source at a stand-in and its
    cifar10 source at the local archive."""
    return f"sources={{cifar10: {local_cifar10()}, cifar100: {{kind: cifar100, path: {archive}}}}}"


@pytest.fixture
def strict_fp32():
    """(CUDA) Full fp32 convolutions (no TF32) and fixed cuDNN algorithms, so that two paths on
    the same batches can be compared to fp32 rounding; restored afterwards."""
    import torch

    saved = (
        torch.backends.cudnn.allow_tf32,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    yield
    (
        torch.backends.cudnn.allow_tf32,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    ) = saved
