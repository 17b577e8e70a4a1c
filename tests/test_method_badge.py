"""BADGE: gradient embeddings in factorised form and k-means++ seeding (tiny, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import features_round

from vabal.errors import ConfigError
from vabal.methods.badge import SPEC
from vabal.methods.badge import method as badge


def explicit_embedding(a: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """The materialised ``(n, C·d)`` gradient embedding (class-major blocks), tests only."""
    return (a[:, :, None] * h[:, None, :]).reshape(len(a), -1)


def naive_kmeanspp(g: np.ndarray, k: int, rng: np.random.Generator) -> list[int]:
    """k-means++ seeding on explicit embeddings with the same draw convention."""
    first = int(np.argmax((g * g).sum(1)))
    chosen, dist = [first], ((g - g[first]) ** 2).sum(1)
    while len(chosen) < k:
        cum = np.cumsum(dist)
        nxt = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
        chosen.append(nxt)
        dist = np.minimum(dist, ((g - g[nxt]) ** 2).sum(1))
    return chosen


def _tiny(n=7, c=3, d=4, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(n, c, generator=gen, dtype=torch.float64) * 2, 1)
    h = torch.rand(n, d, generator=gen, dtype=torch.float64)
    return badge.gradient_factors(probs).to(dtype), h.to(dtype)


# ------------------------------------------------------------------------------ embedding
def test_gradient_factors_by_hand():
    probs = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.4, 0.4, 0.2]], dtype=torch.float64)
    expected = [[-0.5, 0.3, 0.2], [0.1, 0.1, -0.2], [-0.6, 0.4, 0.2]]  # tie -> class 0
    assert torch.allclose(
        badge.gradient_factors(probs), torch.tensor(expected, dtype=torch.float64)
    )


def test_factorised_distances_by_hand():
    a = torch.tensor([[-0.5, 0.3, 0.2], [0.1, 0.1, -0.2], [0.1, 0.1, -0.2]], dtype=torch.float64)
    h = torch.tensor([[1.0, 0, 0, 0], [0, 2.0, 0, 0], [1.0, 0, 0, 0]], dtype=torch.float64)
    norms = badge.embedding_sq_norms(a, h)
    assert torch.allclose(norms, torch.tensor([0.38, 0.24, 0.06], dtype=torch.float64))
    d = badge.factorised_sq_dists(a, h, norms, a[0], h[0], norms[0])
    # orthogonal features: |g0|² + |g1|²; same features: |a0 - a2|² |h|²
    assert torch.allclose(d, torch.tensor([0.0, 0.62, 0.56], dtype=torch.float64))


def test_factorised_distances_equal_the_explicit_embedding():
    a, h = _tiny(n=7, c=3, d=4)
    g = explicit_embedding(a, h)
    assert g.shape == (7, 12)
    norms = badge.embedding_sq_norms(a, h, chunk=3)
    assert torch.allclose(norms, (g * g).sum(1))
    for j in range(7):
        d = badge.factorised_sq_dists(a, h, norms, a[j], h[j], norms[j])
        assert torch.allclose(d, ((g - g[j]) ** 2).sum(1), atol=1e-12)
        assert d[j] == 0


def test_rounding_noise_of_a_duplicate_is_zero_in_float32():
    a, h = _tiny(n=50, c=10, d=64, seed=3, dtype=torch.float32)
    a[7], h[7] = a[3], h[3]
    norms = badge.embedding_sq_norms(a, h)
    d = badge.factorised_sq_dists(a, h, norms, a[3], h[3], norms[3])
    assert d[3] == 0 and d[7] == 0 and (d >= 0).all()
    assert (d > 0).sum() == 48


# ------------------------------------------------------------------------------ sampling
def test_draw_proportional_replays_one_uniform():
    weights = np.array([0.0, 1.0, 3.0, 0.0])
    for seed in range(40):
        u = np.random.default_rng(seed).random()
        expected = 1 if u * 4.0 < 1.0 else 2
        assert badge.draw_proportional(weights, np.random.default_rng(seed)) == expected
    with pytest.raises(ValueError, match="no positive weight"):
        badge.draw_proportional(np.zeros(3), np.random.default_rng(0))


def test_first_pick_is_the_largest_gradient_norm():
    a, h = _tiny(n=7)
    norms = (explicit_embedding(a, h) ** 2).sum(1)
    picked = badge.kmeanspp_seeding(a, h, 1, np.random.default_rng(0))
    assert picked.tolist() == [int(torch.argmax(norms))]
    # ties: the lowest index; labelled-free, so a lone zero pool starts at 0
    same = badge.kmeanspp_seeding(a[[2, 2, 2]], h[[2, 2, 2]], 1, np.random.default_rng(0))
    assert same.tolist() == [0]


@pytest.mark.parametrize("seed", range(5))
def test_seeding_matches_explicit_kmeanspp_and_ignores_chunking(seed):
    a, h = _tiny(n=30, c=4, d=5, seed=seed)
    g = explicit_embedding(a, h).numpy()
    expected = naive_kmeanspp(g, 10, np.random.default_rng(seed))
    for chunk in (1, 7, 4096):
        got = badge.kmeanspp_seeding(a, h, 10, np.random.default_rng(seed), chunk)
        assert got.tolist() == expected


def test_second_pick_probability_is_squared_distance():
    # g0 has the largest norm; g1, g2 at squared distances 1 and 4 from it, g3 a duplicate
    a = torch.tensor([[1.0], [1.0], [1.0], [1.0]])
    h = torch.tensor([[3.0], [2.0], [1.0], [3.0]])
    counts = np.zeros(4)
    for seed in range(400):
        picked = badge.kmeanspp_seeding(a, h, 2, np.random.default_rng(seed))
        assert picked[0] == 0
        counts[picked[1]] += 1
    assert counts[0] == counts[3] == 0
    assert abs(counts[2] / 400 - 0.8) < 0.08  # 4 / (1 + 4), not 2 / (1 + 2)


@pytest.mark.parametrize("seed", range(20))
def test_duplicates_of_a_centre_wait_until_nothing_else_is_left(seed):
    a, h = _tiny(n=6, c=3, d=4, seed=11, dtype=torch.float32)
    top = int(torch.argmax(badge.embedding_sq_norms(a, h)))
    rest = [i for i in range(6) if i != top]
    a = torch.cat([a[[top, top, top]], a[rest]])  # rows 0-2: copies of the first centre
    h = torch.cat([h[[top, top, top]], h[rest]])
    picked = badge.kmeanspp_seeding(a, h, 8, np.random.default_rng(seed), chunk=4)
    assert picked[0] == 0
    assert sorted(picked[1:6].tolist()) == [3, 4, 5, 6, 7]
    assert sorted(picked[6:].tolist()) == [1, 2]


def test_budget_distinct_ids_even_when_every_embedding_is_zero():
    probs = torch.eye(4, dtype=torch.float64)[[0, 1, 2, 3, 0, 1]]  # confident: a = 0
    a = badge.gradient_factors(probs)
    h = torch.rand(6, 3, dtype=torch.float64)
    picked = badge.kmeanspp_seeding(a, h, 6, np.random.default_rng(1), chunk=4)
    assert picked[0] == 0 and sorted(picked.tolist()) == list(range(6))
    assert badge.kmeanspp_seeding(a, h, 0, np.random.default_rng(1)).tolist() == []
    with pytest.raises(ValueError, match="cannot pick 7 of 6"):
        badge.kmeanspp_seeding(a, h, 7, np.random.default_rng(1))


def test_same_rng_same_selection():
    a, h = _tiny(n=40, c=5, d=6, seed=2, dtype=torch.float32)
    one = badge.kmeanspp_seeding(a, h, 12, np.random.default_rng(5), chunk=16)
    two = badge.kmeanspp_seeding(a, h, 12, np.random.default_rng(5), chunk=16)
    other = badge.kmeanspp_seeding(a, h, 12, np.random.default_rng(6), chunk=16)
    assert np.array_equal(one, two) and len(set(one.tolist())) == 12
    assert not np.array_equal(one, other)


# ------------------------------------------------------------------------------ the method
def _features_ctx(tmp_path, logits, feats, n_lab, seed=0):
    n = len(feats)
    labelled, unlabelled = np.arange(n_lab), np.arange(n_lab, n)
    ids = np.concatenate([labelled[::-1], unlabelled[::-1]])  # file order != id order
    return features_round(tmp_path, ids, labelled, feats[ids], logits[ids], seed=seed, round_=1)


def test_select_on_a_round_ignores_the_labelled_samples(tmp_path):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(30, 3, generator=gen)
    feats = torch.rand(30, 4, generator=gen).to(torch.float16).float()
    method = badge.Badge({"chunk_size": 7})
    ctx = _features_ctx(tmp_path / "a", logits, feats, n_lab=6)
    chosen = method.select(ctx, 8, None)
    assert len(set(chosen.tolist())) == 8 and np.isin(chosen, ctx.unlabelled).all()
    assert np.array_equal(chosen, method.select(ctx, 8, None))  # deterministic
    # the first pick: the unlabelled sample of largest gradient-embedding norm
    a = badge.gradient_factors(torch.softmax(logits.double(), 1))
    norms = badge.embedding_sq_norms(a, feats.double())
    assert chosen[0] == 6 + int(torch.argmax(norms[6:]))
    # labelled samples are not centres: changing them changes nothing
    logits2, feats2 = logits.clone(), feats.clone()
    logits2[:6], feats2[:6] = logits[6:12] * 3, feats[6:12]
    ctx2 = _features_ctx(tmp_path / "b", logits2, feats2, n_lab=6)
    assert np.array_equal(chosen, method.select(ctx2, 8, None))
    # another seed, another draw
    ctx3 = _features_ctx(tmp_path / "c", logits, feats, n_lab=6, seed=1)
    assert not np.array_equal(chosen, method.select(ctx3, 8, None))


def test_spec_and_bad_params():
    assert SPEC.steps == ("extract_features",)
    assert SPEC.params == {"chunk_size": 4096}
    assert SPEC.load() is badge.Badge
    assert badge.Badge({}).params == {"chunk_size": 4096}
    for value in (0, 1.5, True):
        with pytest.raises(ConfigError, match=r"methods\.\(kind badge\)\.chunk_size: "):
            badge.Badge({"chunk_size": value})
    with pytest.raises(ConfigError, match="unknown parameter"):
        badge.Badge({"radius": 1})
