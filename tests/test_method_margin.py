"""Margin and entropy sampling: hand-computed scores, and the score step on a fake round."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vabal import io
from vabal.errors import ConfigError
from vabal.methods.base import RoundContext
from vabal.methods.entropy import SPEC as ENTROPY_SPEC
from vabal.methods.entropy import method as entropy
from vabal.methods.margin import SPEC as MARGIN_SPEC
from vabal.methods.margin import method as margin

#: logits whose softmax is exact by hand: [0.6 0.2 0.2], [0.4 0.4 0.2], [1/3]*3, [0.8 0.1 0.1]
LOGITS = [
    [math.log(3), 0.0, 0.0],
    [math.log(2), math.log(2), 0.0],
    [0.0, 0.0, 0.0],
    [0.0, 0.0, math.log(8)],
]
MARGINS = [0.4, 0.0, 0.0, 0.7]
ENTROPIES = [
    -(0.6 * math.log(0.6) + 0.4 * math.log(0.2)),
    -(0.8 * math.log(0.4) + 0.2 * math.log(0.2)),
    math.log(3),
    -(0.8 * math.log(0.8) + 0.2 * math.log(0.1)),
]


def test_specs():
    assert MARGIN_SPEC.steps == ENTROPY_SPEC.steps == ("extract_features", "score")
    assert MARGIN_SPEC.params == ENTROPY_SPEC.params == {}
    assert MARGIN_SPEC.load() is margin.Margin and ENTROPY_SPEC.load() is entropy.Entropy


@pytest.mark.parametrize("cls", [lambda p: margin.Margin(p), lambda p: entropy.Entropy(p)])
def test_unknown_parameters_are_rejected(cls):
    cls({})
    with pytest.raises(ConfigError, match="unknown parameter"):
        cls({"chunk_size": 4})


def test_margin_is_the_gap_between_the_two_largest_probabilities():
    probs = torch.tensor([[0.2, 0.5, 0.3], [0.4, 0.2, 0.4], [0.0, 0.0, 1.0], [0.1, 0.9, 0.0]])
    got = margin.margin(probs.double())
    assert torch.allclose(got, torch.tensor([0.2, 0.0, 1.0, 0.8], dtype=torch.float64))
    assert torch.equal(margin.margin_scores(probs.double()), -got)
    with pytest.raises(ValueError, match="C >= 2"):
        margin.margin(torch.ones(3, 1))


def test_entropy_in_nats_with_zero_log_zero():
    probs = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.25] * 4])
    got = entropy.entropy_scores(probs.double())
    expected = torch.tensor([0.0, math.log(2), math.log(4)], dtype=torch.float64)
    assert torch.allclose(got, expected, atol=1e-12) and not got.isnan().any()
    with pytest.raises(ValueError, match="shape"):
        entropy.entropy_scores(torch.ones(3))


def _round(tmp_path, logits_unl):
    """A round whose features.pt gives the unlabelled samples 4, 1, 7, 2 the given logits."""
    labelled, unlabelled = np.array([0, 3, 5, 6]), np.array([1, 2, 4, 7])
    ids = np.concatenate([labelled, [4, 1, 7, 2]])  # file rows in another order than the ids
    logits = torch.cat([torch.full((4, 3), 5.0), torch.tensor(logits_unl)]).float()
    path = tmp_path / "features.pt"
    feats = torch.zeros(len(ids), 2, dtype=torch.float16)
    io.save_torch(
        path,
        {
            "sample_id": torch.from_numpy(ids),
            "labelled": torch.from_numpy(np.isin(ids, labelled)),
            "taps": [feats] * 4,
            "logits": logits,
            "pred": logits.argmax(1),
        },
    )
    return RoundContext(
        store=None,
        split=None,
        labelled=labelled,
        unlabelled=unlabelled,
        seed=0,
        round=1,
        recipe={"device": "cpu"},
        files={"extract_features": path},
    )


def by_id(values):
    """The hand values (given for samples 4, 1, 7, 2) in the order of ctx.unlabelled."""
    return np.array(values)[[1, 3, 0, 2]]  # ids 1, 2, 4, 7


def test_margin_score_and_select_on_a_round(tmp_path):
    ctx = _round(tmp_path, LOGITS)
    method = margin.Margin({})
    scores, diagnostics = method.score(ctx)
    assert scores.dtype == np.float64
    np.testing.assert_allclose(scores, -by_id(MARGINS), atol=1e-6)
    assert diagnostics["mean_max_prob"] == pytest.approx((0.6 + 0.4 + 1 / 3 + 0.8) / 4, abs=1e-6)
    # the two zero margins (samples 1 and 7) come first, in a seeded order
    chosen = method.select(ctx, 3, scores)
    assert set(chosen[:2].tolist()) == {1, 7} and chosen[2] == 4
    assert np.array_equal(chosen, method.select(ctx, 3, scores))


def test_entropy_score_and_select_on_a_round(tmp_path):
    ctx = _round(tmp_path, LOGITS)
    method = entropy.Entropy({})
    scores, _ = method.score(ctx)
    np.testing.assert_allclose(scores, by_id(ENTROPIES), atol=1e-6)
    # entropies: ln 3 (7) > 1.055 (1) > 0.950 (4) > 0.639 (2)
    assert method.select(ctx, 3, scores).tolist() == [7, 1, 4]
