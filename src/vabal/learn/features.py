"""The ``extract_features`` step shared by methods that read the classifier's features.

For every labelled and unlabelled pool sample: the globally average-pooled outputs of the
classifier's four residual stages (the "four layers" of Section 3.4; the last one is the
penultimate feature Core-set uses) and the classifier's logits. Stored with
``torch.save`` as a dict of tensors (``features.pt``): it loads without pickle code
(``weights_only``), keeps dtypes, and goes straight to the device; the taps are float16 to
halve the file (they are post-ReLU averages, well inside float16's range), logits float32.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from vabal.learn.finite import require_finite
from vabal.learn.training import Compute
from vabal.progress import Progress

log = logging.getLogger(__name__)


@torch.no_grad()
def extract(
    model,
    images: np.ndarray,
    mean,
    std,
    batch_size: int = 1024,
    amp: str = "auto",
    channels_last: str | bool = "auto",
):
    """Pooled stage outputs (list of 4 float16 tensors) and float32 logits of ``images``."""
    compute, model = Compute.inference(model, amp, channels_last)
    device = compute.device
    taps, logits = [[] for _ in range(4)], []
    progress = Progress(log, "features extracted", len(images))
    for lo in range(0, len(images), batch_size):
        chunk = compute.images(images[lo : lo + batch_size], mean, std)
        x = chunk.batch(torch.arange(len(chunk.data), device=device))
        with compute.autocast():
            pooled, out = model.taps(x)
        for store, feat in zip(taps, pooled, strict=True):
            store.append(feat.to(torch.float16).cpu())
        logits.append(out.float().cpu())
        progress.update(lo + len(chunk.data))
    return [torch.cat(t) for t in taps], torch.cat(logits)


def extract_round(ctx) -> dict:
    """Features of the labelled then the unlabelled samples of a round (one dict)."""
    model, ckpt = ctx.load_classifier()
    ids = np.concatenate([ctx.labelled, ctx.unlabelled])
    taps, logits = extract(
        model,
        np.asarray(ctx.store.images[ids]),
        ckpt["mean"],
        ckpt["std"],
        ctx.recipe["eval_batch_size"],
        ctx.recipe["amp"],
        ctx.recipe["channels_last"],
    )
    # float16 taps overflow to inf long before float32 would: a diverged classifier
    require_finite("the classifier's features and logits", [*taps, logits], ctx.files["classifier"])
    return {
        "sample_id": torch.from_numpy(ids),
        "labelled": torch.from_numpy(np.isin(ids, ctx.labelled)),
        "taps": taps,
        "logits": logits,
        "pred": logits.argmax(1),
    }


def load_round_features(path) -> dict:
    """Read a ``features.pt`` written by :func:`extract_round`, checking its keys."""
    from vabal import io
    from vabal.errors import DataError

    data = io.load_torch(path)
    missing = {"sample_id", "labelled", "taps", "logits", "pred"} - set(data)
    if missing:
        raise DataError(f"{path}: not a features file (missing {sorted(missing)})")
    require_finite("the classifier's features and logits", [*data["taps"], data["logits"]], path)
    return data


class RoundFeatures:
    """A round's ``features.pt``, checked against the round's labelled and unlabelled sets,
    with rows looked up by sample id and moved to the round's device.

    The methods that read the classifier's features (Core-set, BADGE, TypiClust, margin,
    entropy, the class-balanced selector) all go through it.
    """

    def __init__(self, ctx):
        from vabal.errors import DataError

        path = ctx.files["extract_features"]
        self.data = load_round_features(path)
        self.ids = self.data["sample_id"].numpy()
        labelled = self.data["labelled"].numpy().astype(bool)
        if not (
            np.array_equal(np.sort(self.ids[labelled]), ctx.labelled)
            and np.array_equal(np.sort(self.ids[~labelled]), ctx.unlabelled)
        ):
            raise DataError(f"{path}: features do not match this round's labelled/unlabelled sets")
        self.device = ctx.device
        self._by_id = np.argsort(self.ids)
        self._on_device: dict[str, torch.Tensor] = {}

    def _all(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        """Every row of ``tensor`` as float32 on the device, moved once per file."""
        if name not in self._on_device:
            self._on_device[name] = tensor.to(device=self.device, dtype=torch.float32)
        return self._on_device[name]

    def rows(self, sample_ids: np.ndarray) -> torch.Tensor:
        """Row indices (on the device) of ``sample_ids`` in the file."""
        found = self._by_id[np.searchsorted(self.ids, sample_ids, sorter=self._by_id)]
        return torch.as_tensor(found, dtype=torch.long, device=self.device)

    def penultimate(self, sample_ids: np.ndarray) -> torch.Tensor:
        """Penultimate features (the last stage's pooled output), float32, ``(n, d)``."""
        return self._all("penultimate", self.data["taps"][3])[self.rows(sample_ids)]

    def logits(self, sample_ids: np.ndarray) -> torch.Tensor:
        """The classifier's logits, float32, ``(n, C)``."""
        return self._all("logits", self.data["logits"])[self.rows(sample_ids)]

    def probs(self, sample_ids: np.ndarray) -> torch.Tensor:
        """Softmax class probabilities (float64, for exact ties and sums), ``(n, C)``."""
        return torch.softmax(self.logits(sample_ids).double(), dim=1)
