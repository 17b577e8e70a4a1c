"""VaB-AL's VAE (Section 3.3-3.4 of the paper): the model, its equations, training and scoring.

The VAE reads the classifier's pooled stage features (:mod:`vabal.learn.features`). Each stage is
normalised per feature with the statistics of the unlabelled pool (batch normalisation at
its inference statistics, fixed for the whole round), embedded by a fully connected layer
of 128 sigmoid units, and the four embeddings are concatenated into the 512-d input of the
encoder. The latent space has ``latent_per_class`` dimensions per class; block ``C_n`` (the
dimensions ``n*K .. n*K+K-1``) belongs to class ``n``.

The decoder reconstructs the *normalised pooled features* (not the learned 512-d
embedding) under a Gaussian of unit variance, so ``p(x|z)`` is a density over a fixed
target that no learned layer can shrink; see ``docs/method.md`` for why.

Every equation of the paper lives in one function whose docstring names it:

==========================  ===========================================================
Eq. 6                       :func:`misclassification_score`
Eq. 7                       :func:`predict_class` (with :func:`absence_weights`)
Eq. 8                       :func:`class_loss`
Eq. 9                       :func:`elbo` (with :func:`gaussian_log_likelihood`,
                            :func:`kl_divergence`)
Eq. 10                      :func:`vae_loss`
Eq. 11                      :func:`label_difficulty`
Eq. 12                      :func:`class_prior`
how p(x|y^) enters Eq. 6    :func:`likelihood_temperature` (the ``reading``);
                            :func:`authors_score` and :func:`authors_loss` (the public
                            code's score)
==========================  ===========================================================

All randomness (initial weights, batch order, reparameterisation noise, Monte Carlo draws)
comes from integer seeds through :class:`torch.Generator` objects, so the same seed gives
the same numbers on the same device.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vabal.progress import Progress

log = logging.getLogger(__name__)

W_TYPES = ("z2", "abs", "sigmoid")
#: How ``log p(x|y^_n)`` enters Eq. 6 (see :func:`likelihood_temperature`, docs/method.md).
READINGS = ("standardised", "per_feature", "literal", "authors")
LOG_2PI = math.log(2 * math.pi)
#: Elements of the largest temporary tensor (draws x samples x features) scoring allocates.
CHUNK_ELEMENTS = 1 << 24


# ----------------------------------------------------------------------------- model
class FeatureNorm(nn.Module):
    """Per-feature standardisation with fixed statistics (batch normalisation at inference).

    :meth:`fit` sets the mean and variance from the unlabelled pool once per round; the
    same statistics then serve training and scoring, so the reconstruction target of a
    sample does not depend on the batch it falls in.
    """

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("var", torch.ones(dim))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        if len(x) == 0:
            return
        self.mean.copy_(x.mean(0))
        self.var.copy_(x.var(0, unbiased=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / torch.sqrt(self.var + self.eps)


def mlp(sizes: list[int]) -> nn.Sequential:
    """Fully connected layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VaBALVAE(nn.Module):
    """Stage embeddings (norm -> FC 128 -> sigmoid, concatenated) and a Gaussian VAE.

    The encoder has four fully connected layers: three of ``hidden`` ReLU units and the
    latent layer (mean and log-variance of ``latent_per_class * num_classes`` dimensions).
    The decoder mirrors it: three hidden ReLU layers and a linear output with one unit per
    normalised pooled feature.
    """

    def __init__(
        self,
        stage_dims: list[int],
        num_classes: int,
        latent_per_class: int = 10,
        embed: int = 128,
        hidden: int = 128,
    ):
        super().__init__()
        self.stage_dims = [int(d) for d in stage_dims]
        self.num_classes = int(num_classes)
        self.latent_per_class = int(latent_per_class)
        self.latent_dim = self.num_classes * self.latent_per_class
        self.norms = nn.ModuleList(FeatureNorm(d) for d in self.stage_dims)
        self.embeds = nn.ModuleList(
            nn.Sequential(nn.Linear(d, embed), nn.Sigmoid()) for d in self.stage_dims
        )
        self.encoder = mlp([embed * len(self.stage_dims), hidden, hidden, hidden])
        self.encoder.append(nn.ReLU())
        self.latent = nn.Linear(hidden, 2 * self.latent_dim)
        self.decoder = mlp([self.latent_dim, hidden, hidden, hidden, sum(self.stage_dims)])

    def config(self) -> dict:
        return {
            "stage_dims": self.stage_dims,
            "num_classes": self.num_classes,
            "latent_per_class": self.latent_per_class,
            "embed": self.embeds[0][0].out_features,
            "hidden": self.latent.in_features,
        }

    def fit_norms(self, taps: list[torch.Tensor]) -> None:
        for norm, t in zip(self.norms, taps, strict=True):
            norm.fit(t)

    def target(self, taps: list[torch.Tensor]) -> torch.Tensor:
        """The reconstruction target: the normalised pooled features, concatenated."""
        return torch.cat([n(t) for n, t in zip(self.norms, taps, strict=True)], 1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The 512-d input of the encoder from the normalised features ``x``."""
        parts = torch.split(x, self.stage_dims, 1)
        return torch.cat([e(p) for e, p in zip(self.embeds, parts, strict=True)], 1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of ``q(z|x)`` for normalised features ``x``."""
        mu, logvar = self.latent(self.encoder(self.embed(x))).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


def build_vae(config: dict) -> VaBALVAE:
    return VaBALVAE(**config)


def sample_latent(
    mu: torch.Tensor, logvar: torch.Tensor, draws: int | None, generator: torch.Generator
) -> torch.Tensor:
    """``z ~ q(z|x)`` by reparameterisation: (B, L) for ``draws=None``, else (draws, B, L)."""
    shape = mu.shape if draws is None else (draws, *mu.shape)
    eps = torch.randn(shape, device=mu.device, dtype=mu.dtype, generator=generator)
    return reparameterise(mu, logvar, eps)


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """``z = mu + eps * sigma`` for standard normal noise ``eps`` (the reparameterisation)."""
    return mu + eps * torch.exp(0.5 * logvar)


# ----------------------------------------------------------------------------- equations
def absence_weights(z: torch.Tensor, num_classes: int, w_type: str = "z2") -> torch.Tensor:
    """``w_n = sum_{j in C_n} f(z_j)`` for every class (Eq. 7-8), shape ``(..., N_c)``.

    ``f`` is ``z^2`` (``w_type="z2"``, the paper's choice), ``|z|`` (``"abs"``) or
    ``sigmoid(z)`` (``"sigmoid"``), the variants of Table 2. Block ``C_n`` is the ``n``-th
    run of ``L / N_c`` consecutive latent dimensions.
    """
    blocks = z.unflatten(-1, (num_classes, -1))
    if w_type == "z2":
        f = blocks.square()
    elif w_type == "abs":
        f = blocks.abs()
    elif w_type == "sigmoid":
        f = torch.sigmoid(blocks)
    else:
        raise ValueError(f"unknown w_type {w_type!r} (known: {', '.join(W_TYPES)})")
    return f.sum(-1)


def predict_class(z: torch.Tensor, num_classes: int, w_type: str = "z2") -> torch.Tensor:
    """Eq. 7: the VAE's prediction ``argmin_n w_n``: the class whose latent block is absent."""
    return absence_weights(z, num_classes, w_type).argmin(-1)


def mask_block(z: torch.Tensor, cls: torch.Tensor | int, num_classes: int) -> torch.Tensor:
    """``z`` with the latent block ``C_cls`` set to zero (the conditioning of ``p(x|y_n)``).

    ``cls`` is one class or one per sample, broadcast against ``z.shape[:-1]``.
    """
    blocks = z.unflatten(-1, (num_classes, -1))
    cls = torch.as_tensor(cls, device=z.device)
    onehot = F.one_hot(cls, num_classes).to(torch.bool)
    return blocks.masked_fill(onehot.unsqueeze(-1), 0.0).flatten(-2)


def class_loss(
    z: torch.Tensor, target: torch.Tensor, num_classes: int, w_type: str = "z2"
) -> torch.Tensor:
    """Eq. 8: ``L_Class = H(softmax(-w), onehot(target))``, the mean over the batch.

    ``target`` is the classifier's prediction of each sample.
    """
    return F.cross_entropy(-absence_weights(z, num_classes, w_type), target)


def gaussian_log_likelihood(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """``log N(x; x_hat, I)`` summed over the last dimension: the decoder's ``p(x|z)``."""
    return -0.5 * ((x - x_hat).square() + LOG_2PI).sum(-1)


def kl_divergence(
    mu: torch.Tensor, logvar: torch.Tensor, keep: torch.Tensor | None = None
) -> torch.Tensor:
    """``D_KL(q(z|x) || N(0, I))`` summed over the latent dimensions (those in ``keep``)."""
    kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)
    if keep is not None:
        kl = kl * keep
    return kl.sum(-1)


def elbo(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    keep: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. 9: the evidence lower bound ``E_q[log p(x|z)] - D_KL(q(z|x) || p(z))`` (= -L_VAE).

    ``x_hat`` is the decoding of one draw of ``z`` per sample, shape ``(B, D)``, or of
    several, ``(S, B, D)``: the expectation is their Monte Carlo mean. ``keep`` (0/1 per
    latent dimension, broadcast against ``mu``) restricts the KL term to the dimensions
    that are not masked, the latent space of the class-conditioned VAE. One value per
    sample, in nats.
    """
    log_px = gaussian_log_likelihood(x, x_hat)
    if x_hat.dim() == x.dim() + 1:
        log_px = log_px.mean(0)
    return log_px - kl_divergence(mu, logvar, keep)


def vae_loss(
    neg_elbo: torch.Tensor, cls_loss: torch.Tensor, lam: float, num_features: int
) -> torch.Tensor:
    """Eq. 10: ``L = L_VAE + lambda * L_Class``.

    ``L_VAE`` is the batch mean of ``-ELBO`` divided by the number of reconstructed
    features, i.e. nats per feature: the optimum of the VAE term is unchanged, and
    ``lambda`` weighs the class loss against a quantity whose scale does not grow with the
    width of the classifier (documented in ``docs/method.md``).
    """
    return neg_elbo.mean() / num_features + lam * cls_loss


def confusion_counts(
    labels: torch.Tensor, predicted: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """``C[y, n]``: Monte Carlo count of samples of label ``y`` that the VAE predicts ``n``.

    ``predicted`` is ``(S, B)`` (one Eq. 7 prediction per draw) or ``(B,)``; each sample
    contributes the fraction of its draws, so ``C.sum() == B`` and the counts are the
    expectations over ``x in P_L`` and ``z ~ q(z|x)`` of Eq. 11-12 times ``|P_L|``.
    """
    if predicted.dim() == 1:
        predicted = predicted.unsqueeze(0)
    draws = predicted.shape[0]
    flat = labels.unsqueeze(0).expand_as(predicted) * num_classes + predicted
    counts = torch.bincount(flat.reshape(-1), minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).double() / draws


def label_difficulty(counts: torch.Tensor, smoothing: float = 1.0) -> torch.Tensor:
    """Eq. 11: ``p(y_n | y^_n)``, the fraction of samples predicted ``n`` whose label is ``n``.

    ``counts`` is :func:`confusion_counts` on the labelled pool. Additive smoothing of
    ``smoothing`` pseudo-samples on each outcome (right/wrong): a class the VAE never
    predicts gets 1/2 instead of 0/0.
    """
    right = counts.diagonal()
    predicted = counts.sum(0)
    return (right + smoothing) / (predicted + 2 * smoothing)


def class_prior(counts: torch.Tensor, smoothing: float = 1.0) -> torch.Tensor:
    """Eq. 12: ``p(y^_n)``, the fraction of labelled samples the VAE predicts as ``n``.

    Additive smoothing of ``smoothing`` pseudo-samples per class: a class the VAE never
    predicts gets a small positive prior instead of 0.
    """
    predicted = counts.sum(0)
    return (predicted + smoothing) / (predicted.sum() + smoothing * counts.shape[0])


def misclassification_score(
    log_likelihood: torch.Tensor,
    log_difficulty: torch.Tensor,
    log_prior: torch.Tensor,
    predicted: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. 6 in log space: ``-log sum_n p(y_n|y^_n) p(x|y^_n) p(y^_n)``; higher = more
    likely misclassified (the paper's ``p(y != y^|x)`` is proportional to ``-sum_n ...``,
    and ``-log`` of the sum ranks the same way).

    With ``predicted=None``, ``log_likelihood`` is ``(B, N_c)`` and every class contributes
    (computed with log-sum-exp, so ELBOs of hundreds of nats do not underflow). With
    ``predicted`` (``(B,)``, the VAE's Eq. 7 class of each sample) ``log_likelihood`` is
    ``(B,)``, ``log p(x|y^)`` for that class only, and only that term of the sum is kept.
    A term set to 1 (Table 1's ablations) is a zero log vector.
    """
    if predicted is None:
        terms = log_difficulty + log_likelihood + log_prior
        return -torch.logsumexp(terms, dim=-1)
    return -(log_difficulty[predicted] + log_likelihood + log_prior[predicted])


def likelihood_temperature(reading: str, log_likelihood: torch.Tensor, num_features: int) -> float:
    """The temperature ``T`` of the likelihood in Eq. 6: the score uses ``log p(x|y^_n) / T``,
    i.e. the tempered likelihood ``p(x|y^_n)^(1/T)`` (``reading``, docs/method.md).

    * ``literal``: ``T = 1``, the lower bound of Eq. 9 in nats. Summed over every
      reconstructed feature, its spread across the pool is tens of nats, against about two
      for ``log p(y^_n)`` and ``log p(y_n|y^_n)``: those two terms cannot move a selection.
    * ``per_feature``: ``T = D``, the number of reconstructed features: nats per feature, the
      scale of ``L_VAE`` in training (:func:`vae_loss`) and of the authors' public code
      (squared error and KL averaged over dimensions).
    * ``standardised``: ``T`` = the standard deviation across the pool of each sample's
      ``log p(x|y^)`` (``log_likelihood``, the VAE class's term): one unit of spread.

    ``authors`` has no temperature (its score is :func:`authors_score`); 1 is returned.
    """
    if reading == "per_feature":
        return float(num_features)
    if reading == "standardised":
        if log_likelihood.numel() < 2:
            return 1.0
        return max(float(log_likelihood.double().std()), 1e-12)
    if reading in ("literal", "authors"):
        return 1.0
    raise ValueError(f"unknown reading {reading!r} (known: {', '.join(READINGS)})")


def authors_loss(
    x: torch.Tensor, x_hat: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """The public code's stand-in for ``p(x|y^_n)``: a loss per sample, the squared error
    averaged over the reconstructed features (and the draws of ``x_hat``, ``(S, B, D)``)
    plus the KL term averaged over the latent dimensions (of the unmasked posterior, as the
    code computes it)."""
    sq = (x - x_hat).square().mean(-1)
    if x_hat.dim() == x.dim() + 1:
        sq = sq.mean(0)
    return sq + kl_divergence(mu, logvar) / mu.shape[-1]


def authors_score(loss: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """The public code's score: ``1 - sum_n p(y^_n) loss_n(x)``, highest first.

    ``loss`` is ``(B, N_c)`` (:func:`authors_loss` with block ``C_n`` masked), ``prior`` the
    share of the VAE's Eq. 7 predictions on the *unlabelled* pool per class (the code's
    prior; the paper's Eq. 12 counts the labelled pool). ``p(y_n|y^_n)`` is not used.
    """
    return 1.0 - (loss * prior).sum(-1)


def term_spread(values: torch.Tensor) -> dict:
    """Spread of one log-term across the pool: standard deviation and 5th/95th percentiles."""
    v = values.double().flatten()
    if v.numel() == 0:
        return {"std": None, "p05": None, "p95": None}
    q = torch.quantile(v, torch.tensor([0.05, 0.95], dtype=v.dtype, device=v.device))
    return {
        "std": float(v.std()) if v.numel() > 1 else 0.0,
        "p05": float(q[0]),
        "p95": float(q[1]),
    }


# ----------------------------------------------------------------------------- training
def seeded_generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed))


def new_vae(stage_dims, num_classes, latent_per_class, seed: int) -> VaBALVAE:
    """A freshly initialised VAE whose weights depend on ``seed`` only."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return VaBALVAE(stage_dims, num_classes, latent_per_class)


def train_vae(
    taps: list[torch.Tensor],
    targets: torch.Tensor,
    num_classes: int,
    params: dict,
    device: torch.device,
    init_seed: int,
    batch_seed: int,
    fast: bool = False,
) -> tuple[VaBALVAE, list[dict], float]:
    """Train the VAE on ``taps`` (the unlabelled pool) with ``targets`` (the classifier's
    predictions) by Eq. 10 and Adam; returns the model, one record per epoch and seconds.

    Each epoch draws its permutation and the reparameterisation noise of every sample up
    front, so a step is a pure function of its batch. ``fast`` on CUDA replays each step as
    a recorded CUDA graph (:class:`vabal.learn.graphs.GraphedStep`, Adam with ``capturable``);
    the step is launch-bound at batch 64, and the graph makes it one launch.
    """
    from vabal.learn.graphs import GraphedStep, optimizer_state

    taps = [t.to(device=device, dtype=torch.float32) for t in taps]
    targets = targets.to(device=device, dtype=torch.long)
    model = new_vae([t.shape[1] for t in taps], num_classes, params["latent_per_class"], init_seed)
    model.to(device)
    model.fit_norms(taps)
    x_all = model.target(taps)
    gen = seeded_generator(device, batch_seed)
    graphed = fast and device.type == "cuda"
    optimizer = torch.optim.Adam(model.parameters(), lr=params["lr"], capturable=graphed)
    n, bs, lam, w_type = len(targets), params["batch_size"], params["lambda"], params["w_type"]
    num_features = x_all.shape[1]
    sums = torch.zeros(5, device=device, dtype=torch.float64)

    def compute(x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor) -> None:
        mu, logvar = model.encode(x)
        z = reparameterise(mu, logvar, eps)
        x_hat = model.decode(z)
        log_px = gaussian_log_likelihood(x, x_hat)
        kl = kl_divergence(mu, logvar)
        neg_elbo = kl - log_px
        cls = class_loss(z, y, num_classes, w_type)
        loss = vae_loss(neg_elbo, cls, lam, num_features)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            agree = (predict_class(z, num_classes, w_type) == y).sum()
            parts = [neg_elbo.sum(), -log_px.sum(), kl.sum(), cls * len(y), agree]
            sums.add_(torch.stack(parts).double())

    step = GraphedStep(
        compute, lambda: [*model.parameters(), *optimizer_state(optimizer), sums], graphed
    )
    history = []
    start = time.perf_counter()
    model.train()
    for epoch in range(params["epochs"]):
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=device, generator=gen)
        eps = torch.randn(n, model.latent_dim, device=device, generator=gen)
        xs, ys = x_all[perm], targets[perm]
        sums.zero_()
        for lo in range(0, n, bs):
            step(xs[lo : lo + bs], ys[lo : lo + bs], eps[lo : lo + bs])
        s = (sums / max(n, 1)).tolist()
        record = {
            "epoch": epoch + 1,
            "neg_elbo": s[0],
            "recon_nll": s[1],
            "kl": s[2],
            "class_loss": s[3],
            "loss": s[0] / num_features + lam * s[3],
            "agreement": s[4],
            "seconds": time.perf_counter() - t0,
        }
        history.append(record)
        log.info(
            "vae epoch %(epoch)d loss %(loss).4f -elbo %(neg_elbo).2f (recon %(recon_nll).2f "
            "kl %(kl).2f) class %(class_loss).4f agreement %(agreement).3f %(seconds).2fs",
            record,
        )
    model.eval()
    return model, history, time.perf_counter() - start


@torch.no_grad()
def collapse_diagnostics(model: VaBALVAE, taps: list[torch.Tensor]) -> dict:
    """How much of the input the trained VAE keeps, on ``taps`` (the unlabelled pool).

    * ``embedding_variance``: mean over the 512 embedding units of their variance across
      samples (0 when the embedding is constant);
    * ``latent_mean_variance`` and ``active_units``: mean variance across samples of the
      encoder's means, and the number of latent dimensions where it exceeds 0.01 (Burda et
      al.'s active units; 0 when the posterior ignores the input);
    * ``recon_r2``: 1 - (reconstruction error from the posterior mean) / (error of
      predicting the feature means), over the normalised features (0 for a decoder that
      outputs a constant, 1 for a perfect one).
    """
    device = next(model.parameters()).device
    n = len(taps[0])
    if n == 0:
        return {"latent_dim": model.latent_dim}
    # first and second moments, accumulated over chunks of the pool (float64)
    moments = {k: [0.0, 0.0] for k in ("x", "emb", "mu")}
    sq_err = 0.0
    step = chunk_size(1, max(model.latent_dim, sum(model.stage_dims)))
    for lo in range(0, n, step):
        x = model.target([t[lo : lo + step].to(device=device, dtype=torch.float32) for t in taps])
        mu, _ = model.encode(x)
        sq_err = sq_err + (x - model.decode(mu)).square().sum(0).double()
        for key, v in (("x", x), ("emb", model.embed(x)), ("mu", mu)):
            moments[key][0] = moments[key][0] + v.sum(0).double()
            moments[key][1] = moments[key][1] + v.square().sum(0).double()
    var = {k: (s2 / n - (s1 / n).square()).clamp_min(0) for k, (s1, s2) in moments.items()}
    baseline = (var["x"] * n).sum()
    return {
        "embedding_variance": var["emb"].mean().item(),
        "latent_mean_variance": var["mu"].mean().item(),
        "active_units": int((var["mu"] > 0.01).sum().item()),
        "latent_dim": model.latent_dim,
        "recon_r2": (1.0 - sq_err.sum() / baseline.clamp_min(1e-12)).item(),
    }


# ----------------------------------------------------------------------------- inference
def chunk_size(draws: int, width: int, limit: int = CHUNK_ELEMENTS) -> int:
    """Samples per chunk so that a ``(draws, chunk, width)`` tensor stays under ``limit``."""
    return max(1, limit // max(1, draws * width))


@torch.no_grad()
def predict_draws(
    model: VaBALVAE,
    x: torch.Tensor,
    draws: int,
    generator: torch.Generator,
    w_type: str = "z2",
) -> torch.Tensor:
    """Eq. 7 on ``draws`` samples of ``z ~ q(z|x)`` per row of ``x``: ``(draws, B)``."""
    out = []
    for lo in range(0, len(x), chunk_size(draws, model.latent_dim)):
        mu, logvar = model.encode(x[lo : lo + chunk_size(draws, model.latent_dim)])
        z = sample_latent(mu, logvar, draws, generator)
        out.append(predict_class(z, model.num_classes, w_type))
    if not out:
        return torch.zeros((draws, 0), dtype=torch.long, device=x.device)
    return torch.cat(out, 1)


def mode_class(z: torch.Tensor, num_classes: int, w_type: str) -> torch.Tensor:
    """The Eq. 7 class a sample gets most often over draws ``z`` of shape (S, B, L); ties go
    to the class of smaller mean ``w``."""
    w = absence_weights(z, num_classes, w_type)
    votes = F.one_hot(w.argmin(-1), num_classes).sum(0).double()
    # softmax(-w) < 1 breaks ties between equal vote counts without reordering unequal ones
    return (votes + 0.5 * torch.softmax(-w.mean(0).double(), -1)).argmax(-1)


@torch.no_grad()
def pool_likelihoods(
    model: VaBALVAE,
    x: torch.Tensor,
    draws: int,
    generator: torch.Generator,
    w_type: str = "z2",
    likelihood: str = "predicted",
    measure: str = "elbo",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``log p(x|y^_n)`` lower bounds (Eq. 9 with block ``C_n`` masked) for rows of ``x``.

    Returns ``(log_lik, predicted, votes)``: ``predicted`` is each sample's VAE class (the
    most frequent Eq. 7 class over ``draws`` draws), ``votes`` ``(B, N_c)`` the fraction of
    draws predicting each class. ``log_lik`` is ``(B,)`` for ``n = predicted`` under
    ``likelihood="predicted"`` and ``(B, N_c)`` for every ``n`` under ``"all"``. The same
    draws of ``z`` serve the prediction and the Monte Carlo expectation of Eq. 9; the
    samples are processed in chunks so memory does not grow with the pool. With
    ``measure="authors_loss"`` the values are :func:`authors_loss` instead of the ELBO.
    """
    if measure not in ("elbo", "authors_loss"):
        raise ValueError(f"unknown measure {measure!r}")
    nc, width = model.num_classes, max(model.latent_dim, sum(model.stage_dims))
    step = chunk_size(draws, width)
    log_liks, preds, votes = [], [], []
    progress = Progress(log, f"VaB-AL likelihoods, {draws} draws each, samples scored", len(x))
    for lo in range(0, len(x), step):
        xb = x[lo : lo + step]
        mu, logvar = model.encode(xb)
        z = sample_latent(mu, logvar, draws, generator)
        pred = mode_class(z, nc, w_type)
        votes.append(F.one_hot(predict_class(z, nc, w_type), nc).double().mean(0))
        classes = [pred] if likelihood == "predicted" else list(range(nc))
        cols = []
        for cls in classes:
            keep = mask_block(torch.ones_like(mu), cls, nc)
            x_hat = model.decode(z * keep)
            if measure == "elbo":
                cols.append(elbo(xb, x_hat, mu, logvar, keep))
            else:
                cols.append(authors_loss(xb, x_hat, mu, logvar))
        log_liks.append(cols[0] if likelihood == "predicted" else torch.stack(cols, -1))
        preds.append(pred)
        progress.update(lo + len(xb))
    if not preds:
        shape = (0,) if likelihood == "predicted" else (0, nc)
        empty = torch.zeros(shape, device=x.device)
        return empty, torch.zeros(0, dtype=torch.long), torch.zeros((0, nc))
    return torch.cat(log_liks), torch.cat(preds), torch.cat(votes)


def to_state(model: VaBALVAE) -> dict:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def from_state(config: dict, state: dict, device) -> VaBALVAE:
    model = build_vae(config)
    model.load_state_dict(state)
    return model.to(device).eval()


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()
