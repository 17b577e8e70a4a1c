"""Every figure and table target through Snakemake: a reduced quickstart in a temporary
folder (digits, two rounds, a tiny classifier), its outputs against the per-round table,
partial reruns, the report; and the quickstart's DAG. (The dry run of the paper's whole
grid goes through the SLURM profile, in tests/test_cluster.py.)"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, run_snakemake

from vabal import layout
from vabal.plan import catalogue, target_checks, targets

pytestmark = pytest.mark.slow

VABAL = {"kind": "vabal", "epochs": 1, "mc_samples": 2}
#: The quickstart's structure with the fewest runs that still draw every target.
REDUCED = {
    "results": "results",
    "seeds": [0, 1],
    "training": {
        "classifier": "resnet18",
        "width": 4,
        "epochs": 2,
        "batch_size": 32,
        "lr": 0.05,
        "lr_milestones": [2],
        "augment": {"crop_padding": 1, "hflip": False},
    },
    "sources": {"digits": {"kind": "digits"}},
    "datasets": {
        "d": {"source": "digits", "imbalance": "+[1]", "budget": 20, "rounds": 2},
        "d_b10": {"source": "digits", "imbalance": "+[1]", "budget": 10, "rounds": 2},
        "d_val": {
            "source": "digits",
            "imbalance": "+[1]",
            "budget": 20,
            "rounds": 2,
            "val_fraction": 0.2,
            "evaluate_on": "val",
        },
    },
    "methods": {
        "random": {"kind": "random"},
        "vabal": VABAL,
        "vabal_lambda0": {**VABAL, "lambda": 0},
        "vabal_no_prior": {**VABAL, "prior": False},
        "vabal_abs": {**VABAL, "w_type": "abs"},
    },
    "runs": [
        {"datasets": ["d"], "methods": ["random"]},
        {"datasets": ["d"], "methods": ["vabal", "vabal_lambda0"], "seeds": [0]},
        {"datasets": ["d_b10"], "methods": ["random"], "seeds": [0]},
        {"datasets": ["d_val"], "methods": ["vabal", "vabal_no_prior", "vabal_abs"], "seeds": [0]},
    ],
    "figures": {
        **{
            f: {"datasets": ["d"], "methods": ["random", "vabal"]}
            for f in ("fig3a", "fig3b", "fig3c", "fig4a", "fig4b", "fig4c", "fig6", "fig8")
        },
        **{f: {"datasets": ["d"], "methods": ["random", "vabal"]} for f in ("fig9", "fig12")},
        "fig13": {"datasets": ["d"], "methods": ["random"]},
        **{f"fig{n}": {"datasets": ["d"], "methods": ["random", "vabal"]} for n in range(14, 24)},
        "fig5": {"datasets": ["d"], "methods": ["random", "vabal"], "images": 4},
        "fig7a": {"datasets": ["d_b10", "d"], "methods": ["random"]},
        "fig10": {"datasets": ["d_b10", "d"], "methods": ["random"]},
        "fig7b": {"datasets": ["d"], "methods": ["random"], "sweep": ["vabal"]},
        "fig11": {"datasets": ["d"], "methods": ["random"], "sweep": ["vabal_lambda0", "vabal"]},
        "vabal_diagnostics": {"datasets": ["d", "d_val"]},
    },
    "tables": {
        "table1": {"datasets": ["d_val"], "methods": ["vabal_no_prior", "vabal"]},
        "table2": {"datasets": ["d_val"], "methods": ["vabal_abs", "vabal"]},
    },
    "beyond": {
        "leaderboard": {"datasets": ["d"], "methods": ["random", "vabal", "vabal_lambda0"]},
        "summary": {"datasets": ["d", "d_val"], "methods": ["random", "vabal", "vabal_no_prior"]},
        "readings": {"datasets": ["d"], "methods": ["vabal"]},
        "strength": {
            "datasets": ["d"],
            "methods": ["random", "vabal", "vabal_lambda0"],
            "protocol": "here",
            "stored": {"before": "stored_summary.json"},
        },
    },
}
#: a summary an earlier protocol wrote (its paired differences only), for target strength
STORED_SUMMARY = {
    "datasets": {
        "d": {
            "methods": {
                "vabal": {
                    "vs_random": {
                        "seeds": 3,
                        "d_avg_mean": -0.02,
                        "d_avg_std": 0.01,
                        "d_final_mean": -0.01,
                        "avg_ahead": 0,
                    }
                }
            }
        }
    }
}


#: round 0 of VaB-AL's seed 0 on dataset d (layout.round_path's fields)
VABAL0 = {"dataset": "d", "method": "vabal", "seed": 0, "round": 0}


def dry_run(workdir, config, targets_=("all",)) -> list[tuple[str, str]]:
    """The jobs (rule, wildcards) a dry run in ``workdir`` with ``config`` would run."""
    cfg_file = workdir / "config.yaml"
    cfg_file.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", *targets_, "--snakefile", str(REPO / "Snakefile")]
        + ["--directory", str(workdir), "--cores", "2", "--configfile", str(cfg_file)],
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return jobs_of(proc.stdout)


def jobs_of(out: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run lists."""
    jobs = []
    for block in re.split(r"\n(?=\s*\[[^\]]+\]\s*\n)", out):
        rule = re.search(r"^\s*(?:local)?rule (\S+):", block, re.M)
        if rule:
            wc = re.search(r"^\s+wildcards: (.*)$", block, re.M)
            jobs.append((rule.group(1), wc.group(1) if wc else ""))
    return jobs


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """The reduced quickstart, run once."""
    import json

    work = tmp_path_factory.mktemp("paper")
    (work / "stored_summary.json").write_text(json.dumps(STORED_SUMMARY))
    t0 = time.monotonic()
    run_snakemake(work, REDUCED)
    print(f"reduced quickstart: {time.monotonic() - t0:.0f} s")
    return work


def test_every_target_is_drawn(drawn):
    from vabal.plan import config as cfg

    config = cfg.validate(copy.deepcopy(REDUCED))
    assert catalogue.configured(config) == list(catalogue.TARGETS)
    for name in catalogue.TARGETS:
        for path in targets.outputs(config, name).values():
            f = drawn / path
            assert f.exists() and f.stat().st_size > 0, path
            if f.suffix == ".png":
                assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f.stat().st_size > 5000
    table1 = pd.read_csv(drawn / "results/tables/table1.csv")
    assert table1["method"].tolist() == ["vabal_no_prior", "vabal"]
    # the paper's numbers by row setting: (prior off, difficulty on), then both on
    assert table1["paper CIFAR-10 avg"].tolist() == [82.68, 82.96]


def test_figure_data_match_the_rounds_table(drawn):
    rounds = pd.read_parquet(drawn / "results/tables/rounds.parquet")
    fig = drawn / "results/figures"
    # curves: mean / std over seeds per method and round
    curve = pd.read_csv(fig / "fig3b.csv")
    for _, row in curve.iterrows():
        sel = rounds[
            (rounds["dataset"] == "d")
            & (rounds["method"] == row["method"])
            & (rounds["round"] == row["round"])
        ]
        assert row["accuracy_mean"] == pytest.approx(sel["accuracy"].mean())
        assert row["n_labelled"] == sel["n_labelled"].mean()
        assert row["runs"] == len(sel)
        if len(sel) > 1:
            assert row["accuracy_std"] == pytest.approx(sel["accuracy"].std())
    assert set(curve["method"]) == {"random", "vabal"}
    # trials: the highlighted method's own seeds, unaveraged
    trials = pd.read_csv(fig / "fig15.csv")
    own = trials[trials["method"] == "vabal"].sort_values("round")
    ref = rounds[(rounds["dataset"] == "d") & (rounds["method"] == "vabal")].sort_values("round")
    assert own["accuracy_mean"].tolist() == pytest.approx(ref["accuracy"].tolist())
    # budget sweep: avg over rounds and final, per budget
    budget = pd.read_csv(fig / "fig7a.csv").set_index("budget")
    for dataset, b in (("d_b10", 10), ("d", 20)):
        runs = rounds[(rounds["dataset"] == dataset) & (rounds["method"] == "random")]
        avg = runs.groupby("seed")["accuracy"].mean().mean()
        final = runs[runs["round"] == runs["round"].max()]["accuracy"].mean()
        assert budget.loc[b, "avg_mean"] == pytest.approx(avg)
        assert budget.loc[b, "final_mean"] == pytest.approx(final)
    # rare-class share from labelled_per_class (+[1]: every class but the first is rare)
    ratio = pd.read_csv(fig / "fig9.csv")
    for _, row in ratio.iterrows():
        sel = rounds[
            (rounds["dataset"] == "d")
            & (rounds["method"] == row["method"])
            & (rounds["round"] == row["round"])
        ]
        shares = sel["labelled_per_class"].map(lambda c: 1 - c[0] / sum(c))
        assert row["rare_ratio_mean"] == pytest.approx(shares.mean())
    # class scatter at the last round
    scatter = pd.read_csv(fig / "fig6.csv")
    last = rounds[(rounds["dataset"] == "d") & (rounds["round"] == 1)]
    for _, row in scatter.iterrows():
        sel = last[last["method"] == row["method"]]
        c = row["class_index"]
        assert row["labelled"] == pytest.approx(
            sel["labelled_per_class"].map(lambda v, c=c: v[c]).mean()
        )
    # the λ sweep's values and the tables from the same rounds
    lam = pd.read_csv(fig / "fig7b.csv").set_index("method")
    assert lam.loc["vabal", "lambda"] == 0.005
    table2 = pd.read_csv(drawn / "results/tables/table2.csv").set_index("method")
    val = rounds[(rounds["dataset"] == "d_val") & (rounds["method"] == "vabal_abs")]
    assert (val["evaluated_on"] == "val").all()
    assert table2.loc["vabal_abs", "d_val avg"] == pytest.approx(100 * val["accuracy"].mean())
    # fig. 5: the first round's top-ranked selection, with the classifier's predictions
    top = pd.read_csv(fig / "fig5.csv")
    sel = pd.read_parquet(drawn / layout.round_path("selection.parquet", "results", **VABAL0))
    shown = top[top["method"] == "vabal"].sort_values("rank")
    assert shown["sample_id"].tolist() == sel.sort_values("rank")["sample_id"].head(4).tolist()
    assert (shown["dominant"] == (shown["label"] == 0)).all()
    assert shown["predicted"].between(0, 9).all()


def test_provenance_recorded(drawn):
    rounds = pd.read_parquet(drawn / "results/tables/rounds.parquet")
    assert rounds["code_version"].str.startswith("0.1.0").all()
    assert rounds["config_sha256"].str.fullmatch(r"[0-9a-f]{64}").all()
    sha = rounds["config_sha256"].iloc[0]
    for path in ("results/tables/table1.csv", "results/figures/fig3a.csv"):
        frame = pd.read_csv(drawn / path)
        assert (frame["config_sha256"] == sha).all(), path
    assert sha[:12] in (drawn / "results/tables/table1.md").read_text()
    side = yaml.safe_load((drawn / "results/tables/rounds.provenance.json").read_text())
    assert side["config_sha256"] == sha and side["config"]["datasets"]["d"]["budget"] == 20


def test_rerun_of_one_seed_recomputes_only_its_runs(drawn, tmp_path):
    """A deleted run is recomputed alone; the targets drawn from the rounds table are redrawn
    from the new table, and those that read their own rounds' files (Fig. 5) only if theirs."""
    import shutil

    run = (
        drawn
        / Path(layout.round_path("", "results", **{**VABAL0, "method": "random", "seed": 1})).parent
    )
    saved = tmp_path / "seed1"
    shutil.copytree(run, saved)
    shutil.rmtree(run)
    try:
        jobs = dry_run(drawn, REDUCED)
        rounds_rules = {"share_round0", "train_classifier", "select"}
        ran = {rule for rule, _ in jobs}
        assert ran - {"all", "collect_rounds"} - rounds_rules <= set(catalogue.TARGETS)
        for rule, wc in jobs:
            if rule in rounds_rules:
                assert "dataset=d," in wc and "method=random" in wc and "seed=1" in wc, wc
        # round 0 is linked again, not trained: the shared one is still there
        assert sum(rule == "share_round0" for rule, _ in jobs) == 1
        assert sum(rule == "train_classifier" for rule, _ in jobs) == 1
        from vabal.plan import config as cfg

        config = cfg.validate(copy.deepcopy(REDUCED))
        own_files = {"top_images", "vabal_diagnostics", "readings"}
        expected = {
            n
            for n in catalogue.configured(config)
            if catalogue.TARGETS[n] not in own_files
            or ("d", "random", 1) in targets.target_runs(config, n)
        }
        assert ran & set(catalogue.TARGETS) == expected
        assert "fig5" not in expected and "table1" in expected and "fig3a" in expected
    finally:
        shutil.copytree(saved, run)


def test_leaderboard_from_the_rounds_table(drawn):
    """AUBC by the trapezoid rule over labels, ranked, paired with Random seed by seed."""
    rounds = pd.read_parquet(drawn / "results/tables/rounds.parquet")
    board = pd.read_csv(drawn / "results/tables/leaderboard.csv").set_index("method")
    assert list(board["dataset"].unique()) == ["d"] and len(board) == 3
    for method in ("random", "vabal"):
        runs = rounds[(rounds["dataset"] == "d") & (rounds["method"] == method)]
        areas = []
        for _, run in runs.groupby("seed"):
            x, y = run["n_labelled"].to_numpy(), run["accuracy"].to_numpy()
            areas.append(((y[1:] + y[:-1]) / 2 * np.diff(x)).sum() / (x[-1] - x[0]))
        assert board.loc[method, "aubc_mean"] == pytest.approx(np.mean(areas))
        assert board.loc[method, "seeds"] == runs["seed"].nunique()
    ranked = board.sort_values("rank")  # best first; equal means share a rank
    assert ranked["rank"].iloc[0] == 1 and ranked["aubc_mean"].is_monotonic_decreasing
    # VaB-AL and Random share seed 0 only: a difference, no interval
    assert board.loc["vabal", "d_aubc_vs_random_seeds"] == 1
    assert np.isnan(board.loc["vabal", "d_aubc_vs_random_ci_low"])
    assert "(ref.)" in (drawn / "results/tables/leaderboard.md").read_text()
    assert (drawn / "results/figures/leaderboard.png").stat().st_size > 0


def test_summary_from_the_rounds_table(drawn):
    """The page's numbers: each method's curve and its paired difference from Random, and
    the share of rare classes in the labelled set, recomputed here from the rounds table."""
    import json

    rounds = pd.read_parquet(drawn / "results/tables/rounds.parquet")
    summary = json.loads((drawn / "results/tables/summary.json").read_text())["datasets"]
    assert set(summary) == {"d", "d_val"}
    d = rounds[rounds["dataset"] == "d"]
    for method in ("random", "vabal"):
        acc = d[d["method"] == method].groupby("round")["accuracy"].mean()
        assert summary["d"]["methods"][method]["accuracy_mean"] == pytest.approx(acc.tolist())
    # VaB-AL ran seed 0 only: paired with Random's seed 0, final round
    last = d["round"].max()
    final = d[d["round"] == last].set_index(["method", "seed"])["accuracy"]
    paired = summary["d"]["methods"]["vabal"]["vs_random"]
    assert paired["seeds"] == 1
    assert paired["d_final_mean"] == pytest.approx(final["vabal", 0] - final["random", 0])
    # d is +[1] on digits: class 0 dominant, the nine others rare
    labelled = d[(d["method"] == "random") & (d["round"] == last)]["labelled_per_class"]
    rare = np.mean([sum(c[1:]) / sum(c) for c in labelled])
    assert summary["d"]["rare_ratio"]["random"][-1] == pytest.approx(rare)
    assert "vabal_no_prior" not in summary["d"]["methods"]  # not run on d
    text = (drawn / "results/tables/summary.md").read_text()
    assert "### d_val" in text and "Paired difference from Random" in text


def test_strength_pairs_each_protocol_with_its_interval(drawn):
    """Target strength: the stored protocol's rows with the t interval of its mean, std and
    seeds; this config's rows equal to the summary's paired differences."""
    import json

    from scipy import stats

    data = pd.read_csv(drawn / "results/figures/strength.csv").set_index(["protocol", "method"])
    before = data.loc[("before", "vabal")]
    half = stats.t.ppf(0.975, 2) * 0.01 / np.sqrt(3)
    assert before["d_avg_ci_low"] == pytest.approx(-0.02 - half)
    assert before["d_avg_ci_high"] == pytest.approx(-0.02 + half)
    summary = json.loads((drawn / "results/tables/summary.json").read_text())["datasets"]
    here = data.loc[("here", "vabal")]
    paired = summary["d"]["methods"]["vabal"]["vs_random"]
    assert here["d_avg_mean"] == pytest.approx(paired["d_avg_mean"])
    assert here["seeds"] == 1 and np.isnan(here["d_avg_ci_low"])  # one seed: no interval
    assert ("here", "vabal_lambda0") in data.index and ("before", "vabal_lambda0") not in data.index
    text = (drawn / "results/tables/strength.md").read_text()
    assert "| method | before | here |" in text and "(0/3)" in text
    assert (drawn / "results/figures/strength.png").stat().st_size > 0


def test_strength_names_a_missing_summary_and_a_foreign_reference(tmp_path, monkeypatch):
    from vabal.errors import ConfigError
    from vabal.plan import config as cfg

    config = cfg.validate(copy.deepcopy(REDUCED))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="beyond.strength.stored.before: no file stored_summ"):
        target_checks.check_stored(config)
    (tmp_path / "stored_summary.json").write_text("{}")
    target_checks.check_stored(config)
    bad = copy.deepcopy(REDUCED)
    bad["beyond"]["strength"]["reference"] = "vabal_no_prior"
    with pytest.raises(ConfigError, match="strength.reference: 'vabal_no_prior' is not one of"):
        cfg.validate(bad)


def test_readings_reproduce_the_stored_selection(drawn):
    """Scored again from the stored round, the reading a run used selects what it selected;
    the other readings are paired with it on the same VAE."""
    import json

    out = json.loads((drawn / "results/tables/readings.json").read_text())
    (run,) = out["runs"]
    assert (run["dataset"], run["method"], run["round"], run["seeds"]) == ("d", "vabal", 0, [0])
    per_seed = run["per_seed"]["0"]
    assert set(per_seed) >= {"standardised", "per_feature", "literal", "authors", "pool"}
    stored = pd.read_parquet(drawn / layout.round_path("selection.parquet", "results", **VABAL0))
    rounds = pd.read_parquet(drawn / "results/tables/rounds.parquet")
    row = rounds[(rounds["dataset"] == "d") & (rounds["method"] == "vabal")]
    before = np.asarray(row[row["round"] == 0]["labelled_per_class"].iloc[0])
    after = np.asarray(row[row["round"] == 1]["labelled_per_class"].iloc[0])
    assert per_seed["standardised"]["selected_per_class"] == (after - before).tolist()
    assert sum(per_seed["standardised"]["selected_per_class"]) == len(stored)
    assert "moved by prior" in (drawn / "results/tables/readings.md").read_text()


def test_results_publishes_what_a_page_cites(drawn):
    """With publish set, `snakemake results` copies every target's files and the rounds
    table into that folder, recomputing nothing."""
    config = {**REDUCED, "publish": "page/v2"}
    jobs = {rule for rule, _ in dry_run(drawn, config, ["results"])}
    assert jobs == {"publish", "results"}
    run_snakemake(drawn, config, targets=["results"])
    copied = sorted(p.relative_to(drawn / "page/v2") for p in (drawn / "page/v2").rglob("*.*"))
    assert len(copied) > 40
    for rel in copied:
        assert (drawn / "page/v2" / rel).read_bytes() == (drawn / "results" / rel).read_bytes()
    names = {p.name for p in copied}
    assert {"summary.json", "readings.json", "leaderboard.csv", "rounds.parquet"} <= names


def test_leaderboard_of_the_finished_runs(drawn, tmp_path, monkeypatch):
    """`vabal leaderboard` draws the same board from the runs on disk as the target does."""
    from vabal import cli

    (tmp_path / "config.yaml").write_text(yaml.safe_dump(REDUCED))
    monkeypatch.chdir(drawn)
    assert (
        cli.main(["leaderboard", str(tmp_path / "config.yaml"), "--out", str(tmp_path / "b")]) == 0
    )
    ours = pd.read_csv(tmp_path / "b.csv").drop(columns=["code_version", "config_sha256"])
    target = pd.read_csv(drawn / "results/tables/leaderboard.csv")
    pd.testing.assert_frame_equal(ours, target.drop(columns=["code_version", "config_sha256"]))


def test_filters_and_tables_train_nothing(drawn):
    proc = run_snakemake(drawn, REDUCED, targets=["all"], extra=["-n"])
    assert "Nothing to be done" in proc.stdout + proc.stderr
    # a table regenerated from stored results: its own job only
    for ext in ("csv", "md", "tex", "html"):
        (drawn / f"results/tables/table1.{ext}").unlink()
    assert sorted(rule for rule, _ in dry_run(drawn, REDUCED)) == ["all", "table1"]
    run_snakemake(drawn, REDUCED, targets=["table1"])
    assert (drawn / "results/tables/table1.csv").exists()
    # filtered: only targets whose runs are all selected are requested
    config = copy.deepcopy(REDUCED)
    config["only_seeds"] = [0]
    for f in ("fig3a", "fig5"):
        (drawn / f"results/figures/{f}.png").unlink()
    rules = {rule for rule, _ in dry_run(drawn, config, ["paper"])}
    assert "fig5" in rules and "fig3a" not in rules  # fig3a also draws seed 1
    run_snakemake(drawn, REDUCED, targets=["fig3a", "fig5"])


def test_report_holds_every_target(drawn):
    report = drawn / "report.html"
    proc = run_snakemake(drawn, REDUCED, targets=["all"], extra=["--report", str(report)])
    assert report.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "(ERROR/" not in proc.stderr, proc.stderr[-2000:]  # every caption renders
    text = report.read_text(errors="replace")
    for name in catalogue.TARGETS:
        assert any(f"{name}.{ext}" in text for ext in ("png", "html", "md")), name
    assert "Fig. 3(b)" in text and "provenance.html" in text


def test_quickstart_draws_every_target(tmp_path):
    """The quickstart's DAG asks for every figure and table and all five methods."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "all",
            "--cores",
            "2",
            "--nolock",
            "--configfile",
            str(REPO / "configs/quickstart.yaml"),
            "--config",
            f"results={tmp_path / 'results'}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    rules = {rule for rule, _ in jobs_of(proc.stdout)}
    # every target but strength, which compares with another protocol's stored summary
    assert set(catalogue.TARGETS) - {"strength"} <= rules
    methods = set(re.findall(r"method=([\w-]+)", proc.stdout))
    assert {"random", "vabal", "bald", "coreset", "vaal"} <= methods


def test_same_numbers_from_a_second_drawing(drawn, tmp_path):
    """Redrawing a figure from the stored rounds reproduces its data file exactly."""
    before = pd.read_csv(drawn / "results/figures/fig12.csv")
    (drawn / "results/figures/fig12.png").unlink()
    run_snakemake(drawn, REDUCED, targets=["fig12"])
    after = pd.read_csv(drawn / "results/figures/fig12.csv")
    pd.testing.assert_frame_equal(before, after)
    assert np.isfinite(after["accuracy_mean"]).all()


def test_round0_is_shared_and_equals_a_round0_of_its_own(drawn, tmp_path):
    """Random and VaB-AL of one dataset and seed share round 0 (one recipe): their round-0
    files are links to one folder, and a round 0 trained apart, with the method's own
    recipe, gives the same weights, metrics and features."""
    import torch

    from vabal import io
    from vabal.learn.features import extract_round
    from vabal.plan import config as cfg
    from vabal.plan import workflow as vw
    from vabal.run import rounds

    config = cfg.validate(copy.deepcopy(REDUCED))
    results = drawn / "results"
    run0 = {
        m: Path(layout.round_path("", results, **{**VABAL0, "method": m}))
        for m in ("random", "vabal")
    }
    shared = {(run0[m] / "classifier.pt").resolve().parent for m in run0}
    assert len(shared) == 1 and (run0["random"] / "classifier.pt").is_symlink()
    assert shared.pop() == (results / "round0/d" / vw.round0_id(config, "d", "vabal") / "seed0")
    table = pd.read_parquet(results / "tables/rounds.parquet")
    first = table[(table["dataset"] == "d") & (table["seed"] == 0) & (table["round"] == 0)]
    cols = ["n_labelled", "accuracy", "balanced_accuracy", "labelled_per_class"]
    rows = first.set_index("method").loc[["random", "vabal"], cols].astype(str)
    assert (rows.iloc[0] == rows.iloc[1]).all()

    own = tmp_path / "round0"
    store, split = results / "data/digits", results / "splits/d/seed0.parquet"
    recipe = cfg.training_recipe(config, "d", "vabal")
    rounds.label(split, own / "labelled.parquet", 0)
    rounds.train_classifier(store, own / "labelled.parquet", recipe, 0, 0, own / "classifier.pt")
    rounds.evaluate(
        store, split, own / "labelled.parquet", own / "classifier.pt", "test", recipe,
        own / "metrics.json",
    )  # fmt: skip
    mine, theirs = (io.load_torch(d / "classifier.pt")["state_dict"] for d in (own, run0["vabal"]))
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    a, b = (io.read_json(d / "metrics.json") for d in (own, run0["vabal"]))
    assert {k: a[k] for k in cols} == {k: b[k] for k in cols}
    ctx = rounds.context(store, split, own / "labelled.parquet", recipe, 0, 0,
                         {"classifier": own / "classifier.pt"})  # fmt: skip
    feats, stored = extract_round(ctx), io.load_torch(run0["vabal"] / "features.pt")
    assert torch.equal(feats["logits"], stored["logits"])
    assert all(torch.equal(x, y) for x, y in zip(feats["taps"], stored["taps"], strict=True))
