"""One check that a network's numbers are finite, wherever they are written or read.

A classifier trained too hard (a high learning rate, a long schedule) can diverge: its loss,
weights, logits and features become NaN or infinite. Nothing downstream would notice: k-means
puts the whole pool in one cluster, k-means++ picks the NaN sample first, a ranking puts NaN
rows last. So the training, the evaluation, the feature extraction and every reader of a
classifier or a features file call :func:`require_finite`, which raises one
:class:`~vabal.errors.DivergedError` naming the run and round (read from the file's path)
before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vabal import layout
from vabal.errors import DivergedError


def count_nonfinite(values) -> tuple[int, int]:
    """(non-finite entries, entries) of a tensor, an array, or a list or dict of them."""
    if isinstance(values, dict):
        values = list(values.values())
    if isinstance(values, list | tuple):
        counts = [count_nonfinite(v) for v in values]
        return sum(c[0] for c in counts), sum(c[1] for c in counts)
    if isinstance(values, torch.Tensor):
        if not (values.is_floating_point() or values.is_complex()):
            return 0, values.numel()
        return int((~torch.isfinite(values)).sum()), values.numel()
    arr = np.asarray(values)
    if not np.issubdtype(arr.dtype, np.inexact):
        return 0, arr.size
    return int((~np.isfinite(arr)).sum()), arr.size


def require_finite(what: str, values, where: str | Path | None = None) -> None:
    """Raise :class:`DivergedError` when ``values`` hold NaN or infinity.

    ``where`` is a file of the round (its path names the run and round) or a description.
    """
    bad, total = count_nonfinite(values)
    if bad:
        place = layout.describe(where) if where is not None else "this job"
        raise DivergedError(
            f"{place}: {what} has {bad} non-finite values (NaN or inf) of {total}: the "
            "classifier diverged; lower training.lr, add warm-up or shorten the training"
        )
