"""BASE (balanced selection): boundary distances by hand, the round-robin, and ``select``."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import features_round

from vabal.errors import ConfigError
from vabal.methods.balanced import SPEC
from vabal.methods.balanced import method as base


def test_spec_and_parameters():
    assert SPEC.steps == ("extract_features",) and SPEC.params == {"chunk_size": 4096}
    assert SPEC.load() is base.Balanced
    assert base.Balanced({}).params == {"chunk_size": 4096}
    for bad in ({"chunk_size": 0}, {"chunk_size": 1.5}, {"budget_share": 1}):
        with pytest.raises(ConfigError):
            base.Balanced(bad)


# ------------------------------------------------------------------ distances by hand
W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])


def test_weight_gaps():
    gaps = base.weight_gaps(torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]]))
    expected = torch.tensor([[0.0, 5.0, 0.0], [5.0, 0.0, 5.0], [0.0, 5.0, 0.0]])
    assert torch.equal(gaps, expected.double())


def test_boundary_distances_by_hand():
    # z = (2, 1): logits (2, 1, -2), predicted 0; boundary with 1 is the line x = y
    # (distance 1/sqrt 2), with 2 the line x = 0 (distance 2); its own class: the nearer one.
    # z = (0, 3): logits (0, 3, 0), predicted 1; both boundaries at 3/sqrt 2.
    # z = (0, 0): all logits 0 (prediction: the first, 0); on every boundary.
    feats = torch.tensor([[2.0, 1.0], [0.0, 3.0], [0.0, 0.0]])
    dist, pred = base.boundary_distances(feats, W, torch.zeros(3))
    r, s = 1 / math.sqrt(2), 3 / math.sqrt(2)
    expected = torch.tensor([[r, r, 2.0], [s, s, s], [0.0, 0.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(dist, expected, atol=1e-12) and pred.tolist() == [0, 1, 0]
    # a bias moves the boundaries: b = (0, 1, 0) makes z = (2, 1) tie classes 0 and 1
    dist, pred = base.boundary_distances(feats[:1], W, torch.tensor([0.0, 1.0, 0.0]))
    assert pred.tolist() == [0] and dist[0, 1] == 0 and dist[0, 0] == 0


def test_the_distance_is_the_perturbation_that_ties_the_logits():
    rng = np.random.default_rng(0)
    feats = torch.from_numpy(rng.normal(size=(6, 4)))
    weight, bias = torch.from_numpy(rng.normal(size=(5, 4))), torch.from_numpy(rng.normal(size=5))
    dist, pred = base.boundary_distances(feats, weight, bias)
    for i in range(6):
        y = int(pred[i])
        for c in range(5):
            if c == y:
                continue
            step = weight[c] - weight[y]  # towards class c, along the hyperplane's normal
            moved = feats[i] + dist[i, c] * step / step.norm()
            logits = weight @ moved + bias
            assert logits[y].item() == pytest.approx(logits[c].item(), abs=1e-9)
        others = [dist[i, c] for c in range(5) if c != y]
        assert dist[i, y] == min(others)


def test_equal_weight_rows_have_no_boundary():
    weight = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    dist, pred = base.boundary_distances(torch.tensor([[3.0, 1.0]]), weight, torch.zeros(3))
    assert pred.tolist() == [0] and math.isinf(dist[0, 1])
    assert dist[0, 2] == pytest.approx(2 / math.sqrt(2)) and dist[0, 0] == dist[0, 2]


def test_class_distances_do_not_depend_on_the_chunk():
    rng = np.random.default_rng(1)
    feats = torch.from_numpy(rng.normal(size=(11, 3))).float()
    weight, bias = torch.randn(4, 3), torch.randn(4)
    whole = base.class_distances(feats, weight, bias, chunk=4096)
    for chunk in (1, 3, 11):
        parts = base.class_distances(feats, weight, bias, chunk=chunk)
        # float64 BLAS may round a block's product differently by its shape (last ulp)
        torch.testing.assert_close(whole[0], parts[0], rtol=1e-12, atol=0)
        assert torch.equal(whole[1], parts[1])
    with pytest.raises(ValueError, match="dimension"):
        base.class_distances(feats[:, :2], weight, bias)


# ------------------------------------------------------------------ the round-robin
def test_closest_per_class_is_stable():
    dist = torch.tensor([[0.5, 1.0], [0.1, 1.0], [0.5, 0.0], [0.9, 1.0]], dtype=torch.float64)
    assert base.closest_per_class(dist, 3).tolist() == [[1, 0, 2], [2, 0, 1]]
    assert base.closest_per_class(dist, 9).shape == (2, 4)


def test_class_quotas():
    assert base.class_quotas(7, np.array([2, 0, 1])).tolist() == [2, 2, 3]
    assert base.class_quotas(2, np.array([1, 0, 2])).tolist() == [1, 1, 0]
    assert base.class_quotas(6, np.array([0, 1, 2])).tolist() == [2, 2, 2]


def test_round_robin_by_hand():
    candidates = np.array([[0, 1, 2, 3], [0, 2, 1, 3]])
    # class 1 takes 0, class 0 its next free (1), class 1 its next free (2)
    assert base.round_robin(candidates, 3, np.array([1, 0])).tolist() == [0, 1, 2]
    assert base.round_robin(candidates, 3, np.array([0, 1])).tolist() == [0, 2, 1]
    assert base.round_robin(candidates, 0, np.array([0, 1])).tolist() == []
    # more classes than budget: only the first classes of the order take one
    assert base.round_robin(np.array([[0], [1], [2]]), 2, np.array([2, 0, 1])).tolist() == [2, 0]


def test_round_robin_passes_over_a_class_whose_ranking_is_used_up():
    candidates = np.array([[0, 1, 2], [0, 1, 2], [3, 4, 5]])
    # c0: 0, c1: 1, c2: 3, c0: 2, c1: nothing left (passed over), c2: 4
    assert base.round_robin(candidates, 5, np.array([0, 1, 2])).tolist() == [0, 1, 3, 2, 4]
    with pytest.raises(ValueError, match="distinct"):
        base.round_robin(np.array([[0, 1], [1, 0]]), 3, np.array([0, 1]))


def naive_round_robin(dist: np.ndarray, budget: int, class_order: np.ndarray) -> list[int]:
    """Each class in turn takes its closest free sample (full stable rankings)."""
    rankings = [np.argsort(dist[:, c], kind="stable") for c in range(dist.shape[1])]
    chosen: list[int] = []
    turn = 0
    while len(chosen) < budget:
        c = class_order[turn % len(class_order)]
        chosen.append(int(next(i for i in rankings[c] if i not in chosen)))
        turn += 1
    return chosen


@pytest.mark.parametrize(("n", "n_classes", "budget"), [(30, 4, 10), (12, 5, 12), (20, 7, 3)])
def test_truncated_rankings_give_the_full_round_robin(n, n_classes, budget):
    rng = np.random.default_rng(n + budget)
    dist = rng.random((n, n_classes))
    dist[:, 0] = dist[:, 1]  # two classes with the same ranking: many conflicts
    class_order = rng.permutation(n_classes)
    cand = base.closest_per_class(torch.from_numpy(dist), budget).numpy()
    picked = base.round_robin(cand, budget, class_order)
    assert picked.tolist() == naive_round_robin(dist, budget, class_order)
    takers = class_order[np.arange(budget) % n_classes]  # turn i is class_order[i % C]'s
    assert np.bincount(takers, minlength=n_classes).tolist() == list(
        base.class_quotas(budget, class_order)
    )


# ------------------------------------------------------------------ select on a round
def _round(tmp_path, n_lab=5, n_unl=24, dim=3, n_classes=4):
    rng = np.random.default_rng(7)
    labelled = np.sort(rng.choice(n_lab + n_unl, n_lab, replace=False))
    ids = rng.permutation(n_lab + n_unl)  # file rows in a shuffled order
    feats = torch.from_numpy(rng.normal(size=(len(ids), dim))).to(torch.float16)
    fc = torch.nn.Linear(dim, n_classes)
    with torch.no_grad():
        fc.weight.copy_(torch.from_numpy(rng.normal(size=(n_classes, dim))))
        fc.bias.copy_(torch.from_numpy(rng.normal(size=n_classes)))
        logits = fc(feats.float())
    ctx = features_round(tmp_path, ids, labelled, feats, logits, seed=3, round_=2)
    ctx.load_classifier = lambda: (SimpleNamespace(fc=fc), {})  # a classifier of just fc
    by_id = dict(zip(ids.tolist(), feats.double().numpy(), strict=True))
    return ctx, by_id, fc


def naive_distances(z: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """d(z, c) by the formula, one sample and one class at a time."""
    out = np.empty((len(z), len(weight)))
    for i, x in enumerate(z):
        logits = weight @ x + bias
        y = int(np.argmax(logits))
        for c in range(len(weight)):
            if c != y:
                out[i, c] = (logits[y] - logits[c]) / np.linalg.norm(weight[y] - weight[c])
        out[i, y] = min(out[i, c] for c in range(len(weight)) if c != y)
    return out


def test_select_on_a_round(tmp_path):
    ctx, by_id, fc = _round(tmp_path)
    method = base.Balanced({"chunk_size": 5})
    chosen = method.select(ctx, 10, None)
    assert len(set(chosen.tolist())) == 10 and np.isin(chosen, ctx.unlabelled).all()
    assert np.array_equal(chosen, method.select(ctx, 10, None))  # deterministic
    assert np.array_equal(chosen, base.Balanced({}).select(ctx, 10, None))  # chunk: memory only
    # the same as the formula and the round-robin written out, with the seeded orders
    order = ctx.rng("balanced-order").permutation(ctx.unlabelled)
    class_order = ctx.rng("balanced-classes").permutation(4)
    z = np.stack([by_id[int(i)] for i in order])
    weight, bias = fc.weight.detach().double().numpy(), fc.bias.detach().double().numpy()
    dist = naive_distances(z, weight, bias)
    expected = order[naive_round_robin(dist, 10, class_order)]
    assert chosen.tolist() == expected.tolist()
    # the whole pool: every unlabelled sample once
    assert sorted(method.select(ctx, len(ctx.unlabelled), None).tolist()) == list(ctx.unlabelled)
