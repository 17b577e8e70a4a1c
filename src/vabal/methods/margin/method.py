"""Margin sampling (Scheffer, Decomain & Wrobel, IDA 2001).

A pool sample's margin is the gap between the two largest softmax probabilities of the
classifier, ``p_(1) - p_(2)``; the samples of smallest margin, those nearest to the decision
between their two most likely classes, are labelled first. The score handed to the default
``select`` is the negated margin (higher = select first); equal scores are broken by the
seeded random key of :func:`vabal.methods.base.top_k`.

The probabilities are the softmax (float64) of the logits of ``features.pt``, the output of
the ``extract_features`` step. :class:`SoftmaxUncertainty` is the part shared with the other
methods that score a pool sample from its softmax alone (entropy sampling).
"""

from __future__ import annotations

import numpy as np
import torch

from vabal.learn.features import RoundFeatures
from vabal.methods.base import FeaturesMethod, RoundContext
from vabal.methods.margin import SPEC


# ------------------------------------------------------------------------ pure functions
def margin(probs: torch.Tensor) -> torch.Tensor:
    """The gap ``p_(1) - p_(2)`` between the two largest probabilities of each row ``(n, C)``
    (Scheffer et al. 2001: the margin of the most likely class over the runner-up)."""
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(f"expected probabilities of shape (n, C >= 2), got {tuple(probs.shape)}")
    top = torch.topk(probs, 2, dim=1).values
    return top[:, 0] - top[:, 1]


def margin_scores(probs: torch.Tensor) -> torch.Tensor:
    """Acquisition scores, higher = select first: the negated margin."""
    return -margin(probs)


# ------------------------------------------------------------------------ the methods
class SoftmaxUncertainty(FeaturesMethod):
    """A method scoring each unlabelled sample from the classifier's softmax alone.

    Subclasses set ``spec`` (their package's ``SPEC``) and :meth:`uncertainty`.
    """

    spec = SPEC

    def uncertainty(self, probs: torch.Tensor) -> torch.Tensor:
        """One score per row of ``probs`` ``(n, C)``, higher = select first."""
        raise NotImplementedError

    def score(self, ctx: RoundContext):
        probs = RoundFeatures(ctx).probs(ctx.unlabelled)
        scores = self.uncertainty(probs).cpu().numpy().astype(np.float64)
        top = probs.max(1).values
        diagnostics = {"mean_max_prob": float(top.mean()) if len(top) else 0.0}
        return scores, diagnostics


class Margin(SoftmaxUncertainty):
    """Select the pool samples whose two most probable classes are closest."""

    spec = SPEC

    def uncertainty(self, probs: torch.Tensor) -> torch.Tensor:
        return margin_scores(probs)
