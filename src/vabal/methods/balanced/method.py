"""BASE, balanced selection (Emam, Chu, Chiang, Czaja, Leapman, Goldblum & Goldstein,
"Active Learning at the ImageNet Scale", arXiv 2111.12880, 2021).

Let ``z`` be a sample's penultimate features and ``l_c = w_c . z + b_c`` the logits of the
classifier's last (linear) layer, ``y = argmax_c l_c`` its prediction. The distance of the
sample to the decision boundary between ``y`` and a class ``c != y`` is the length of the
smallest feature perturbation that makes the two logits equal (a point-to-hyperplane
distance)::

    d(z, c) = (l_y - l_c) / ||w_y - w_c||                  (c != y)
    d(z, y) = min_{c != y} d(z, c)                          (its own class: nearest boundary)

Each class ranks the whole unlabelled pool by ``d(., c)``, and the classes take turns, in a
seeded random order, each taking its closest sample not taken yet, until ``budget`` samples
are chosen: every class gets ``floor(budget / C)`` or one more.

All of it is ``O(n C)`` memory on the round's device: the logits are recomputed from the
penultimate features in float64 in blocks of ``chunk_size`` rows, and each class's ranking
keeps only its first ``budget`` entries (enough: before a class's last turn at most
``budget - 1`` samples are taken). Ties (equal distances) go to the earlier sample of a
seeded random order of the pool.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from vabal.errors import DataError
from vabal.learn.features import RoundFeatures
from vabal.methods.balanced import SPEC
from vabal.methods.base import FeaturesMethod, RoundContext

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------ pure functions
def weight_gaps(weight: torch.Tensor) -> torch.Tensor:
    """``||w_a - w_b||`` for every pair of rows of the last layer's weight ``(C, d)``:
    the denominators of the boundary distances, float64 ``(C, C)`` (exactly 0 on the
    diagonal and between equal rows)."""
    w = weight.double()
    return torch.cdist(w, w, compute_mode="donot_use_mm_for_euclid_dist")


def boundary_distances(
    feats: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    gaps: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances ``(n, C)`` (float64) of each sample to each class's decision boundary, and
    the predicted classes ``(n,)``.

    For ``c`` other than the predicted class ``y``: ``(l_y - l_c) / ||w_y - w_c||``, the
    distance in feature space to the hyperplane where the logits of ``y`` and ``c`` are
    equal (the closed-form smallest perturbation of the paper and its public code). For
    ``y``: the smallest of those, the distance to the nearest boundary. A pair of classes
    with equal weight rows has no boundary: distance ``+inf``. The prediction is the first
    largest logit. One block: callers chunk (:func:`class_distances`).
    """
    if gaps is None:
        gaps = weight_gaps(weight)
    logits = feats.double() @ weight.double().T + bias.double()
    pred = logits.argmax(1)
    gap = gaps[pred]  # (n, C): ||w_y - w_c||
    lead = logits.gather(1, pred[:, None]) - logits  # l_y - l_c >= 0
    dist = torch.where(gap > 0, lead / gap, torch.inf)
    rows = torch.arange(len(dist), device=dist.device)
    dist[rows, pred] = dist.min(1).values  # dist[., y] was +inf (zero gap): min over c != y
    return dist, pred


def class_distances(
    feats: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, chunk: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`boundary_distances` of all of ``feats``, in blocks of ``chunk`` rows."""
    if feats.shape[1] != weight.shape[1]:
        raise ValueError(
            f"features of dimension {feats.shape[1]} for a last layer of input {weight.shape[1]}"
        )
    gaps = weight_gaps(weight.to(feats.device))
    weight, bias = weight.to(feats.device), bias.to(feats.device)
    dist = torch.empty((len(feats), len(weight)), dtype=torch.float64, device=feats.device)
    pred = torch.empty(len(feats), dtype=torch.long, device=feats.device)
    for lo in range(0, len(feats), chunk):
        block = slice(lo, lo + chunk)
        dist[block], pred[block] = boundary_distances(feats[block], weight, bias, gaps)
    return dist, pred


def closest_per_class(dist: torch.Tensor, k: int) -> torch.Tensor:
    """For each class (column of ``dist`` ``(n, C)``), the row indices of its ``k`` closest
    samples, closest first: ``(C, min(k, n))``; equal distances keep row order."""
    k = min(k, dist.shape[0])
    out = torch.empty((dist.shape[1], k), dtype=torch.long, device=dist.device)
    for c in range(dist.shape[1]):  # one sort of n at a time: memory O(n + C k)
        out[c] = torch.sort(dist[:, c], stable=True).indices[:k]
    return out


def class_quotas(budget: int, class_order: np.ndarray) -> np.ndarray:
    """Samples each class gets (indexed by class): ``budget // C``, plus one for the first
    ``budget % C`` classes of ``class_order``."""
    quotas = np.full(len(class_order), budget // len(class_order), dtype=np.int64)
    quotas[np.asarray(class_order)[: budget % len(class_order)]] += 1
    return quotas


def round_robin(candidates: np.ndarray, budget: int, class_order: np.ndarray) -> np.ndarray:
    """``budget`` distinct samples taken in turns by the classes of ``class_order``.

    ``candidates[c]`` is class ``c``'s ranking (sample indices, best first). At its turn a
    class takes its best sample not taken yet; a class whose ranking is used up is passed
    over (the others then share its turns), which never happens when every ranking has at
    least ``budget`` entries. Returns the samples in the order taken.
    """
    candidates = np.asarray(candidates)
    k = candidates.shape[1]
    taken: set[int] = set()
    chosen: list[int] = []
    pointer = np.zeros(len(candidates), dtype=np.int64)
    while len(chosen) < budget:
        progressed = False
        for c in class_order:
            if len(chosen) == budget:
                break
            p = pointer[c]
            while p < k and int(candidates[c, p]) in taken:
                p += 1
            if p < k:
                taken.add(int(candidates[c, p]))
                chosen.append(int(candidates[c, p]))
                progressed, p = True, p + 1
            pointer[c] = p
        if not progressed:
            raise ValueError(f"the rankings hold only {len(chosen)} distinct samples")
    return np.asarray(chosen, dtype=np.int64)


def last_layer(model) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight ``(C, d)`` and bias ``(C,)`` of the classifier's final linear layer ``fc``."""
    fc = model.fc
    bias = fc.bias if fc.bias is not None else torch.zeros(fc.weight.shape[0])
    return fc.weight.detach(), bias.detach().to(fc.weight.device)


# ------------------------------------------------------------------------ the method
class Balanced(FeaturesMethod):
    """BASE: equal shares per class, each class's samples nearest to its boundary."""

    spec = SPEC

    def select(self, ctx: RoundContext, budget: int, scores=None) -> np.ndarray:
        feats = RoundFeatures(ctx)
        model, _ = ctx.load_classifier()
        weight, bias = last_layer(model)
        # the pool in a seeded random order: ties go to the earlier sample of that order
        order = ctx.rng("balanced-order").permutation(ctx.unlabelled)
        pool = feats.penultimate(order)
        if pool.shape[1] != weight.shape[1]:
            raise DataError(
                f"{ctx.files['extract_features']}: features of dimension {pool.shape[1]} "
                f"do not fit the classifier's last layer ({weight.shape[1]} inputs)"
            )
        dist, pred = class_distances(pool, weight, bias, self.params["chunk_size"])
        candidates = closest_per_class(dist, budget).cpu().numpy()
        class_order = ctx.rng("balanced-classes").permutation(dist.shape[1])
        picked = round_robin(candidates, budget, class_order)
        if log.isEnabledFor(logging.INFO) and len(picked):
            counts = np.bincount(pred.cpu().numpy()[picked], minlength=dist.shape[1])
            log.info(
                "balanced: %d samples over %d classes; predicted class counts %d..%d",
                len(picked),
                dist.shape[1],
                counts.min(),
                counts.max(),
            )
        return order[picked]
