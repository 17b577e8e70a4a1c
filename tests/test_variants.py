"""Imbalance variants: parsing, exact counts, seeded draws."""

import numpy as np
import pytest

from vabal.data.variants import apply_keep, kept_counts, parse_imbalance
from vabal.errors import ConfigError

CIFAR10 = [5000] * 10


@pytest.mark.parametrize(
    ("spec", "total", "first"),
    [
        ("+[1]", 5000 + 9 * 500, 5000),
        ("-[1]", 500 + 9 * 5000, 500),
        ("+[5]", 5000 + 9 * 500, 500),
        ("\u2212[10]", 45500, 5000),  # the paper's minus sign
        (None, 50000, 5000),
    ],
)
def test_cifar10_variant_counts(spec, total, first):
    counts = kept_counts(CIFAR10, parse_imbalance(spec, 10))
    assert sum(counts) == total
    assert counts[0] == first


def test_range_inclusive_and_exclusive():
    keep = parse_imbalance("+[45:55]", 100)
    counts = kept_counts([500] * 100, keep)
    assert counts[44:55] == [500] * 11 and counts[43] == 300 and counts[55] == 300
    assert sum(counts) == 11 * 500 + 89 * 300
    exclusive = kept_counts(
        [500] * 100, parse_imbalance({"spec": "+[45:55]", "inclusive": False}, 100)
    )
    assert exclusive[54] == 300 and exclusive[44] == 500 and sum(exclusive) == 10 * 500 + 90 * 300


def test_general_keep_forms_and_custom_remove():
    assert parse_imbalance({"keep": {1: 1.0, "default": 0.1}}, 3).tolist() == [1.0, 0.1, 0.1]
    assert parse_imbalance({"keep": [0.5, 1, 0]}, 3).tolist() == [0.5, 1.0, 0.0]
    assert parse_imbalance({"spec": "+[2]", "remove": 0.5}, 3).tolist() == [0.5, 1.0, 0.5]
    # the sugar is exactly the general form
    sugar = parse_imbalance("-[3]", 4)
    assert sugar.tolist() == parse_imbalance({"keep": {3: 0.1}}, 4).tolist()


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("+[0]", "out of range"),
        ("+[11]", "out of range"),
        ("-[2:3]", "only defined for dominant"),
        ("*[1]", "cannot read"),
        ({"keep": [1, 1]}, "2 fractions for 10 classes"),
        ({"keep": {"x": 1}}, "not an integer"),
        ({"keep": {1: 1.5}}, "fraction in [0, 1]"),
        ({"spec": "+[1]", "remove": 2}, "fraction in [0, 1]"),
        ({"bogus": 1}, "unknown key"),
        ("+[5:3]", "empty class range"),
    ],
)
def test_bad_specs_name_the_problem(spec, needle):
    with pytest.raises(ConfigError, match="imbalance") as err:
        parse_imbalance(spec, 10)
    assert needle in str(err.value)


def test_apply_keep_is_exact_and_seeded():
    labels = np.repeat(np.arange(10), 100)
    keep = parse_imbalance("+[3]", 10)
    a = apply_keep(labels, keep, np.random.default_rng(1))
    b = apply_keep(labels, keep, np.random.default_rng(1))
    c = apply_keep(labels, keep, np.random.default_rng(2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.bincount(labels[a]).tolist() == [10, 10, 100, 10, 10, 10, 10, 10, 10, 10]
