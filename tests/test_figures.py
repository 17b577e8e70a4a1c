"""The paper's figures and tables: their numbers from hand-made round tables, their config
(targets, runs, filters) and provenance. The workflow that draws them: test_paper_workflow."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, TINY_CONFIG

from vabal.data.variants import class_roles
from vabal.errors import ConfigError
from vabal.methods import REGISTRY
from vabal.plan import catalogue, grid, targets
from vabal.plan import config as cfg
from vabal.report import analysis, provenance, tables


def rounds_table(acc: dict, n_classes=3, budget=10) -> pd.DataFrame:
    """A rounds frame from {(dataset, method, seed): [accuracy of round 0, 1, ...]}."""
    rows = []
    for (d, m, s), accs in acc.items():
        for r, a in enumerate(accs):
            per_class = [a] * n_classes
            labelled = [budget * (r + 1) - (n_classes - 1) * (r + 1)] + [r + 1] * (n_classes - 1)
            rows.append(
                {
                    "dataset": d,
                    "method": m,
                    "seed": s,
                    "round": r,
                    "n_labelled": budget * (r + 1),
                    "accuracy": a,
                    "balanced_accuracy": a,
                    "evaluated_on": "test",
                    "n_eval": 100,
                    "per_class_accuracy": per_class,
                    "labelled_per_class": labelled,
                    "class_names": [f"c{i}" for i in range(n_classes)],
                    "train_seconds": 1.0,
                }
            )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- tables 1, 2
def vabal_params(**over):
    return {"prior": True, "difficulty": True, "w_type": "z2", "lambda": 0.005, **over}


def test_table1_equals_hand_computed_averages():
    acc = {
        ("c10", "none", 0): [0.50, 0.60, 0.70],
        ("c10", "none", 1): [0.40, 0.50, 0.90],
        ("c10", "full", 0): [0.60, 0.70, 0.80],
        ("c10", "full", 1): [0.60, 0.80, 1.00],
        ("c10p1", "none", 0): [0.10, 0.20, 0.30],
        ("c10p1", "none", 1): [0.30, 0.20, 0.10],
        ("c10p1", "full", 0): [0.20, 0.40, 0.60],
        ("c10p1", "full", 1): [0.40, 0.40, 0.40],
    }
    params = {"none": vabal_params(prior=False, difficulty=False), "full": vabal_params()}
    table = tables.method_table(
        rounds_table(acc), "table1", ["c10", "c10p1"], ["none", "full"], params
    )
    assert table["method"].tolist() == ["none", "full"]
    row = table.set_index("method")
    # avg. = mean over rounds, then over seeds; final = last round, mean over seeds (in %)
    assert row.loc["none", "c10 avg"] == pytest.approx(100 * (0.6 + 0.6) / 2)
    assert row.loc["none", "c10 final"] == pytest.approx(100 * (0.7 + 0.9) / 2)
    assert row.loc["full", "c10 avg"] == pytest.approx(100 * (0.7 + 0.8) / 2)
    assert row.loc["full", "c10 final"] == pytest.approx(90.0)
    assert row.loc["none", "c10p1 avg"] == pytest.approx(20.0)
    assert row.loc["none", "c10p1 final"] == pytest.approx(20.0)
    assert row.loc["full", "c10p1 avg"] == pytest.approx(100 * (0.4 + 0.4) / 2)
    assert row.loc["full", "c10p1 final"] == pytest.approx(50.0)
    assert row.loc["full", "c10p1 final std"] == pytest.approx(100 * np.std([0.6, 0.4], ddof=1))
    assert row.loc["full", "c10 seeds"] == 2
    # the paper's numbers for each row's (prior, difficulty), beside the i-th dataset
    assert row.loc["none", "paper CIFAR-10 avg"] == 82.06
    assert row.loc["none", "paper CIFAR-10+[1] final"] == 60.56
    assert row.loc["full", "paper CIFAR-10 final"] == 90.35
    assert row.loc["full", "paper CIFAR-10+[1] avg"] == 54.77
    assert bool(row.loc["none", "prior"]) is False and bool(row.loc["full", "difficulty"]) is True


def test_table2_equals_hand_computed_averages_and_renders():
    acc = {}
    for i, d in enumerate(["p1", "p5", "p10"]):
        for m, base in (("sig", 0.3), ("abs", 0.4), ("z2", 0.5)):
            acc[(d, m, 0)] = [base + 0.01 * i, base + 0.1 + 0.01 * i]
    params = {
        m: vabal_params(w_type=w) for m, w in (("sig", "sigmoid"), ("abs", "abs"), ("z2", "z2"))
    }
    methods = ["sig", "abs", "z2"]
    datasets = ["p1", "p5", "p10"]
    table = tables.method_table(rounds_table(acc), "table2", datasets, methods, params)
    row = table.set_index("method")
    assert row.loc["abs", "p5 avg"] == pytest.approx(100 * (0.41 + 0.51) / 2)
    assert row.loc["z2", "p10 final"] == pytest.approx(100 * 0.62)
    assert np.isnan(row.loc["z2", "p10 final std"])  # one seed: no std
    assert row.loc["sig", "paper CIFAR-10+[1] avg"] == 41.78
    assert row.loc["abs", "paper CIFAR-10+[5] final"] == 55.41
    assert row.loc["z2", "paper CIFAR-10+[10] final"] == 70.53
    prov = {"code_version": "0.1.0+git.abc", "config_sha256": "f" * 64}
    md = tables.table_markdown(table, "table2", datasets, "Table 2", prov)
    assert "| z2 | z² | 55.00% [54.77%] | 60.00% [70.71%] |" in md  # ours, [the paper's]
    assert "| abs | \\|z\\| |" in md  # a pipe inside a cell is escaped
    assert "0.1.0+git.abc" in md and "f" * 12 in md
    tex = tables.table_latex(table, "table2", datasets, "Table 2", prov)
    assert "\\begin{tabular}" in tex and "$^2$" in tex and "55.00\\%" in tex
    html = tables.table_html(table, "table2", datasets, "Table 2", prov)
    assert "<table>" in html and "sigmoid(z)" in html


def test_method_table_names_missing_runs():
    acc = {("p1", "z2", 0): [0.5, 0.6]}
    with pytest.raises(Exception, match=r"\('p1', 'abs'\)"):
        tables.method_table(
            rounds_table(acc), "table2", ["p1"], ["abs", "z2"], {"abs": {}, "z2": {}}
        )


# ----------------------------------------------------------------------------- figure data
def test_learning_curves_and_trials():
    acc = {
        ("a", "random", 0): [0.1, 0.2],
        ("a", "random", 1): [0.3, 0.4],
        ("b", "random", 0): [0.5, 0.9],
        ("a", "vabal", 0): [0.2, 0.6],
        ("a", "vabal", 1): [0.4, 0.8],
    }
    rounds = rounds_table(acc)
    curves = analysis.curve_panels(rounds, [("t", ["a", "b"], ["vabal", "random"])])
    assert curves["method"].tolist() == ["vabal", "vabal", "random", "random"]  # config order
    r1 = curves[(curves["method"] == "random") & (curves["round"] == 1)].iloc[0]
    assert r1["accuracy_mean"] == pytest.approx(0.5)
    assert r1["accuracy_std"] == pytest.approx(np.std([0.2, 0.4, 0.9], ddof=1))
    assert (r1["accuracy_min"], r1["accuracy_max"], r1["runs"]) == (0.2, 0.9, 3)
    trials = analysis.trials(rounds, "a", ["random", "vabal"], "vabal")
    assert trials["panel_index"].nunique() == 2  # one panel per VaB-AL seed
    own = trials[(trials["method"] == "vabal") & (trials["panel_index"] == 1)]
    assert own["accuracy_mean"].tolist() == [0.4, 0.8] and (own["seed"] == 1).all()
    comp = trials[(trials["method"] == "random") & (trials["panel_index"] == 0)]
    assert comp["accuracy_mean"].tolist() == pytest.approx([0.2, 0.3])
    assert comp["accuracy_max"].tolist() == pytest.approx([0.3, 0.4])


def test_budget_and_lambda_summaries():
    acc = {
        ("b20", "random", 0): [0.1, 0.3],
        ("b40", "random", 0): [0.2, 0.6],
        ("b40", "v1", 0): [0.4, 0.8],
        ("b40", "v2", 0): [0.2, 0.2],
    }
    rounds = rounds_table(acc)
    budget = analysis.budget_summary(rounds, {"b20": 20, "b40": 40}, ["random"])
    assert budget["budget"].tolist() == [20, 40]
    assert budget["avg_mean"].tolist() == pytest.approx([0.2, 0.4])
    assert budget["final_mean"].tolist() == pytest.approx([0.3, 0.6])
    lam = analysis.lambda_summary(rounds, ["b40"], {"v1": 0.005, "v2": 0.05}, ["random"])
    by = lam.set_index("method")
    assert by.loc["v1", "lambda"] == 0.005 and np.isnan(by.loc["random", "lambda"])
    assert by.loc["v1", "avg_mean"] == pytest.approx(0.6)
    assert by.loc["random", "role"] == "competitor"


def test_paired_differences_and_selection_shares_by_hand():
    acc = {
        ("d", "random", 0): [0.20, 0.30],
        ("d", "random", 1): [0.10, 0.40],
        ("d", "vabal", 0): [0.20, 0.50],
        ("d", "vabal", 1): [0.10, 0.30],
        ("d", "vabal", 2): [0.90, 0.90],  # no random run of seed 2: left out of the pairs
    }
    diff = analysis.paired_differences(rounds_table(acc), "d", ["vabal"], "random").iloc[0]
    assert diff["seeds"] == 2
    # avg: vabal 0.35, 0.20 vs random 0.25, 0.25 -> +0.10, -0.05; final: +0.20, -0.10
    assert diff["d_avg_mean"] == pytest.approx(0.025) and diff["avg_ahead"] == 1
    assert diff["d_avg_std"] == pytest.approx(np.std([0.10, -0.05], ddof=1))
    assert (diff["d_final_min"], diff["d_final_max"]) == pytest.approx((-0.10, 0.20))
    assert diff["final_mean"] == pytest.approx(0.40)
    frame = rounds_table({("d", "m", 0): [0.1, 0.2, 0.3]}, n_classes=3, budget=10)
    # labelled per class: [8, 1, 1], [16, 2, 2], [24, 3, 3]: each selection adds 8, 1, 1
    shares = analysis.selection_shares(frame, "d", ["m"], [0])
    assert shares["round"].tolist() == [0, 1] and shares["share"].tolist() == [0.8, 0.8]
    assert analysis.selection_shares(frame, "d", ["m"], [1, 2])["share"].tolist() == [0.2, 0.2]


def test_class_roles():
    assert class_roles(None, 10) == ([], [])
    assert class_roles("+[1]", 4) == ([0], [1, 2, 3])
    assert class_roles("-[3]", 4) == ([0, 1, 3], [2])
    dominant, rare = class_roles("+[45:55]", 100)
    assert dominant == list(range(44, 55)) and len(rare) == 89


def test_rare_ratio_and_class_scatter():
    rounds = rounds_table({("p", "random", 0): [0.5, 0.6], ("p", "random", 1): [0.7, 0.8]})
    ratio = analysis.rare_ratio(rounds, {"p": "+[1]"}, ["random"])
    # labelled_per_class of round r: [10(r+1) - 2(r+1), r+1, r+1]; rare = classes 2, 3
    assert ratio["rare_ratio_mean"].tolist() == pytest.approx([2 / 10, 4 / 20])
    assert ratio["rare_classes"].iloc[0] == "2,3"
    with pytest.raises(Exception, match="no rare classes"):
        analysis.rare_ratio(rounds, {"p": None}, ["random"])
    scatter = analysis.class_scatter(rounds, "p", ["random"])
    assert len(scatter) == 3 and (scatter["round"] == 1).all()
    assert scatter["accuracy"].tolist() == pytest.approx([0.7] * 3)
    assert scatter["labelled"].tolist() == pytest.approx([16, 2, 2])


# ----------------------------------------------------------------------------- config
def paper_config() -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["sources"]["cifar100"]["path"] = str(REPO / "config.yaml")  # checked in startup only
    return cfg.validate(config)


def test_schema_names_every_target():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    assert list(catalogue.TARGETS)[:3] == ["fig3a", "fig3b", "fig3c"]  # the paper's order
    assert set(catalogue.PAPER_TITLES) == set(catalogue.TARGETS)
    for name, kind in catalogue.TARGETS.items():
        assert schema["$defs"][kind]["additionalProperties"] is False, kind
        assert (REPO / "workflow/report" / f"{name}.rst").exists(), name


@pytest.mark.parametrize("path", ["config.yaml", "configs/quickstart.yaml"])
def test_configs_draw_every_target(path):
    """Every target but strength, which compares a protocol with another's stored summary
    (configs/cpu.yaml: v2 beside v1)."""
    config = cfg.validate(yaml.safe_load((REPO / path).read_text()))
    every = [t for t in catalogue.TARGETS if t != "strength"]
    assert catalogue.configured(config) == every
    assert targets.requested(config) == every
    kinds = {config["methods"][m]["kind"] for m in config["methods"]}
    assert kinds == set(REGISTRY)  # the paper's methods and today's


def test_claims_overlay_reuses_the_v2_runs():
    """configs/cpu-claims.yaml over configs/cpu.yaml: its shares reuse v2's runs (Table 2's
    z^2 row is Table 1's VaB-AL; Fig. 11's lambda 0.005 is the main share's VaB-AL) and its
    lambda sweep starts from the main share's round 0 (the same classifier recipe)."""
    from vabal.cli import _load

    config = cfg.validate(
        _load([str(REPO / "configs/cpu.yaml"), str(REPO / "configs/cpu-claims.yaml")])
    )
    assert set(targets.requested(config)) >= {"table1", "table2", "fig4b", "fig7b", "fig8", "fig11"}
    assert ("cifar10_plus1_val", "vabal", 0) in set(targets.target_runs(config, "table2"))
    assert ("cifar10_plus1", "vabal", 2) in set(targets.target_runs(config, "fig11"))
    recipe = {m: cfg.recipe_id(cfg.training_recipe(config, "cifar10_plus1", m))
              for m in ("random", "vabal", "vabal_lambda0", "vabal_lambda5e-2")}  # fmt: skip
    assert len(set(recipe.values())) == 1
    assert (
        cfg.training_recipe(config, "cifar10_plus1_resnet34", "vabal")["classifier"] == "resnet34"
    )
    assert config["publish"] != "docs/results/v2"  # its own rounds table


def test_paper_grid_runs_and_sharing():
    config = paper_config()
    runs = list(grid.runs(config))
    # the paper's 255, then today's 5 methods on 4 datasets x 3 seeds (the leaderboard)
    assert len(runs) == len(set(runs)) == 255 + 60
    # Table 1's full method on CIFAR-10+[1] is Table 2's z^2 row: one run, two tables
    shared = set(targets.target_runs(config, "table1")) & set(targets.target_runs(config, "table2"))
    assert shared == {("cifar10_plus1_val", "vabal", s) for s in (0, 1, 2)}
    # Fig. 7(b)/11 reuse the competitors and VaB-AL of Fig. 3(b) on CIFAR-10+[1]
    assert ("cifar10_plus1", "vabal", 0) in set(targets.target_runs(config, "fig11"))
    spec = targets.target_spec(config, "fig11")
    assert spec["lambdas"] == {
        "vabal_lambda0": 0,
        "vabal_lambda1e-3": 0.001,
        "vabal": 0.005,
        "vabal_lambda1e-2": 0.01,
        "vabal_lambda5e-2": 0.05,
    }
    assert targets.target_spec(config, "fig7a")["budgets"] == {
        "cifar10_plus1_b250": 250,
        "cifar10_plus1": 500,
        "cifar10_plus1_b1000": 1000,
    }
    assert cfg.training_recipe(config, "cifar10_plus1_resnet34")["classifier"] == "resnet34"
    assert cfg.training_recipe(config, "cifar10_plus1")["classifier"] == "resnet18"
    assert targets.target_spec(config, "table1")["evaluated_on"] == {
        "cifar10_val": "val",
        "cifar10_plus1_val": "val",
    }
    # Fig. 5 needs one run per method (its seed), not every seed
    assert targets.target_runs(config, "fig5") == [
        ("cifar10_plus1", m, 0) for m in ("bald", "coreset", "vabal")
    ]


def test_filters_request_only_fully_selected_targets():
    config = paper_config()
    config["only_datasets"] = ["neu"]
    assert targets.requested(config) == ["fig3a", "fig14"]
    config["only_seeds"] = [0]
    assert targets.requested(config) == []
    del config["only_datasets"], config["only_seeds"]
    config["skip_datasets"] = ["cifar100", "cifar100_plus45-55"]
    left = set(catalogue.configured(config)) - set(targets.requested(config))
    # the leaderboard and the summary count CIFAR-100+[45:55] too
    assert left == {"fig3c", "fig4c", "fig18", "fig23", "leaderboard", "summary"}
    assert all(d not in ("cifar100", "cifar100_plus45-55") for d, _, _ in grid.runs(config))
    config["skip_datasets"], config["only_methods"] = [], ["bald", "coreset", "vabal"]
    assert "fig5" in targets.requested(config) and "fig3a" not in targets.requested(config)


def test_method_labels():
    config = paper_config()
    assert catalogue.method_label(config, "vabal") == "VaB-AL"
    assert catalogue.method_label(config, "vabal_lambda0") == "VaB-AL (λ=0)"
    assert catalogue.method_label(config, "vabal_no_prior_no_difficulty") == (
        "VaB-AL (no prior, no difficulty)"
    )
    assert catalogue.method_label(config, "vabal_abs") == "VaB-AL (|z|)"
    assert catalogue.method_label(config, "bald") == "MC-Dropout (BALD)"
    config["methods"]["vabal_literal"] = {"kind": "vabal", "reading": "literal"}
    assert catalogue.method_label(config, "vabal_literal") == "VaB-AL (literal Eq. 6)"
    config["methods"]["vabal_std"] = {"kind": "vabal", "reading": "standardised"}
    assert catalogue.method_label(config, "vabal_std") == "VaB-AL"  # the default


def tiny(**figures) -> dict:
    config = copy.deepcopy(TINY_CONFIG)
    config["methods"]["vabal"] = {"kind": "vabal"}
    config["figures"] = figures
    return config


BAD_TARGETS = [
    (
        {"curve": {"datasets": ["digits_plus1"], "methods": ["random"]}},
        "config error at figures: unknown key 'curve' (allowed: fig3a, fig3b",
    ),
    ({"fig3a": {"datasets": ["digits_plus1"]}}, "figures.fig3a: methods is missing"),
    (
        {"fig3a": {"datasets": ["digits_plus1"], "methods": ["random"], "sweep": ["vabal"]}},
        "figures.fig3a: unknown key 'sweep' (allowed: datasets, methods, title)",
    ),
    (
        {"fig3a": {"datasets": ["digits_plus1"], "methods": ["random", "vabal"]}},
        "no entry of runs computes dataset 'digits_plus1' with method 'vabal'",
    ),
    (
        {"fig14": {"datasets": ["digits_plus1"], "methods": ["random"]}},
        "figures.fig14: no VaB-AL method among its methods",
    ),
    (
        {"fig5": {"datasets": ["digits_plus1"], "methods": ["random"], "seed": 3}},
        "figures.fig5.seed: runs compute 'digits_plus1' with 'random' for seeds [0], not 3",
    ),
    (
        {"fig5": {"datasets": ["digits_plus1"], "methods": ["random"], "round": 2}},
        "figures.fig5.round: 2 is not one of the rounds with a selection",
    ),
    (
        {"fig7b": {"datasets": ["digits_plus1"], "methods": ["random"], "sweep": ["random"]}},
        "figures.fig7b.sweep: 'random' is a random method",
    ),
    (
        {"fig12": {"datasets": ["digits_plus1"], "methods": ["nope"]}},
        "figures.fig12.methods: unknown name 'nope'",
    ),
    (
        {"fig15": {"datasets": ["digits_plus1", "digits_plus1"], "methods": ["random"]}},
        "figures.fig15.datasets: a trials target shows one dataset, got 2",
    ),
    (
        {"vabal_diagnostics": {"datasets": ["digits_plus1"], "methods": ["random"]}},
        "figures.vabal_diagnostics.methods: 'random' is a random method",
    ),
    (
        {"vabal_diagnostics": {"datasets": ["digits_plus1"]}},
        "figures.vabal_diagnostics: no entry of runs computes a VaB-AL method on digits_plus1",
    ),
]


@pytest.mark.parametrize(("figures", "needle"), BAD_TARGETS, ids=[n[:40] for _, n in BAD_TARGETS])
def test_bad_target_names_the_key(figures, needle):
    config = tiny(**figures)
    config["runs"] = [{"datasets": ["digits_plus1"], "methods": ["random"]}]
    with pytest.raises(ConfigError) as err:
        cfg.validate(config)
    assert needle in str(err.value)


def test_bad_table_and_rare_ratio():
    config = tiny()
    config["datasets"]["digits"] = {"source": "digits", "budget": 20, "rounds": 2}
    config["tables"] = {"table1": {"datasets": ["digits_plus1"], "methods": ["random"]}}
    with pytest.raises(ConfigError, match=r"tables\.table1\.methods: 'random' is a random"):
        cfg.validate(copy.deepcopy(config))
    config["tables"] = {}
    config["figures"] = {"fig9": {"datasets": ["digits"], "methods": ["random"]}}
    with pytest.raises(ConfigError, match=r"figures\.fig9\.datasets: dataset 'digits' has no rare"):
        cfg.validate(config)


def test_unconfigured_target_is_a_clear_error():
    config = cfg.validate(tiny(fig3a={"datasets": ["digits_plus1"], "methods": ["random"]}))
    with pytest.raises(ConfigError, match="figures.fig9: target fig9 is not configured"):
        targets.inputs(config, "fig9")


def test_describe_matches_docs():
    """docs/figures.md holds the table `vabal targets config.yaml` prints."""
    doc = (REPO / "docs/figures.md").read_text()
    assert targets.describe(paper_config()) in doc


# ----------------------------------------------------------------------------- provenance
def test_provenance_stamp():
    config = cfg.validate(copy.deepcopy(TINY_CONFIG))
    stamp = provenance.stamp(config)
    assert stamp["code_version"].startswith("0.1.0")
    assert len(stamp["config_sha256"]) == 64
    # filters and the results folder do not change the hash; a setting does
    same = dict(config, only_seeds=[0], skip_datasets=[], results="elsewhere")
    assert provenance.config_sha256(same) == stamp["config_sha256"]
    other = copy.deepcopy(config)
    other["datasets"]["digits_plus1"]["budget"] = 21
    assert provenance.config_sha256(other) != stamp["config_sha256"]
    frame = provenance.add_columns(pd.DataFrame({"a": [1, 2]}), stamp)
    assert frame["config_sha256"].tolist() == [stamp["config_sha256"]] * 2


def test_rounds_table_schema_lists_provenance(tmp_path):
    from vabal import io

    frame = rounds_table({("a", "random", 0): [0.1, 0.2]})
    io.write_parquet(tmp_path / "plain.parquet", frame)
    io.read_table(tmp_path / "plain.parquet", "rounds")  # optional columns may be absent
    stamped = provenance.add_columns(frame, {"code_version": "v", "config_sha256": "h"})
    io.write_parquet(tmp_path / "stamped.parquet", stamped)
    assert io.read_table(tmp_path / "stamped.parquet", "rounds")["code_version"].eq("v").all()
    spec = io.table_schema("rounds")["columns"]
    assert spec["code_version"]["optional"] and spec["config_sha256"]["optional"]


def test_diagnostics_target_draws_every_scored_vabal_round(tmp_path):
    """Its inputs are the score diagnostics of every round but the last of each VaB-AL run
    of its datasets (not the other methods' runs); the data drawn are those numbers."""
    from vabal import io
    from vabal.report import plots

    config = tiny(vabal_diagnostics={"datasets": ["digits_plus1"]})
    config["methods"]["vabal_literal"] = {"kind": "vabal", "reading": "literal"}
    config["seeds"] = [0, 1]
    config["runs"] = [
        {"datasets": ["digits_plus1"], "methods": ["random", "vabal", "vabal_literal"]}
    ]
    config = cfg.validate(config)
    keys = targets.scored_rounds(config, "vabal_diagnostics")
    assert keys == [
        ("digits_plus1", m, s, r)
        for m in ("vabal", "vabal_literal")
        for s in (0, 1)
        for r in (0, 1)
    ]
    files = targets.inputs(config, "vabal_diagnostics")["diagnostics"]
    assert files[0] == "results/runs/digits_plus1/vabal/seed0/round0/score_diagnostics.json"
    spec = targets.target_spec(config, "vabal_diagnostics")
    assert spec["methods"] == ["vabal", "vabal_literal"] and spec["keys"] == [list(k) for k in keys]
    paths = []
    for i, (_, m, _, r) in enumerate(keys):
        literal = m == "vabal_literal"
        diag = {
            "params": {"reading": "literal" if literal else "standardised"},
            "terms": {
                "log_likelihood": {"std": 30.0 if literal else 1.0},
                "log_prior": {"std": 0.7},
                "log_difficulty": {"std": 0.6},
            },
            "selection_change": {
                "budget": 20,
                "prior_off": 0.0 if literal else 0.25,
                "difficulty_off": 0.05 * r,
            },
            "collapse": {"active_units": 20 + i, "latent_dim": 100, "recon_r2": 0.5},
            "vae_classifier_agreement": 0.8,
        }
        paths.append(tmp_path / f"{i}.json")
        io.write_json(paths[-1], diag)
    data = plots.vabal_diagnostics(spec, paths, tmp_path / "d.png", tmp_path / "d.csv")
    assert (tmp_path / "d.png").stat().st_size > 0
    assert len(data) == 8 and set(data["reading"]) == {"literal", "standardised"}
    lit = data[data["method"] == "vabal_literal"]
    assert (lit["std_log_likelihood"] == 30).all() and (lit["changed_prior_off"] == 0).all()
    assert data["active_units"].tolist() == [(20 + i) / 100 for i in range(8)]
    assert data.loc[data["round"] == 1, "changed_difficulty_off"].tolist() == [0.05] * 4
    written = pd.read_csv(tmp_path / "d.csv")
    assert list(written["changed_prior_off"]) == list(data["changed_prior_off"])
