"""TypiClust: typical samples of uncovered clusters (Hacohen, Dekel & Weinshall, ICML 2022).

The low-budget strategy of the paper, in its three steps:

1. **Representation**: the labelled and unlabelled pool samples in a feature space, here
   the classifier's penultimate features of the round (``taps[3]`` of ``features.pt``),
   L2-normalised (:func:`l2_normalise`).
2. **Clustering**: k-means with ``|L| + budget`` clusters, capped at ``max_clusters``
   (:func:`num_clusters`, :func:`kmeans`: k-means++ seeding, then Lloyd iterations).
3. **Typical sample per cluster**: repeatedly take the cluster with the fewest labelled
   samples, largest first (:func:`select_typical`), and label its most typical unlabelled
   sample, typicality being the inverse mean Euclidean distance to the ``K`` nearest
   neighbours inside the cluster (:func:`typicality`, the paper's definition).

Memory stays ``O(N d + k d)``: k-means computes distances in ``chunk_size x chunk_size``
blocks of points x centres, and the neighbours of a cluster of ``s`` samples in
``chunk_size x s`` blocks, never an ``N x N`` matrix. Everything heavy runs on the round's
device. Random choices (k-means++ seeding, ties) come from the round's seeded generators,
so the selection depends on the run seed and round only.
"""

from __future__ import annotations

import heapq
import logging

import numpy as np
import torch

from vabal.learn.features import RoundFeatures
from vabal.methods.base import FeaturesMethod, RoundContext
from vabal.methods.coreset.method import pairwise_sq_dists as sq_dists
from vabal.methods.typiclust import SPEC

log = logging.getLogger(__name__)

#: added to the mean neighbour distance before inverting it (duplicates stay finite)
EPS = 1e-5


# ------------------------------------------------------------------------ pure functions
def l2_normalise(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit Euclidean norm (step 1; an all-zero row stays zero)."""
    return torch.nn.functional.normalize(x, dim=1)


def num_clusters(n_labelled: int, budget: int, max_clusters: int, n_points: int) -> int:
    """Number of k-means clusters (step 2): ``|L| + budget``, at most ``max_clusters`` and
    at most the number of points."""
    return max(1, min(n_labelled + budget, max_clusters, n_points))


def kmeans_pp_init(
    points: torch.Tensor, k: int, rng: np.random.Generator, chunk: int = 4096
) -> torch.Tensor:
    """Indices of ``k`` k-means++ seeds (Arthur & Vassilvitskii 2007): the first uniform,
    each next one drawn with probability proportional to its squared distance to the
    nearest seed so far. The draws are uniforms from ``rng`` inverted through the
    cumulative distances on the device (one scalar per seed, no host round trip)."""
    n = len(points)
    if not 1 <= k <= n:
        raise ValueError(f"cannot seed {k} clusters with {n} points")
    device = points.device
    seeds = torch.empty(k, dtype=torch.long, device=device)
    seeds[0] = int(rng.integers(n))
    nearest = torch.full((n,), float("inf"), dtype=torch.float64, device=device)
    for step in range(1, k):
        centre = points.index_select(0, seeds[step - 1 : step])
        for lo in range(0, n, chunk):
            block = nearest[lo : lo + chunk]
            d = sq_dists(points[lo : lo + chunk], centre)[:, 0].double()
            torch.minimum(block, d, out=block)
        cum = torch.cumsum(nearest, 0)
        target = cum[-1:] * float(rng.random())
        idx = torch.searchsorted(cum, target, right=True).clamp_max_(n - 1)
        seeds[step] = idx[0]
    return seeds


def assign_clusters(
    points: torch.Tensor, centres: torch.Tensor, chunk: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each point's nearest centre (ties: lowest centre index) and its squared distance,
    computed in ``chunk x chunk`` blocks of points x centres."""
    n = len(points)
    labels = torch.zeros(n, dtype=torch.long, device=points.device)
    best = torch.full((n,), float("inf"), dtype=points.dtype, device=points.device)
    for lo in range(0, n, chunk):
        block = points[lo : lo + chunk]
        b_best, b_lab = best[lo : lo + chunk], labels[lo : lo + chunk]
        for clo in range(0, len(centres), chunk):
            d, j = sq_dists(block, centres[clo : clo + chunk]).min(1)
            better = d < b_best  # strict: an earlier block (lower index) keeps ties
            b_best[better] = d[better]
            b_lab[better] = j[better] + clo
    return labels, best


def update_centres(points: torch.Tensor, labels: torch.Tensor, centres: torch.Tensor):
    """The mean of each cluster's points (the Lloyd update); a cluster left empty keeps its
    centre. Sums are float64 segment sums over the points sorted by cluster (a stable
    sort and a cumulative sum: deterministic on every device, memory ``O(N d)``)."""
    k = len(centres)
    order = torch.sort(labels, stable=True).indices
    counts = torch.bincount(labels, minlength=k)
    cum = torch.cumsum(points[order].double(), 0)
    cum = torch.cat([torch.zeros_like(cum[:1]), cum])
    ends = torch.cumsum(counts, 0)
    sums = cum[ends] - cum[ends - counts]
    means = (sums / counts.clamp_min(1)[:, None].double()).to(centres.dtype)
    return torch.where((counts > 0)[:, None], means, centres)


def kmeans(
    points: torch.Tensor,
    k: int,
    rng: np.random.Generator,
    iters: int = 100,
    chunk: int = 4096,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """k-means (step 2): k-means++ seeding from ``rng``, then at most ``iters`` Lloyd
    updates, stopping early once no assignment changes. Returns the cluster of each point
    (long, on the points' device), the centres and the number of updates run."""
    centres = points[kmeans_pp_init(points, k, rng, chunk)].clone()
    labels, _ = assign_clusters(points, centres, chunk)
    done = 0
    while done < iters:
        centres = update_centres(points, labels, centres)
        done += 1
        new, _ = assign_clusters(points, centres, chunk)
        if torch.equal(new, labels):
            break
        labels = new
    return labels, centres, done


def neighbour_count(k_neighbours: int, n_candidates: int) -> int:
    """``K`` of the typicality of a cluster with ``n_candidates`` unlabelled samples:
    ``k_neighbours``, or half the cluster when it is small (as the public code), at least
    1 (``0`` for a lone sample, which needs no typicality)."""
    if n_candidates < 2:
        return 0
    return max(1, min(k_neighbours, n_candidates // 2))


def typicality(feats: torch.Tensor, k: int, chunk: int = 4096) -> torch.Tensor:
    """Typicality of each row among the rows (the paper's definition)::

        Typicality(x) = 1 / (mean_{x_i in K-NN(x)} ||x - x_i||_2 + EPS)

    The ``k`` nearest neighbours exclude the row itself (not its duplicates). Distances in
    float64, in ``chunk x s`` blocks for ``s`` rows."""
    s = len(feats)
    if not 1 <= k < s:
        raise ValueError(f"cannot take {k} neighbours among {s} samples")
    x = feats.double()
    out = torch.empty(s, dtype=torch.float64, device=x.device)
    for lo in range(0, s, chunk):
        d = sq_dists(x[lo : lo + chunk], x)
        rows = torch.arange(len(d), device=x.device)
        d[rows, rows + lo] = float("inf")  # not its own neighbour
        near = torch.topk(d, k, dim=1, largest=False).values
        out[lo : lo + chunk] = 1.0 / (near.sqrt().mean(1) + EPS)
    return out


def select_typical(
    feats: torch.Tensor,
    clusters: np.ndarray,
    labelled: np.ndarray,
    budget: int,
    tie_key: np.ndarray,
    k_neighbours: int = 20,
    min_cluster_size: int = 5,
    chunk: int = 4096,
) -> tuple[np.ndarray, dict]:
    """Rows (indices into ``feats``) of ``budget`` distinct unlabelled samples, in order of
    choice (step 3), and counts for the log.

    ``clusters`` is each row's cluster, ``labelled`` a boolean mask of the labelled rows.
    At each pick the cluster with the fewest labelled samples, then the largest (size
    counting labelled and unlabelled samples), then the lowest cluster id, gives its most
    typical remaining unlabelled sample (ties: lowest ``tie_key``); that cluster then
    counts one labelled sample more. Clusters of at most ``min_cluster_size`` samples are
    skipped while a larger cluster has unlabelled samples left; once none has, they are
    used in the same order, so any ``budget`` up to the number of unlabelled rows is met.
    """
    clusters = np.asarray(clusters, dtype=np.int64)
    labelled = np.asarray(labelled, dtype=bool)
    free = ~labelled
    if not 0 <= budget <= int(free.sum()):
        raise ValueError(f"cannot select {budget} of {int(free.sum())} unlabelled samples")
    k = int(clusters.max()) + 1 if len(clusters) else 0
    sizes = np.bincount(clusters, minlength=k)
    counts = np.bincount(clusters[labelled], minlength=k)
    rows = np.flatnonzero(free)
    rows = rows[np.argsort(clusters[rows], kind="stable")]
    members = dict(zip(*_split_by(clusters[rows], rows), strict=True))
    heaps: tuple[list, list] = ([], [])  # (large clusters, small clusters)
    for c in sorted(members):
        heaps[int(sizes[c] <= min_cluster_size)].append((int(counts[c]), -int(sizes[c]), c))
    for h in heaps:
        heapq.heapify(h)
    stats = {"clusters": k, "uncovered": int(((counts == 0) & (sizes > 0)).sum()), "small": 0}
    chosen = np.empty(budget, dtype=np.int64)
    for step in range(budget):
        heap = heaps[0] if heaps[0] else heaps[1]
        stats["small"] += heap is heaps[1]
        count, neg_size, c = heapq.heappop(heap)
        cands = members[c]
        kk = neighbour_count(k_neighbours, len(cands))
        if kk == 0:
            best = 0
        else:
            idx = torch.as_tensor(cands, dtype=torch.long, device=feats.device)
            typ = typicality(feats[idx], kk, chunk).cpu().numpy()
            best = int(np.lexsort((tie_key[cands], -typ))[0])
        chosen[step] = cands[best]
        members[c] = np.delete(cands, best)
        if len(members[c]):
            heapq.heappush(heap, (count + 1, neg_size, c))
    return chosen, stats


def _split_by(keys: np.ndarray, values: np.ndarray) -> tuple[list[int], list[np.ndarray]]:
    """Distinct sorted ``keys`` and the ``values`` of each (``keys`` sorted already)."""
    uniq, starts = np.unique(keys, return_index=True)
    return uniq.tolist(), np.split(values, starts[1:])


class TypiClust(FeaturesMethod):
    """Most typical sample of each of the largest uncovered k-means clusters."""

    spec = SPEC  # parameters checked against, and defaults filled from, its definition

    def select(self, ctx: RoundContext, budget: int, scores=None) -> np.ndarray:
        p = self.params
        ids = np.concatenate([ctx.labelled, ctx.unlabelled])
        labelled = np.arange(len(ids)) < len(ctx.labelled)
        feats = l2_normalise(RoundFeatures(ctx).penultimate(ids))
        k = num_clusters(len(ctx.labelled), budget, p["max_clusters"], len(ids))
        clusters, _, iters = kmeans(
            feats, k, ctx.rng("typiclust-kmeans"), p["kmeans_iters"], p["chunk_size"]
        )
        tie_key = ctx.rng("typiclust-tie-break").random(len(ids))
        picked, stats = select_typical(
            feats,
            clusters.cpu().numpy(),
            labelled,
            budget,
            tie_key,
            p["k_neighbours"],
            p["min_cluster_size"],
            p["chunk_size"],
        )
        log.info(
            "typiclust: %d clusters (%d Lloyd updates), %d without a labelled sample, "
            "%d of %d picks from small clusters",
            stats["clusters"],
            iters,
            stats["uncovered"],
            stats["small"],
            budget,
        )
        return ids[picked]
