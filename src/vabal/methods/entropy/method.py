"""Entropy sampling: the Shannon entropy of the classifier's softmax (in nats, with
``0 log 0 = 0``), highest first (Settles, *Active Learning Literature Survey*, 2009, Section 3.1;
Wang & Shang, IJCNN 2014, for deep networks).

The probabilities are the softmax (float64) of the logits of ``features.pt``; the scores go
to the default ``select`` (the ``budget`` highest, ties broken by a seeded random key). The
entropy itself is :func:`vabal.methods.bald.method.entropy`, shared with BALD.
"""

from __future__ import annotations

import torch

from vabal.methods.bald.method import entropy
from vabal.methods.entropy import SPEC
from vabal.methods.margin.method import SoftmaxUncertainty


def entropy_scores(probs: torch.Tensor) -> torch.Tensor:
    """Acquisition scores, higher = select first: ``H[p] = -sum_c p_c log p_c`` per row of
    ``probs`` ``(n, C)`` (Settles 2009, Section 3.1; natural logarithm)."""
    if probs.ndim != 2:
        raise ValueError(f"expected probabilities of shape (n, C), got {tuple(probs.shape)}")
    return entropy(probs, dim=1)


class Entropy(SoftmaxUncertainty):
    """Select the pool samples of highest predictive entropy."""

    spec = SPEC

    def uncertainty(self, probs: torch.Tensor) -> torch.Tensor:
        return entropy_scores(probs)
