"""MC-Dropout with BALD acquisition (Gal et al., ICML 2017; Houlsby et al., 2011).

The classifier of this method is the project's ResNet trained with dropout of rate 0.25
before each residual block (the registry adds ``dropout: 0.25`` to its training recipe).
At scoring time BatchNorm uses its running statistics (``model.eval()``) while dropout stays
on (``model.mc = True``); ``mc_samples`` stochastic passes give, per pool sample, the
Bayesian Active Learning by Disagreement score, the mutual information between the
prediction and the weights::

    MI = H[mean_t p_t] - mean_t H[p_t]          (natural logarithm, nats)

The passes are streamed: per batch of images only the running sum of the class
probabilities and the running sum of the per-pass entropies are kept (memory ``N x C``,
never ``T x N x C``). Dropout masks come from torch's generator seeded by the run seed and
round, so the same seed gives the same scores on the same device.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from vabal import seeding
from vabal.errors import DataError
from vabal.learn.finite import require_finite
from vabal.learn.training import Compute
from vabal.methods.bald import SPEC
from vabal.methods.base import Method, RoundContext
from vabal.progress import Progress

log = logging.getLogger(__name__)

DROPOUT = SPEC.classifier["dropout"]  #: before each residual block (Section 4.2)


# ------------------------------------------------------------------------ pure functions
def entropy(probs: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shannon entropy (nats) along ``dim``, with ``0 log 0 = 0``."""
    return torch.special.entr(probs).sum(dim)


def mutual_information(probs: torch.Tensor) -> torch.Tensor:
    """BALD scores from stacked MC probabilities ``(T, N, C)``: ``H[mean p] - mean H[p]``."""
    if probs.ndim != 3:
        raise ValueError(f"expected probabilities of shape (T, N, C), got {tuple(probs.shape)}")
    return (entropy(probs.mean(0)) - entropy(probs).mean(0)).clamp_min(0)


def bald_from_sums(prob_sum: torch.Tensor, entropy_sum: torch.Tensor, passes: int):
    """BALD scores from running sums over ``passes`` of the probabilities ``(N, C)`` and of
    the per-pass entropies ``(N,)``; equals :func:`mutual_information` of the stacked passes."""
    if passes < 1:
        raise ValueError("at least one pass is needed")
    return (entropy(prob_sum / passes) - entropy_sum / passes).clamp_min(0)


class BaldAccumulator:
    """Running sums of MC probabilities and entropies for ``n`` samples (memory ``n x C``)."""

    def __init__(self):
        self.prob_sum: torch.Tensor | None = None
        self.entropy_sum: torch.Tensor | None = None
        self.passes = 0

    def add(self, probs: torch.Tensor) -> None:
        """Add one stochastic pass: probabilities ``(n, C)``."""
        probs = probs.double()
        if self.prob_sum is None:
            self.prob_sum = torch.zeros_like(probs)
            self.entropy_sum = torch.zeros(probs.shape[0], dtype=probs.dtype, device=probs.device)
        self.prob_sum += probs
        self.entropy_sum += entropy(probs)
        self.passes += 1

    def mutual_information(self) -> torch.Tensor:
        return bald_from_sums(self.prob_sum, self.entropy_sum, self.passes)

    def predictive_entropy(self) -> torch.Tensor:
        return entropy(self.prob_sum / self.passes)

    def expected_entropy(self) -> torch.Tensor:
        return self.entropy_sum / self.passes


@torch.no_grad()
def mc_bald(
    model,
    images: np.ndarray,
    mean,
    std,
    mc_samples: int,
    batch_size: int = 1024,
    amp: str = "auto",
    seed: int = 0,
    channels_last: str | bool = "auto",
) -> dict[str, np.ndarray]:
    """Per-image BALD, predictive entropy and expected entropy under MC dropout.

    ``images`` are uint8 (N, H, W, C); the model is put in eval mode with dropout kept on.
    Each batch of ``batch_size`` images is moved to the device once and passed through the
    network ``mc_samples`` times.
    """
    compute, model = Compute.inference(model, amp, channels_last)
    device = compute.device
    model.mc = True
    out = {"bald": [], "predictive_entropy": [], "expected_entropy": []}
    devices = [device] if device.type == "cuda" else []
    progress = Progress(log, f"BALD, {mc_samples} passes each, samples scored", len(images))
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            for lo in range(0, len(images), batch_size):
                chunk = compute.images(images[lo : lo + batch_size], mean, std)
                x = chunk.batch(torch.arange(len(chunk.data), device=device))
                acc = BaldAccumulator()
                for _ in range(mc_samples):
                    with compute.autocast():
                        logits = model(x)
                    acc.add(torch.softmax(logits.float(), dim=1))
                out["bald"].append(acc.mutual_information().cpu())
                out["predictive_entropy"].append(acc.predictive_entropy().cpu())
                out["expected_entropy"].append(acc.expected_entropy().cpu())
                progress.update(lo + len(chunk.data))
    finally:
        model.mc = False
    return {k: torch.cat(v).numpy() if v else np.zeros(0, dtype=np.float64) for k, v in out.items()}


# ------------------------------------------------------------------------ the method
class MCDropoutBALD(Method):
    """Select the pool samples of highest BALD mutual information under MC dropout."""

    spec = SPEC

    def score(self, ctx: RoundContext):
        model, ckpt = ctx.load_classifier()
        if float(ckpt.get("dropout", 0.0)) <= 0:
            raise DataError(
                f"{ctx.files['classifier']}: MC-Dropout needs a classifier trained with "
                "dropout (recipe key 'dropout' > 0)"
            )
        seed = seeding.derive(ctx.seed, "round", ctx.round, "bald")
        scored = scored_positions(len(ctx.unlabelled), self.params["subset"], ctx.rng("subset"))
        result = mc_bald(
            model,
            np.asarray(ctx.store.images[ctx.unlabelled[scored]]),
            ckpt["mean"],
            ckpt["std"],
            self.params["mc_samples"],
            self.params["batch_size"],
            ctx.recipe["amp"],
            seed,
            ctx.recipe["channels_last"],
        )
        require_finite("the MC-Dropout predictions", result, ctx.files["classifier"])
        diagnostics = {
            "mc_samples": self.params["mc_samples"],
            "n_scored": len(scored),
            "dropout": float(ckpt["dropout"]),
            "mean_predictive_entropy": float(result["predictive_entropy"].mean())
            if len(ctx.unlabelled)
            else 0.0,
            "mean_expected_entropy": float(result["expected_entropy"].mean())
            if len(ctx.unlabelled)
            else 0.0,
        }
        return fill_unscored(len(ctx.unlabelled), scored, result["bald"]), diagnostics


def scored_positions(n: int, subset: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of the pool samples to score: all of them, or a uniform random ``subset``
    (sorted), as many active-learning codes score a random part of a large pool."""
    if not subset or subset >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=subset, replace=False))


def fill_unscored(n: int, scored: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Scores for the whole pool: ``values`` at ``scored``, and below every one of them
    elsewhere, so an unscored sample is chosen only once the scored ones run out (ties
    among those are broken by the seeded key of ``select``: uniformly at random)."""
    values = np.asarray(values, dtype=np.float64)
    if len(scored) == n:
        return values
    out = np.full(n, (values.min() if len(values) else 0.0) - 1.0)
    out[scored] = values
    return out
