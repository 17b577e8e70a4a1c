"""Split index files: roles, initial set, seeds, budget checks."""

import numpy as np
import pandas as pd
import pytest

from vabal.data.splits import ROLES, expected_pool_size, make_split
from vabal.errors import ConfigError


def samples(per_class=100, classes=5, test_per_class=20):
    labels = np.repeat(np.arange(classes), per_class + test_per_class)
    split = np.tile(["train"] * per_class + ["test"] * test_per_class, classes)
    return pd.DataFrame(
        {"sample_id": np.arange(len(labels)), "label": labels, "source_split": split}
    )


DS = {"budget": 10, "rounds": 3, "imbalance": "+[2]", "val_fraction": 0.1}


def test_roles_disjoint_and_counts():
    table = make_split(samples(), 5, DS, seed=0)
    assert set(table["role"].astype(str)) <= set(ROLES)
    counts = table.groupby(["role", "label"], observed=True).size().unstack(fill_value=0)
    # +[2]: the 2nd class (label 1) is dominant: 100 kept; others 10; 10 % of kept go to val
    assert counts.loc["val"].tolist() == [1, 10, 1, 1, 1]
    assert counts.loc["pool"].tolist() == [9, 90, 9, 9, 9]
    assert counts.loc["test"].tolist() == [20] * 5
    assert counts.loc["removed"].tolist() == [90, 0, 90, 90, 90]
    assert table["initial"].sum() == 10
    assert (table.loc[table["initial"], "role"] == "pool").all()
    assert expected_pool_size([100] * 5, 5, DS, "x") == (table["role"] == "pool").sum()


def test_same_seed_same_split_other_seed_other_initial_same_dataset():
    a, b, c = (make_split(samples(), 5, DS, seed=s) for s in (0, 0, 1))
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a["initial"], c["initial"])
    # the imbalanced dataset itself does not change with the run seed
    assert np.array_equal(a["role"], c["role"])


def test_budget_larger_than_pool_fails_with_numbers():
    ds = {**DS, "budget": 30, "rounds": 5}
    with pytest.raises(ConfigError, match=r"labels 150 samples .* pool holds only 126"):
        make_split(samples(), 5, ds, seed=0, name="tiny")


def test_bad_class_index_in_variant():
    with pytest.raises(ConfigError, match="class index 9 is out of range"):
        make_split(samples(), 5, {**DS, "imbalance": "-[9]"}, seed=0)
