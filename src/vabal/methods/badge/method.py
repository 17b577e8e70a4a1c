"""BADGE: Batch Active learning by Diverse Gradient Embeddings (Ash, Zhang, Krishnamurthy,
Langford & Agarwal, ICLR 2020).

Each unlabelled sample ``x`` is represented by the gradient of the cross-entropy loss with
respect to the classifier's last linear layer, taken at the label the classifier predicts,
``ŷ = argmax p(x)`` (the "hallucinated" label)::

    g(x)_c = (p_c(x) - 1[c = ŷ]) h(x)        c = 1..C,  h(x) the penultimate feature (d)

so ``g(x) = a(x) ⊗ h(x)`` with ``a = p - e_ŷ``. Its norm is large where the classifier is
unsure; the batch is drawn by k-means++ seeding in that space, which favours samples far
(in gradient space) from those already chosen: uncertain and diverse at once.

The ``(n, C·d)`` embedding is never built. For rank-one embeddings
``<g_i, g_j> = <a_i, a_j> <h_i, h_j>``, so the squared distance of every sample to a new
centre ``j`` is ``|g_i|² + |g_j|² - 2 (a_i·a_j)(h_i·h_j)``: two matrix-vector products with
the ``(n, C)`` and ``(n, d)`` factors, in ``chunk_size`` row blocks, and one running
``(n,)`` vector of each sample's squared distance to its nearest centre. Memory
``O(n (C + d))``, all on the round's device in float32.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from vabal.learn.features import RoundFeatures
from vabal.methods.badge import SPEC
from vabal.methods.base import FeaturesMethod, RoundContext

log = logging.getLogger(__name__)

#: squared distances at most this many machine epsilons of ``|g_i|² + |g_j|²`` are rounding
#: noise of the factorised formula (a duplicate of a centre), and count as zero
ZERO_TOL_EPS = 128


# ------------------------------------------------------------------------ pure functions
def gradient_factors(probs: torch.Tensor) -> torch.Tensor:
    """The class factor ``a = p - e_ŷ`` of the gradient embedding (Section 3 of the paper,
    the gradient of the cross-entropy at the predicted label ``ŷ = argmax p`` with respect
    to the last layer's weights is ``a ⊗ h``), ``(n, C)`` in the dtype of ``probs``.

    ``ŷ`` among equal top probabilities is the lowest class index.
    """
    if probs.ndim != 2:
        raise ValueError(f"probabilities must be (n, C), got {tuple(probs.shape)}")
    a = probs.clone()
    rows = torch.arange(len(a), device=a.device)
    a[rows, probs.argmax(1)] -= 1.0
    return a


def embedding_sq_norms(a: torch.Tensor, h: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """``|g_i|² = |a_i|² |h_i|²`` of the gradient embeddings ``g_i = a_i ⊗ h_i``, ``(n,)``
    (the magnitude BADGE reads as uncertainty, Section 3), in ``chunk``-row blocks."""
    parts = [
        (a[lo : lo + chunk] ** 2).sum(1) * (h[lo : lo + chunk] ** 2).sum(1)
        for lo in range(0, len(a), chunk)
    ]
    return torch.cat(parts) if parts else a.new_zeros(0)


def factorised_sq_dists(
    a: torch.Tensor,
    h: torch.Tensor,
    sq_norms: torch.Tensor,
    a_c: torch.Tensor,
    h_c: torch.Tensor,
    sq_norm_c: torch.Tensor,
) -> torch.Tensor:
    """Squared distances ``|g_i - g_c|²`` of the rows ``g_i = a_i ⊗ h_i`` (one block of
    ``a`` ``(m, C)``, ``h`` ``(m, d)`` with their ``sq_norms``) to one centre
    ``g_c = a_c ⊗ h_c``, without forming any ``C·d`` vector::

        |g_i|² + |g_c|² - 2 (a_i·a_c)(h_i·h_c)

    Values within rounding of zero (at most ``ZERO_TOL_EPS`` epsilons of
    ``|g_i|² + |g_c|²``, negative ones included) are set to exactly 0.
    """
    d = sq_norms + sq_norm_c - 2.0 * (a @ a_c) * (h @ h_c)
    tol = ZERO_TOL_EPS * torch.finfo(d.dtype).eps
    return d.masked_fill_(d <= tol * (sq_norms + sq_norm_c), 0.0)


def draw_proportional(weights: np.ndarray, rng: np.random.Generator) -> int:
    """One index drawn with probability ``weights / weights.sum()`` (the k-means++ ``D²``
    sampling step) from one ``rng.random()``: the first index whose cumulative weight
    exceeds ``u · total``; never an index of zero weight. Raises if all weights are zero.
    """
    weights = np.asarray(weights, dtype=np.float64)
    cum = np.cumsum(weights)
    total = cum[-1] if len(cum) else 0.0
    if not total > 0:
        raise ValueError("no positive weight to draw from")
    idx = int(np.searchsorted(cum, rng.random() * total, side="right"))
    last = int(np.flatnonzero(weights > 0)[-1])
    return min(idx, last)  # u·total rounded up to total would step past the end


def kmeanspp_seeding(
    a: torch.Tensor,
    h: torch.Tensor,
    k: int,
    rng: np.random.Generator,
    chunk: int = 4096,
) -> np.ndarray:
    """Indices (in order of choice) of ``k`` distinct rows picked by k-means++ seeding on
    the gradient embeddings ``g_i = a_i ⊗ h_i`` (Algorithm 1 of the paper, step "k-MEANS++
    seeding"; Arthur & Vassilvitskii 2007).

    * First centre: the row of largest ``|g_i|`` (as in the public BADGE code); ties go to
      the lowest index.
    * Each next centre: row ``i`` with probability ``D(i)² / Σ D²``, ``D(i)`` the distance
      of ``g_i`` to its nearest chosen centre, drawn from ``rng`` (one ``rng.random()`` per
      pick). Chosen rows have ``D = 0`` and are never drawn again.
    * When every remaining row is at distance 0 from the centres (duplicates, or zero
      embeddings of confident predictions), the next centre is drawn uniformly from the
      rows not chosen yet (``rng.integers``).

    ``a`` ``(n, C)`` and ``h`` ``(n, d)`` on one device, one floating dtype. Memory beyond
    them: a few ``(n,)`` vectors and ``chunk``-row temporaries.
    """
    n = len(a)
    if len(h) != n:
        raise ValueError(f"{n} class factors for {len(h)} features")
    if not 0 <= k <= n:
        raise ValueError(f"cannot pick {k} of {n} samples")
    chosen = np.empty(k, dtype=np.int64)
    if k == 0:
        return chosen
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    h = h.to(a.dtype)
    sq_norms = embedding_sq_norms(a, h, chunk)
    dist = torch.full_like(sq_norms, float("inf"))
    taken = np.zeros(n, dtype=bool)
    idx = int(torch.argmax(sq_norms))  # the first maximum: lowest index among ties
    for step in range(k):
        if step:
            weights = dist.cpu().numpy().astype(np.float64)
            weights[taken] = 0.0
            if weights.any():
                idx = draw_proportional(weights, rng)
            else:
                free = np.flatnonzero(~taken)
                idx = int(free[rng.integers(len(free))])
        chosen[step] = idx
        taken[idx] = True
        if step == k - 1:
            break
        a_c, h_c, norm_c = a[idx], h[idx], sq_norms[idx]
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            d = factorised_sq_dists(a[lo:hi], h[lo:hi], sq_norms[lo:hi], a_c, h_c, norm_c)
            block = dist[lo:hi]
            torch.minimum(block, d, out=block)
        dist[idx] = 0.0
    return chosen


class Badge(FeaturesMethod):
    """k-means++ seeding on the gradient embeddings of the unlabelled pool."""

    spec = SPEC  # parameters checked against, and defaults filled from, its definition

    def select(self, ctx: RoundContext, budget: int, scores=None) -> np.ndarray:
        feats = RoundFeatures(ctx)
        # the pool in a seeded random order: ties of the first pick go to the earlier sample
        order = ctx.rng("badge-order").permutation(ctx.unlabelled)
        h = feats.penultimate(order)
        a = gradient_factors(feats.probs(order)).to(torch.float32)  # p - e_ŷ in float64 first
        picked = kmeanspp_seeding(a, h, budget, ctx.rng("badge-draw"), self.params["chunk_size"])
        if log.isEnabledFor(logging.INFO) and budget:
            norms = embedding_sq_norms(a, h, self.params["chunk_size"]).sqrt()
            rows = torch.as_tensor(picked, device=norms.device)
            log.info(
                "badge: mean gradient-embedding norm %.4g of %d picks (pool %.4g)",
                float(norms[rows].mean()),
                budget,
                float(norms.mean()),
            )
        return order[picked]
