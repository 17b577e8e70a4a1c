"""The workflow itself: Snakemake runs the chain on digits in a temporary folder."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, local_cifar10

from vabal import layout

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The tiny digits config run twice from scratch with the same seed: the first with its
    jobs in children of the fork server (the default), the second each in its own process."""
    from conftest import TINY_CONFIG, run_snakemake

    dirs = [tmp_path_factory.mktemp(f"run{i}") for i in range(2)]
    for d, server in zip(dirs, ["", "off"], strict=True):
        run_snakemake(d, TINY_CONFIG, env={"VABAL_FORKSERVER": server})
    return dirs


def test_fork_server_ran_the_jobs_of_the_first_run_only(two_runs):
    served, alone = two_runs
    assert "serving" in (served / "results/logs/forkserver.log").read_text()
    assert not (alone / "results/logs/forkserver.log").exists()
    note = "in a child of the fork server"
    logs = {r: sorted(r.glob("results/logs/**/train_classifier.log")) for r in two_runs}
    assert [len(v) for v in logs.values()] == [3, 3]
    assert not any(note in log.read_text() for log in logs[alone])
    # the server is ready a few seconds after the start; earlier jobs run in their own process
    assert note in logs[served][-1].read_text()  # round 2


def read_round(root, r, name, method="random"):
    path = layout.round_path(
        name, "results", dataset="digits_plus1", method=method, seed=0, round=r
    )
    return pd.read_parquet(root / path)


def test_figure_and_table_exist(two_runs):
    root = two_runs[0]
    png = root / "results/figures/fig3a.png"
    assert png.exists() and png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rounds = pd.read_parquet(root / "results/tables/rounds.parquet")
    assert rounds[["dataset", "method", "seed", "round"]].values.tolist() == [
        ["digits_plus1", "random", 0, r] for r in range(3)
    ]
    assert rounds["n_labelled"].tolist() == [20, 40, 60]
    assert rounds["labelled_per_class"].map(sum).tolist() == [20, 40, 60]
    assert rounds["accuracy"].between(0, 1).all()
    curve = pd.read_csv(root / "results/figures/fig3a.csv")
    assert curve["n_labelled"].tolist() == [20, 40, 60]


def test_random_selection_invariants(two_runs):
    root = two_runs[0]
    split = pd.read_parquet(root / "results/splits/digits_plus1/seed0.parquet")
    pool = set(split.loc[split["role"] == "pool", "sample_id"])
    initial = set(split.loc[split["initial"], "sample_id"])
    assert set(read_round(root, 0, "labelled.parquet")["sample_id"]) == initial
    for r in range(2):
        labelled = set(read_round(root, r, "labelled.parquet")["sample_id"])
        chosen = read_round(root, r, "selection.parquet")["sample_id"].tolist()
        assert len(chosen) == len(set(chosen)) == 20
        assert set(chosen) <= pool and not set(chosen) & labelled
        after = set(read_round(root, r + 1, "labelled.parquet")["sample_id"])
        assert after == labelled | set(chosen)
    last = layout.round_path("selection.parquet", "results", dataset="digits_plus1",
                             method="random", seed=0, round=2)  # fmt: skip
    assert not (root / last).exists()
    # Random uses neither features nor a VAE: no such files in its graph
    every = {"dataset": "*", "method": "*", "seed": "*", "round": "*"}
    assert not list(root.glob(layout.round_path("features.pt", "results", **every)))
    assert not list(root.glob(layout.round_path("vae.pt", "results", **every)))


def test_same_seed_same_outputs(two_runs):
    a, b = two_runs
    split_a = (a / "results/splits/digits_plus1/seed0.parquet").read_bytes()
    assert split_a == (b / "results/splits/digits_plus1/seed0.parquet").read_bytes()
    for r in range(3):
        la, lb = read_round(a, r, "labelled.parquet"), read_round(b, r, "labelled.parquet")
        pd.testing.assert_frame_equal(la, lb)
    ra = pd.read_parquet(a / "results/tables/rounds.parquet")
    rb = pd.read_parquet(b / "results/tables/rounds.parquet")
    assert np.array_equal(ra["accuracy"], rb["accuracy"])


def test_rerun_is_a_no_op(two_runs):
    from conftest import TINY_CONFIG, run_snakemake

    proc = run_snakemake(two_runs[0], TINY_CONFIG, extra=["-n"], targets=["all"])
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_lint_and_format_are_clean():
    lint = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--configfile", "configs/quickstart.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_paper_config_dag_resolves(tmp_path):
    """The paper's grid (config.yaml) builds its DAG (dry run) without touching data."""
    if not (REPO.parent / "shared" / "datasets" / "cifar10-jpeg-q75.tar.xz").exists():
        pytest.skip("../shared/datasets/cifar10-jpeg-q75.tar.xz not found")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--cores",
            "1",
            "--nolock",
            "--configfile",
            str(REPO / "config.yaml"),
            "--config",
            "only_datasets=[cifar10_plus1]",
            "only_seeds=[0]",
            f"results={tmp_path / 'results'}",
            f"sources={{cifar10: {local_cifar10()}}}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    counts = dict(
        line.split()[:2]
        for line in out.splitlines()
        if line.split()[:1] in (["train_classifier"], ["train_round0"], ["select"], ["make_split"])
    )
    # (the paper's 5 methods + 4 lambda variants + today's 5) x 6 rounds, round 0 trained once
    # per classifier recipe (MC-Dropout's has dropout); a selection in every round but the last
    assert counts == {
        "make_split": "1",
        "train_round0": "2",
        "train_classifier": str(14 * 5),
        "select": "70",
    }


RULE_SCRIPTS = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, ResourceSettings
with SnakemakeApi() as api:
    wf = api.workflow(
        resource_settings=ResourceSettings(cores=1),
        config_settings=ConfigSettings(configfiles=[Path(sys.argv[1])]),
        snakefile=Path("Snakefile"),
        workdir=Path("."),
    )
    print(json.dumps({r.name: r.script for r in wf._workflow.rules}))
"""


@pytest.mark.parametrize("configfile", ["configs/quickstart.yaml", "configs/cpu.yaml"])
def test_every_rule_runs_the_step_registered_for_its_name(configfile):
    """Each rule with a script names workflow/scripts/step.py, and vabal.run.step has its work
    (the method steps share one function, every figure rule another)."""
    import json

    from vabal.run import step

    if configfile == "configs/cpu.yaml" and not (REPO.parent / "shared" / "datasets").exists():
        pytest.skip("../shared/datasets not found")
    proc = subprocess.run(
        [sys.executable, "-c", RULE_SCRIPTS, configfile], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    scripts = json.loads(proc.stdout.strip().splitlines()[-1])
    ran = {rule for rule, script in scripts.items() if script}
    assert {scripts[rule] for rule in ran} == {"../scripts/step.py"}
    assert {"train_classifier", "score", "select", "fig3a", "table1", "leaderboard"} <= ran
    assert configfile != "configs/cpu.yaml" or "publish" in ran
    works = {rule: step.for_rule(rule).__name__ for rule in ran}
    assert works["train_round0"] == works["train_classifier"] == "train_classifier"
    assert works["extract_features"] == works["score"] == works["train_vae"] == "method_step"
    assert works["fig5"] == "figure" and works["table2"] == "table"
    assert works["vabal_diagnostics"] == "figure"
    shared = {"train_round0", "share_round0_features", "extract_features", "score", "train_vae"}
    own = {r for r in ran - shared if not r.startswith(("fig", "table", "vabal_diagnostics"))}
    assert {r: works[r] for r in own} == {r: r for r in own}
    with pytest.raises(KeyError, match="no step registered for rule 'all'"):
        step.for_rule("all")
