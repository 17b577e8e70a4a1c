"""The results layout: a round's identity read back from its paths."""

import pytest

from vabal.errors import DataError
from vabal.plan import layout


def test_a_round_path_gives_its_identity():
    path = "results/runs/cifar10_plus1/vabal_no_prior/seed2/round11/metrics.json"
    assert layout.parse_round(path) == {
        "dataset": "cifar10_plus1",
        "method": "vabal_no_prior",
        "seed": 2,
        "round": 11,
    }
    made = layout.ROUND.format(dataset="d", method="m", seed=0, round=3) + "/selection.parquet"
    assert layout.parse_round(f"/abs/results/{made}")["round"] == 3


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
