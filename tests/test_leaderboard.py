"""Label efficiency (AUBC), paired comparisons with reference methods and the leaderboard's
table and figure, on hand-computed cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from vabal.errors import DataError
from vabal.report import leaderboard as lb

LABELS = [100, 200, 400]


def rounds_frame(curves: dict, labels=LABELS) -> pd.DataFrame:
    """A rounds frame from {(dataset, method, seed): [accuracy per round]}."""
    rows = []
    for (d, m, s), accs in curves.items():
        for r, a in enumerate(accs):
            rows.append(
                {
                    "dataset": d,
                    "method": m,
                    "seed": s,
                    "round": r,
                    "n_labelled": labels[r],
                    "accuracy": a,
                }
            )
    return pd.DataFrame(rows)


def flat(d, m, seeds_values: dict) -> dict:
    """Flat curves: each seed's accuracy the same in every round, so its AUBC is that value."""
    return {(d, m, s): [v] * len(LABELS) for s, v in seeds_values.items()}


# ----------------------------------------------------------------------------- aubc
def test_aubc_trapezoid_on_uneven_steps():
    # (100 * (0.5 + 0.7) / 2 + 200 * (0.7 + 0.8) / 2) / 300 = (60 + 150) / 300
    assert lb.aubc([100, 200, 400], [0.5, 0.7, 0.8]) == pytest.approx(0.7)
    # unsorted input is sorted by labels first
    assert lb.aubc([400, 100, 200], [0.8, 0.5, 0.7]) == pytest.approx(0.7)
    # differs from the plain mean over rounds (0.6667): each step weighted by its labels
    assert lb.aubc([10, 20, 50], [0.2, 0.4, 1.0]) == pytest.approx((3.0 + 21.0) / 40)


def test_aubc_flat_curve_and_single_point():
    assert lb.aubc([10, 30, 35, 100], [0.42] * 4) == pytest.approx(0.42)
    assert lb.aubc([50], [0.3]) == pytest.approx(0.3)
    assert lb.aubc([50, 50], [0.2, 0.4]) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        lb.aubc([1, 2], [0.5])


def test_run_scores_per_run():
    rounds = rounds_frame(
        {("c10", "random", 0): [0.5, 0.7, 0.8], ("c10", "random", 1): [0.6, 0.6, 0.9]}
    )
    runs = lb.run_scores(rounds.sample(frac=1.0, random_state=0))
    assert list(runs["seed"]) == [0, 1]
    assert runs["aubc"].tolist() == pytest.approx([0.7, (60 + 150) / 300])
    assert runs["final"].tolist() == pytest.approx([0.8, 0.9])
    assert runs["rounds"].tolist() == [3, 3]
    assert runs["n_labelled_min"].tolist() == [100, 100]
    assert runs["n_labelled_max"].tolist() == [400, 400]


# ----------------------------------------------------------------------------- statistics
def test_paired_t_by_hand_three_seeds():
    # d = (0.01, 0.03, 0.02): mean 0.02, sd 0.01, t = 0.02 / (0.01 / sqrt 3) = 2 sqrt 3.
    # Student t with 2 dof: F(t) = 1/2 + t / (2 sqrt(2 + t^2)), so the two-sided p is
    # 1 - t / sqrt(2 + t^2) = 1 - sqrt(12 / 14), and the 97.5 % quantile q solves
    # q / sqrt(2 + q^2) = 0.95: q^2 = 2 * 0.9025 / 0.0975.
    res = lb.paired_test([0.01, 0.03, 0.02])
    q = math.sqrt(2 * 0.9025 / 0.0975)
    half = q * 0.01 / math.sqrt(3)
    assert res["seeds"] == 3
    assert res["mean"] == pytest.approx(0.02)
    assert res["t"] == pytest.approx(2 * math.sqrt(3))
    assert res["p"] == pytest.approx(1 - math.sqrt(12 / 14))
    assert res["ci_low"] == pytest.approx(0.02 - half)
    assert res["ci_high"] == pytest.approx(0.02 + half)
    assert res["ci_low"] < res["mean"] < res["ci_high"]
    assert res["ahead"] == 3
    # p < 0.05 exactly when the 95 % interval excludes 0
    assert (res["p"] < 0.05) == (res["ci_low"] > 0)


def test_paired_test_small_and_degenerate_cases():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = lb.paired_test([0.04])
        none = lb.paired_test([])
        zero = lb.paired_test([0.0, 0.0, 0.0])
        const = lb.paired_test([0.01, 0.01])
        mixed = lb.paired_test([0.02, -0.01])
    assert one["mean"] == pytest.approx(0.04) and one["ahead"] == 1
    assert all(math.isnan(one[k]) for k in ("ci_low", "ci_high", "t", "p"))
    assert none["seeds"] == 0 and math.isnan(none["mean"])
    assert zero["p"] == 1.0 and zero["ci_low"] == zero["ci_high"] == 0.0 and zero["ahead"] == 0
    assert math.isnan(const["p"]) and const["ci_low"] == pytest.approx(0.01)
    # two pairs, d = (0.02, -0.01): mean 0.005, sd 0.015 sqrt 2, t = 1/3 with 1 dof:
    # p = 1 - (2 / pi) atan(1/3)
    assert mixed["p"] == pytest.approx(1 - 2 / math.pi * math.atan(1 / 3))
    assert mixed["ahead"] == 1


def test_mean_interval_contains_mean_and_is_nan_for_one_seed():
    mean, low, high = lb.mean_interval([0.6, 0.7, 0.8])
    assert mean == pytest.approx(0.7) and low < mean < high
    mean, low, high = lb.mean_interval([0.6])
    assert mean == pytest.approx(0.6) and math.isnan(low) and math.isnan(high)


def test_paired_scores_use_common_seeds_only():
    rounds = rounds_frame(
        {
            **flat("c10", "random", {0: 0.50, 1: 0.60, 2: 0.70}),
            **flat("c10", "mine", {0: 0.55, 2: 0.65}),
        }
    )
    pairs = lb.paired_scores(lb.run_scores(rounds), "c10", ["mine"], "random")
    row = pairs.iloc[0]
    assert row["seeds"] == 2 and row["ahead"] == 1
    assert row["mean"] == pytest.approx(0.0)  # (+0.05 - 0.05) / 2


# ----------------------------------------------------------------------------- the board
def three_methods():
    return rounds_frame(
        {
            **flat("c10", "random", {0: 0.50, 1: 0.52, 2: 0.54}),
            **flat("c10", "vabal", {0: 0.60, 1: 0.64, 2: 0.62}),
            **flat("c10", "coreset", {0: 0.51, 1: 0.55, 2: 0.56}),
            **flat("c10p1", "random", {0: 0.30}),
            **flat("c10p1", "vabal", {0: 0.30}),
            **flat("c10p1", "coreset", {0: 0.40}),
        }
    )


def test_leaderboard_ranks_and_deltas():
    board = lb.leaderboard(three_methods(), ["c10", "c10p1"], ["coreset"], ["random", "vabal"])
    c10 = board[board["dataset"] == "c10"]
    assert list(c10["method"]) == ["vabal", "coreset", "random"]
    assert list(c10["rank"]) == [1, 2, 3]
    assert list(c10["reference"]) == [True, False, True]
    row = c10.set_index("method").loc["coreset"]
    assert row["aubc_mean"] == pytest.approx(0.54)
    assert row["aubc_std"] == pytest.approx(np.std([0.51, 0.55, 0.56], ddof=1))
    assert row["aubc_ci_low"] < row["aubc_mean"] < row["aubc_ci_high"]
    assert row["final_mean"] == pytest.approx(0.54)
    # vs random: d = (0.01, 0.03, 0.02), the hand-computed case above
    assert row["d_aubc_vs_random_mean"] == pytest.approx(0.02)
    assert row["d_aubc_vs_random_p"] == pytest.approx(1 - math.sqrt(12 / 14))
    assert row["d_aubc_vs_random_ahead"] == 3
    assert row["d_aubc_vs_vabal_ahead"] == 0 and row["d_aubc_vs_vabal_mean"] < 0
    # one seed: no interval; equal means share the better rank
    p1 = board[board["dataset"] == "c10p1"]
    assert list(p1["method"]) == ["coreset", "random", "vabal"]
    assert list(p1["rank"]) == [1, 2, 2]
    assert p1["aubc_ci_low"].isna().all() and p1["d_aubc_vs_random_p"].isna().all()


def test_missing_reference_is_one_clear_error():
    rounds = three_methods()
    rounds = rounds[~((rounds["dataset"] == "c10p1") & (rounds["method"] == "vabal"))]
    with pytest.raises(DataError, match=r"c10p1.*reference.*vabal"):
        lb.leaderboard(rounds, ["c10", "c10p1"], ["coreset"], ["random", "vabal"])


def test_write_leaderboard_files(tmp_path):
    spec = {
        "datasets": ["c10", "c10p1"],
        "methods": ["coreset", "random", "vabal"],
        "references": ["random", "vabal"],
        "labels": {"vabal": "VaB-AL", "random": "Random", "coreset": "Core-set"},
    }
    out = {k: tmp_path / f"board.{k}" for k in ("csv", "md", "html", "png")}
    out["data"] = tmp_path / "board_data.csv"
    out["runs"] = tmp_path / "runs.csv"
    prov = {"code_version": "0.1+git.abc", "config_sha256": "f" * 64}
    lb.write_leaderboard(three_methods(), spec, out, prov)
    csv = pd.read_csv(out["csv"])
    assert len(csv) == 6 and set(csv["code_version"]) == {"0.1+git.abc"}
    assert list(csv.loc[csv["dataset"] == "c10", "method"]) == ["vabal", "coreset", "random"]
    md = out["md"].read_text()
    table_rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(table_rows) == 2 * (1 + 3)  # per dataset a header and three methods
    assert "| 2 | Core-set | 54.00 ± 2.65 |" in md
    assert "Δ AUBC vs VaB-AL (pp)" in md and "reference" in md
    assert "n/a" in md and "ffffffffffff" in md
    html = out["html"].read_text()
    assert html.count("<tr>") == 8 and "Core-set" in html and "0.1+git.abc" in html
    assert out["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = pd.read_csv(out["data"])
    assert len(data) == 6 and {"label", "aubc_ci_low", "config_sha256"} <= set(data.columns)
    assert len(pd.read_csv(out["runs"])) == 3 * 3 + 3  # one row per run
    assert not list(tmp_path.glob(".*.tmp"))
