"""Core-set: greedy k-center selection (Sener & Savarese, ICLR 2018).

The pool is covered in the space of the classifier's penultimate features (``taps[3]`` of
``features.pt``: the globally pooled output of the last residual stage) with Euclidean
distance. The labelled samples are the initial centres; each step adds the unlabelled
sample farthest from its nearest centre (the 2-approximation of the k-center problem).

Memory stays ``O(N d)``: one vector holds every pool sample's distance to its nearest
centre, the initial distances are computed in ``chunk_size x chunk_size`` blocks, and each
step only computes the distances to the one new centre. Everything runs on the round's
device. Ties (equal distances) go to the earlier sample in a seeded random order of the
pool, so the selection depends on the run seed and round only.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from vabal.learn.features import RoundFeatures
from vabal.methods.base import FeaturesMethod, RoundContext
from vabal.methods.coreset import SPEC

log = logging.getLogger(__name__)


def pairwise_sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances ``(len(a), len(b))`` (one block; callers chunk)."""
    d = (a * a).sum(1, keepdim=True) + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return d.clamp_min_(0)


def min_sq_dists(points: torch.Tensor, centres: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Each point's squared distance to its nearest centre (``+inf`` without centres),
    computed in ``chunk x chunk`` blocks."""
    out = torch.full((len(points),), float("inf"), dtype=points.dtype, device=points.device)
    for lo in range(0, len(points), chunk):
        block = points[lo : lo + chunk]
        best = out[lo : lo + chunk]
        for clo in range(0, len(centres), chunk):
            d = pairwise_sq_dists(block, centres[clo : clo + chunk])
            torch.minimum(best, d.min(1).values, out=best)
    return out


def greedy_k_center(
    features_pool: torch.Tensor,
    features_centres: torch.Tensor,
    k: int,
    chunk: int = 4096,
) -> torch.Tensor:
    """Indices (into ``features_pool``, in order of choice) of ``k`` greedy k-center picks.

    ``features_centres`` are the fixed initial centres (may be empty). At each step the pool
    point farthest from its nearest centre becomes a centre; ties go to the lowest index.
    Without initial centres the first pick is index 0. Returned on the features' device.
    """
    n = len(features_pool)
    if not 0 <= k <= n:
        raise ValueError(f"cannot pick {k} of {n} points")
    if features_centres.shape[1:] != features_pool.shape[1:]:
        raise ValueError("pool and centre features differ in dimension")
    device = features_pool.device
    dist = min_sq_dists(features_pool, features_centres.to(device, features_pool.dtype), chunk)
    chosen = torch.empty(k, dtype=torch.long, device=device)
    taken = torch.tensor(-1.0, dtype=dist.dtype, device=device)
    for step in range(k):
        idx = torch.argmax(dist)  # first maximum: lowest index among ties (stays on device)
        chosen[step] = idx
        dist[idx] = taken  # never chosen twice, even among duplicates
        centre = features_pool[idx][None]
        for lo in range(0, n, chunk):
            d = pairwise_sq_dists(features_pool[lo : lo + chunk], centre)[:, 0]
            block = dist[lo : lo + chunk]
            torch.minimum(block, d, out=block)  # keeps -1 of the chosen ones
    return chosen


def covering_radius(points: torch.Tensor, centres: torch.Tensor, chunk: int = 4096) -> float:
    """Largest distance from a point to its nearest centre."""
    if len(points) == 0:
        return 0.0
    return float(min_sq_dists(points, centres, chunk).max().sqrt())


class CoreSet(FeaturesMethod):
    """Greedy k-center on the penultimate features, labelled samples as initial centres."""

    spec = SPEC

    def select(self, ctx: RoundContext, budget: int, scores=None) -> np.ndarray:
        feats = RoundFeatures(ctx)
        # the pool in a seeded random order: ties go to the earlier sample of that order
        order = ctx.rng("coreset-order").permutation(ctx.unlabelled)
        pool, centres = feats.penultimate(order), feats.penultimate(ctx.labelled)
        chunk = self.params["chunk_size"]
        picked = greedy_k_center(pool, centres, budget, chunk).cpu().numpy()
        chosen = order[picked]
        if log.isEnabledFor(logging.INFO):
            before = covering_radius(pool, centres, chunk)
            after = covering_radius(pool, torch.cat([centres, pool[picked]]), chunk)
            log.info("coreset covering radius %.4f -> %.4f", before, after)
        return chosen
