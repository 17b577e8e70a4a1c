"""The results layout: a round's identity read back from its paths."""

import pytest
from conftest import REPO

from vabal import layout
from vabal.errors import DataError


def test_a_round_path_gives_its_identity():
    path = "results/runs/cifar10_plus1/vabal_no_prior/seed2/round11/metrics.json"
    assert layout.parse_round(path) == {
        "dataset": "cifar10_plus1",
        "method": "vabal_no_prior",
        "seed": 2,
        "round": 11,
    }
    made = layout.round_path("selection.parquet", "/abs/results", dataset="d", method="m",
                             seed=0, round=3)  # fmt: skip
    assert made == "/abs/results/runs/d/m/seed0/round3/selection.parquet"
    assert layout.parse_round(made)["round"] == 3


def test_one_function_builds_patterns_paths_and_globs():
    """A rule's pattern, a planned file and a script's glob come from round_path alone."""
    assert (
        layout.round_path("vae.pt", "results/cpu")
        == "results/cpu/runs/{dataset}/{method}/seed{seed}/round{round}/vae.pt"
    )
    pattern = layout.round_path("score.log", "results/logs", round=0)
    assert pattern == "results/logs/runs/{dataset}/{method}/seed{seed}/round0/score.log"
    every = {"dataset": "*", "method": "*", "seed": "*", "round": "*"}
    assert layout.round_path("metrics.json", **every) == "runs/*/*/seed*/round*/metrics.json"
    shared = layout.round0_path("features.pt", "r", dataset="d", recipe="r0123456789", seed=1)
    assert shared == "r/round0/d/r0123456789/seed1/features.pt"
    assert layout.describe(shared) == "d / round 0 of recipe r0123456789 / seed 1"


@pytest.mark.parametrize(
    "path",
    [
        "runs/d/m/seedX/round0/metrics.json",  # not a number
        "xruns/d/m/seed0/round0/metrics.json",  # another folder
        "runs/d/m/seed0/metrics.json",  # no round
        "runs/d/m/seed0/round0",  # the folder, not a file in it
    ],
)
def test_other_paths_are_no_round(path):
    assert layout.parse_round(path) is None


def test_rounds_table_refuses_a_path_that_is_no_round_metrics(tmp_path):
    from vabal.report.tables import rounds_frame

    other = tmp_path / "runs/d/m/seed0/round0/selection.parquet"
    with pytest.raises(DataError, match="not a round metrics path"):
        rounds_frame([other])


#: the library's layers, in order: each imports only those before it and the shared modules
LAYERS = ("data", "learn", "methods", "plan", "report", "run")


def test_no_import_runs_back_up_the_layers():
    """Every ``from vabal.X`` / ``import vabal.X`` in the library (function-local ones too)
    names a layer before the importing module's, a shared module (io, errors, layout, ...),
    or, from cli.py on top, anything."""
    import re

    root = REPO / "src" / "vabal"
    pattern = re.compile(r"^\s*(?:from vabal\.(\w+)|import vabal\.(\w+))", re.M)
    wrong = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        mine = parts[0] if len(parts) > 1 else None  # None: a shared module or cli.py
        for match in pattern.finditer(path.read_text()):
            target = match.group(1) or match.group(2)
            if target not in LAYERS or target == mine or parts == ("cli.py",):
                continue
            if mine is None or LAYERS.index(target) > LAYERS.index(mine):
                wrong.append(f"{path.relative_to(root)} imports vabal.{target}")
    assert not wrong, wrong
    assert sorted(p.name for p in root.iterdir() if p.is_dir() and p.name in LAYERS) == sorted(
        LAYERS
    )
