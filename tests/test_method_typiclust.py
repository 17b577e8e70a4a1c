"""TypiClust: typicality, k-means and the cluster-by-cluster selection (tiny, CPU)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import features_round

from vabal.errors import ConfigError
from vabal.methods.typiclust import SPEC
from vabal.methods.typiclust import method as tc


# ------------------------------------------------------------------------ parameters
def test_spec_declares_one_step_and_checked_params():
    assert SPEC.steps == ("extract_features",)
    assert SPEC.params == {
        "k_neighbours": 20,
        "max_clusters": 500,
        "min_cluster_size": 5,
        "kmeans_iters": 100,
        "chunk_size": 4096,
    }
    tc.TypiClust({"min_cluster_size": 0})
    for bad in (
        {"k_neighbours": 0},
        {"max_clusters": 1.5},
        {"min_cluster_size": -1},
        {"kmeans_iters": 0},
        {"chunk_size": True},
        {"radius": 1},
    ):
        with pytest.raises(ConfigError):
            tc.TypiClust(bad)


def test_num_clusters_is_labelled_plus_budget_capped():
    assert tc.num_clusters(10, 10, 500, 1000) == 20
    assert tc.num_clusters(400, 200, 500, 1000) == 500
    assert tc.num_clusters(3, 4, 500, 5) == 5


# ------------------------------------------------------------------------ typicality
def test_typicality_by_hand():
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [3.0, 4.0]])
    r18 = math.sqrt(18.0)  # |(0,1) - (3,4)|
    for chunk in (1, 2, 4096):
        one = tc.typicality(x, 1, chunk).numpy()
        np.testing.assert_allclose(one, 1 / (np.array([1.0, 1.0, r18]) + tc.EPS), rtol=1e-12)
        two = tc.typicality(x, 2, chunk).numpy()
        means = np.array([(1 + 5) / 2, (1 + r18) / 2, (5 + r18) / 2])  # Euclidean, not squared
        np.testing.assert_allclose(two, 1 / (means + tc.EPS), rtol=1e-12)


def test_typicality_excludes_only_the_sample_itself():
    x = torch.tensor([[1.0, 2.0], [1.0, 2.0], [1.0, 5.0]])
    typ = tc.typicality(x, 1, chunk=1).numpy()
    np.testing.assert_allclose(typ, [1 / tc.EPS, 1 / tc.EPS, 1 / (3 + tc.EPS)], rtol=1e-9)
    with pytest.raises(ValueError):
        tc.typicality(x, 3)


def test_neighbour_count_halves_small_clusters():
    assert [tc.neighbour_count(20, m) for m in (1, 2, 3, 7, 40, 41, 100)] == [
        0,
        1,
        1,
        3,
        20,
        20,
        20,
    ]
    assert tc.neighbour_count(2, 100) == 2


# ------------------------------------------------------------------------ k-means
def _blobs(rng, centres, n_each, noise):
    x = np.concatenate([c + noise * rng.normal(size=(n_each, len(c))) for c in centres])
    truth = np.repeat(np.arange(len(centres)), n_each)
    perm = rng.permutation(len(x))
    return torch.from_numpy(x[perm]).float(), truth[perm]


def _same_partition(a, b):
    pairs = set(zip(np.asarray(a).tolist(), np.asarray(b).tolist(), strict=True))
    return len(pairs) == len(set(np.asarray(a).tolist())) == len(set(np.asarray(b).tolist()))


def test_kmeans_recovers_well_separated_blobs():
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    x, truth = _blobs(np.random.default_rng(0), centres, 9, 0.2)
    for seed in range(3):
        labels, cent, iters = tc.kmeans(x, 4, np.random.default_rng(seed), 50, chunk=4096)
        assert _same_partition(labels.numpy(), truth) and 1 <= iters <= 50
        for c in range(4):
            np.testing.assert_allclose(cent[c].numpy(), x[labels == c].mean(0).numpy(), atol=1e-5)
        small, _, _ = tc.kmeans(x, 4, np.random.default_rng(seed), 50, chunk=3)
        assert torch.equal(small, labels)  # the chunk size changes memory only
    again, _, _ = tc.kmeans(x, 4, np.random.default_rng(3), 50)
    assert torch.equal(again, tc.kmeans(x, 4, np.random.default_rng(3), 50)[0])


def test_kmeans_pp_never_seeds_a_duplicate_of_a_seed():
    x = torch.tensor([[0.0, 0.0]] * 5 + [[1.0, 1.0]] * 5)
    for seed in range(10):
        seeds = tc.kmeans_pp_init(x, 2, np.random.default_rng(seed), chunk=3)
        assert sorted((seeds.numpy() >= 5).tolist()) == [False, True]


def test_assign_ties_to_lowest_centre_and_update_keeps_empty_centres():
    x = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    centres = torch.tensor([[0.0], [2.0], [2.0], [50.0]])
    for chunk in (1, 4096):
        labels, d = tc.assign_clusters(x, centres, chunk)
        assert labels.tolist() == [0, 0, 1, 1] and d.tolist() == [0.0, 1.0, 0.0, 64.0]
    new = tc.update_centres(x, torch.tensor([0, 0, 1, 1]), centres)
    assert new.flatten().tolist() == [0.5, 6.0, 2.0, 50.0]  # clusters 2, 3 empty: unchanged


def test_distance_blocks_stay_within_chunk_rows(monkeypatch):
    shapes = []
    real = tc.sq_dists

    def recording(a, b):
        shapes.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(tc, "sq_dists", recording)
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(30, 3))).float()
    tc.kmeans(x, 7, np.random.default_rng(0), 5, chunk=4)
    assert shapes and max(r for r, _ in shapes) <= 4 and max(c for _, c in shapes) <= 4
    shapes.clear()
    tc.typicality(x[:13], 3, chunk=4)
    assert shapes and all(r <= 4 and c == 13 for r, c in shapes)


# ------------------------------------------------------------------------ selection
#: a plus-shaped cluster: the centre (row 0) is the most typical with 3 neighbours
PLUS = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1], [2, 0], [0, 2], [-2, 0], [0, -2]])


def _toy_clusters():
    """Clusters A (8, one labelled), B (7), C (9) and D (3, small), far apart."""
    parts, clusters, labelled = [], [], []
    for cid, (size, offset) in enumerate([(8, 0), (7, 100), (9, 200), (3, 300)]):
        parts.append(PLUS[:size] + offset)
        clusters += [cid] * size
        labelled += [cid == 0 and i == size - 1 for i in range(size)]  # an arm of A
    feats = torch.from_numpy(np.concatenate(parts)).float()
    return feats, np.array(clusters), np.array(labelled)


def test_one_typical_sample_per_uncovered_cluster_largest_first():
    feats, clusters, labelled = _toy_clusters()
    tie = np.zeros(len(feats))
    picked, stats = tc.select_typical(feats, clusters, labelled, 2, tie, 20, 5, chunk=2)
    start = {0: 0, 1: 8, 2: 15, 3: 24}  # row of each cluster's centre
    assert picked.tolist() == [start[2], start[1]]  # C (9) then B (7); A is covered
    assert stats == {"clusters": 4, "uncovered": 3, "small": 0}
    picked, _ = tc.select_typical(feats, clusters, labelled, 5, tie, 20, 5)
    # then every large cluster has one labelled: C (9) again, A (8), B (7)
    assert picked[:2].tolist() == [start[2], start[1]]
    assert clusters[picked].tolist() == [2, 1, 2, 0, 1]
    assert picked[3] == start[0]  # A's centre, its labelled arm not a candidate


def test_small_clusters_only_once_the_large_ones_are_used_up():
    feats, clusters, labelled = _toy_clusters()
    n_free = int((~labelled).sum())
    picked, stats = tc.select_typical(feats, clusters, labelled, n_free, np.zeros(len(feats)))
    assert len(set(picked.tolist())) == n_free and not labelled[picked].any()
    assert (clusters[picked[-3:]] == 3).all() and stats["small"] == 3
    picked, _ = tc.select_typical(feats, clusters, labelled, 3, np.zeros(len(feats)), 20, 0)
    assert clusters[picked].tolist() == [2, 1, 3]  # min size 0: D (3) is uncovered too
    with pytest.raises(ValueError):
        tc.select_typical(feats, clusters, labelled, n_free + 1, np.zeros(len(feats)))


def test_ties_in_typicality_follow_the_tie_key():
    feats = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [5.0, 5.0]])
    clusters, labelled = np.zeros(4, dtype=int), np.zeros(4, dtype=bool)
    for first in range(3):
        key = np.ones(4)
        key[first] = 0.0
        picked, _ = tc.select_typical(feats, clusters, labelled, 1, key, 20, 0)
        assert picked.tolist() == [first]


# ------------------------------------------------------------------------ the class
def _blob_ctx(tmp_path, seed=0):
    """A round with 4 well-separated blobs of 12 (along 4 axes); 1 labelled in blob 0."""
    rng = np.random.default_rng(7)
    centres = 5.0 * np.eye(6)[:4]
    x, truth = _blobs(rng, centres, 12, 0.3)
    x = x.abs() + 0.01  # post-ReLU-like features
    n = len(x)
    labelled = np.sort(np.flatnonzero(truth == 0)[:1])
    unlabelled = np.setdiff1d(np.arange(n), labelled)
    ids = np.concatenate([labelled, unlabelled])
    feats = x[ids].to(torch.float16)
    ctx = features_round(tmp_path, ids, labelled, feats, torch.zeros(n, 3), seed=seed)
    by_id = np.empty((n, feats.shape[1]), dtype=np.float32)
    by_id[ids] = feats.float().numpy()
    return ctx, truth, by_id


def test_select_takes_the_most_typical_of_each_uncovered_blob(tmp_path):
    ctx, truth, by_id = _blob_ctx(tmp_path)
    method = tc.TypiClust({"chunk_size": 5})
    chosen = method.select(ctx, 3, None)
    assert len(set(chosen.tolist())) == 3 and np.isin(chosen, ctx.unlabelled).all()
    assert sorted(truth[chosen].tolist()) == [1, 2, 3]  # blob 0 is covered
    for s in chosen:
        blob = np.flatnonzero(truth == truth[s])  # all unlabelled: blobs 1-3
        typ = tc.typicality(tc.l2_normalise(torch.from_numpy(by_id[blob])), 6).numpy()
        assert blob[typ.argmax()] == s
    assert np.array_equal(chosen, tc.TypiClust({}).select(ctx, 3, None))  # same rng


def test_select_meets_any_budget_with_distinct_ids(tmp_path):
    ctx, _, _ = _blob_ctx(tmp_path, seed=3)
    method = tc.TypiClust({"max_clusters": 3, "kmeans_iters": 2, "k_neighbours": 4})
    for budget in (1, 10, len(ctx.unlabelled)):
        chosen = method.select(ctx, budget, None)
        assert len(chosen) == len(set(chosen.tolist())) == budget
        assert np.isin(chosen, ctx.unlabelled).all()
        assert np.array_equal(chosen, method.select(ctx, budget, None))
