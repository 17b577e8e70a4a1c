"""VAAL: Variational Adversarial Active Learning (Sinha, Ebrahimi & Darrell, ICCV 2019).

A beta-VAE on the images and a discriminator on its latent means play a two-player game:
the discriminator learns to tell labelled (target 1) from unlabelled (target 0) samples,
the VAE learns to reconstruct both sets and to make every latent mean look labelled. The
samples the discriminator finds least likely to be labelled are selected.

Hyper-parameters, architecture and losses follow the authors' public code
(github.com/sinhasam/vaal: ``arguments.py``, ``solver.py``, ``model.py``, ``sampler.py``);
``docs/methods/vaal.md`` lists each number with its source and what was adapted:

* losses per VAE step: ``MSE(x, x') + beta * KLD`` on a labelled and on an unlabelled batch
  (MSE averaged over pixels, KLD summed over batch and latent units, as in the code) plus
  ``adversary_param * [BCE(D(mu_l), 1) + BCE(D(mu_u), 1)]``; discriminator step
  ``BCE(D(mu_l), 1) + BCE(D(mu_u), 0)`` on latent means computed without gradient;
* ``vae_steps`` = 2 VAE steps then ``adv_steps`` = 1 discriminator step per iteration,
  ``(n_pool * epochs) // batch_size`` iterations, Adam with lr 5e-4 for both networks;
* images in [0, 1] with a random horizontal flip (when the dataset's recipe flips).

The task model of the original code is the project's shared classifier and is not part
of this step. Scores use eval mode (BatchNorm running statistics), so a sample's score does
not depend on the other samples of its batch.
"""

from __future__ import annotations

import copy
import logging
import math
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vabal import io, seeding
from vabal.errors import DataError
from vabal.learn.training import amp_dtype, to_nchw, use_fast_path
from vabal.methods.base import Method, RoundContext
from vabal.methods.vaal import SPEC
from vabal.methods.vabal.vae import reparameterise

log = logging.getLogger(__name__)

HISTORY_KEYS = ("vae_loss", "recon", "kld", "adversarial", "disc_loss", "disc_acc")


# ----------------------------------------------------------------------------- networks
def _kaiming(module: nn.Module) -> None:
    """The public code's ``kaiming_init``: He-normal weights, zero biases."""
    nn.init.kaiming_normal_(module.weight)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


class VAE(nn.Module):
    """The public code's convolutional VAE, adapted to any image size and channel count.

    Encoder: four 4x4 convolutions of ``width x (1, 2, 4, 8)`` channels with BatchNorm and
    ReLU; each halves the size (stride 2) while the feature map is larger than 2x2, later
    ones are 3x3 stride-1 convolutions (8x8 digits: two halvings; 32x32 CIFAR: four, to
    2x2 as in the original; 64x64 NEU: four, to 4x4). Linear heads give the mean and log
    variance. Decoder: a linear layer to ``8 width`` maps of size/8, three 4x4 stride-2
    transposed convolutions with BatchNorm and ReLU, a 1x1 transposed convolution to the
    image channels (no output activation), cropped to the image size.
    """

    def __init__(self, in_channels: int, size: tuple[int, int], latent_dim: int, width: int):
        super().__init__()
        self.in_channels, self.size = int(in_channels), (int(size[0]), int(size[1]))
        self.latent_dim, self.width = int(latent_dim), int(width)
        h, w = self.size
        layers, ch = [], self.in_channels
        for i in range(4):
            out = width * 2**i
            if min(h, w) > 2:
                layers.append(nn.Conv2d(ch, out, 4, 2, 1, bias=False))
                h, w = h // 2, w // 2
            else:
                layers.append(nn.Conv2d(ch, out, 3, 1, 1, bias=False))
            layers += [nn.BatchNorm2d(out), nn.ReLU(True)]
            ch = out
        self.encoder = nn.Sequential(*layers, nn.Flatten())
        flat = ch * h * w
        self.fc_mu = nn.Linear(flat, latent_dim)
        self.fc_logvar = nn.Linear(flat, latent_dim)
        self.start = (math.ceil(self.size[0] / 8), math.ceil(self.size[1] / 8))
        top = 8 * width
        self.fc_decode = nn.Linear(latent_dim, top * self.start[0] * self.start[1])
        dec = []
        for i in range(3):
            c_in, c_out = top // 2**i, top // 2 ** (i + 1)
            dec += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(True),
            ]
        dec.append(nn.ConvTranspose2d(width, self.in_channels, 1))
        self.decoder = nn.Sequential(*dec)
        # as the public code: He init of the encoder's convolutions and the decoder's linear
        # layer; the mean/log-variance heads and transposed convolutions keep torch's default
        for m in self.encoder:
            if isinstance(m, nn.Conv2d):
                _kaiming(m)
        _kaiming(self.fc_decode)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        return self.fc_mu(z), self.fc_logvar(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc_decode(z).view(len(z), -1, *self.start)
        return self.decoder(x)[:, :, : self.size[0], : self.size[1]]

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None):
        """Reconstruction, mean and log-variance of ``x``; ``eps`` is the standard normal
        noise of the reparameterisation, one row per image (drawn here when not given)."""
        mu, logvar = self.encode(x)
        if eps is None:
            eps = torch.randn_like(mu)
        z = reparameterise(mu, logvar, eps.to(mu.dtype))
        return self.decode(z), mu, logvar


class Discriminator(nn.Module):
    """The public code's discriminator on latent means: 512-512-1 MLP with ReLU.

    Returns the logit; the probability of "labelled" is its sigmoid (the original ends with
    a sigmoid and ``BCELoss``; the logit form is the same function, computed stably).
    """

    def __init__(self, latent_dim: int, hidden: int = 512):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.ReLU(True),
            nn.Linear(hidden, hidden),
            nn.ReLU(True),
            nn.Linear(hidden, 1),
        )
        for m in self.net:
            if isinstance(m, nn.Linear):
                _kaiming(m)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)[:, 0]


# ----------------------------------------------------------------------------- training
class _Cycle:
    """Endless shuffled batches of ``range(n)`` on the device (a new permutation per pass)."""

    def __init__(self, n: int, batch: int, drop_last: bool, generator: torch.Generator, device):
        self.n, self.gen, self.device = n, generator, device
        self.batch = min(batch, n) if drop_last else batch
        self.drop_last = drop_last
        self.perm, self.pos = None, n

    def next(self) -> torch.Tensor:
        if self.pos >= self.n or (self.drop_last and self.pos + self.batch > self.n):
            self.perm = torch.randperm(self.n, generator=self.gen, device=self.device)
            self.pos = 0
        idx = self.perm[self.pos : self.pos + self.batch]
        self.pos += self.batch
        return idx


def _batch(data: torch.Tensor, idx: torch.Tensor, hflip: bool, gen) -> torch.Tensor:
    """Images in [0, 1] (as the public code's ToTensor), optionally randomly flipped."""
    x = data[idx].float().div_(255.0)
    if hflip:
        flip = torch.rand(len(idx), device=x.device, generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if x.is_cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def vae_loss(x, recon, mu, logvar, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The public code's VAE loss parts: pixel-mean MSE and the KLD summed over the batch."""
    mse = F.mse_loss(recon.float(), x)
    mu, logvar = mu.float(), logvar.float()
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return mse, beta * kld


def train_vaal(
    labelled: np.ndarray,
    unlabelled: np.ndarray,
    params: dict,
    device,
    seed: int,
    hflip: bool = False,
    amp: str = "auto",
    fast: bool = False,
) -> tuple[VAE, Discriminator, dict]:
    """Train VAAL's VAE and discriminator on uint8 (N, H, W, C) image sets.

    Returns both networks and a history of per-epoch means (an epoch is
    ``ceil(n_pool / batch_size)`` iterations): ``vae_loss`` (total), ``recon`` and ``kld``
    (labelled + unlabelled), ``adversarial`` (the VAE's BCE term), ``disc_loss`` and
    ``disc_acc`` (the discriminator's loss and accuracy at threshold 0.5).

    Each iteration draws its batches, flips and reparameterisation noise first, then runs
    as one pure step (:func:`_iteration`); ``fast`` on CUDA replays that step as a recorded
    CUDA graph (:class:`vabal.learn.graphs.GraphedStep`): the step is bound by the host's
    per-kernel work, about 4x its GPU time, and the graph removes it.
    """
    from vabal.learn.graphs import GraphedStep, optimizer_state

    SPEC.check_params(params, "methods.(kind vaal)")
    p = SPEC.resolve(params)
    if len(labelled) == 0 or len(unlabelled) == 0:
        raise ValueError("VAAL needs labelled and unlabelled images")
    device = torch.device(device)
    dtype = amp_dtype(amp, device)
    _, h, w, c = labelled.shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seeding.derive(seed, "vaal", "init"))
        vae = VAE(c, (h, w), p["latent_dim"], p["width"])
        disc = Discriminator(p["latent_dim"])
    vae, disc = vae.to(device), disc.to(device)
    if device.type == "cuda":
        vae = vae.to(memory_format=torch.channels_last)
    gen = torch.Generator(device=device).manual_seed(seeding.derive(seed, "vaal", "batches"))
    lab_data, unl_data = to_nchw(labelled, device), to_nchw(unlabelled, device)
    lab_cycle = _Cycle(len(labelled), p["batch_size"], True, gen, device)
    unl_cycle = _Cycle(len(unlabelled), p["batch_size"], False, gen, device)
    n_pool = len(labelled) + len(unlabelled)
    iterations = max(1, n_pool * p["epochs"] // p["batch_size"])
    per_epoch = max(1, math.ceil(n_pool / p["batch_size"]))
    graphed = fast and device.type == "cuda"
    cuda = device.type == "cuda" or None
    opt_vae = torch.optim.Adam(vae.parameters(), lr=p["lr"], fused=cuda, capturable=graphed)
    opt_disc = torch.optim.Adam(disc.parameters(), lr=p["lr"], fused=cuda, capturable=graphed)
    vae.train()
    disc.train()
    sums = torch.zeros(len(HISTORY_KEYS), device=device)
    counts = torch.zeros(len(HISTORY_KEYS), device=device)
    nets = (vae, disc, opt_vae, opt_disc)

    def state() -> list[torch.Tensor]:
        tensors = [*vae.parameters(), *vae.buffers(), *disc.parameters()]
        return [*tensors, *optimizer_state(opt_vae), *optimizer_state(opt_disc), sums, counts]

    step = GraphedStep(
        lambda *inputs: _iteration(nets, p, dtype, sums, counts, *inputs), state, graphed
    )
    epochs = []
    for it in range(iterations):
        batches = []
        for _ in range(_pairs_per_iteration(p)):
            batches += [
                _batch(lab_data, lab_cycle.next(), hflip, gen),
                _batch(unl_data, unl_cycle.next(), hflip, gen),
            ]
        noise = []
        for k in range(p["vae_steps"]):
            for x in batches[2 * k : 2 * k + 2]:
                noise.append(torch.randn(len(x), p["latent_dim"], device=device, generator=gen))
        step(*batches, *noise)
        if (it + 1) % per_epoch == 0 or it + 1 == iterations:
            epochs.append(sums / counts.clamp_min(1))
            sums.zero_()
            counts.zero_()
    table = torch.stack(epochs).cpu().tolist()
    history = {k: [row[i] for row in table] for i, k in enumerate(HISTORY_KEYS)}
    history["iterations"] = iterations
    vae.eval()
    disc.eval()
    return vae, disc, history


def _pairs_per_iteration(p: dict) -> int:
    """(labelled, unlabelled) batch pairs an iteration draws: one per VAE step, then one per
    further discriminator step (the first reuses the last VAE step's pair)."""
    return p["vae_steps"] + p["adv_steps"] - 1


def _iteration(nets, p: dict, dtype, sums, counts, *inputs: torch.Tensor) -> None:
    """One VAAL iteration: ``vae_steps`` VAE steps, then ``adv_steps`` discriminator steps.

    ``inputs`` are the iteration's (labelled, unlabelled) batch pairs, followed by the
    reparameterisation noise of each VAE step's two batches; the first discriminator step
    reuses the last VAE step's pair. Running means go to ``sums`` / ``counts`` in place.
    """
    vae, disc, opt_vae, opt_disc = nets
    n_pairs = _pairs_per_iteration(p)
    pairs = [inputs[2 * k : 2 * k + 2] for k in range(n_pairs)]
    noise = inputs[2 * n_pairs :]
    device_type = inputs[0].device.type

    def autocast():
        return torch.autocast(
            device_type, dtype=dtype, enabled=dtype is not None, cache_enabled=False
        )

    for k in range(p["vae_steps"]):
        (x_l, x_u), (eps_l, eps_u) = pairs[k], noise[2 * k : 2 * k + 2]
        with autocast():
            rec_l, mu_l, lv_l = vae(x_l, eps_l)
            rec_u, mu_u, lv_u = vae(x_u, eps_u)
            logit_l, logit_u = disc(mu_l).float(), disc(mu_u).float()
        mse_l, kld_l = vae_loss(x_l, rec_l, mu_l, lv_l, p["beta"])
        mse_u, kld_u = vae_loss(x_u, rec_u, mu_u, lv_u, p["beta"])
        adv = F.binary_cross_entropy_with_logits(
            logit_l, torch.ones_like(logit_l)
        ) + F.binary_cross_entropy_with_logits(logit_u, torch.ones_like(logit_u))
        loss = mse_l + kld_l + mse_u + kld_u + p["adversary_param"] * adv
        opt_vae.zero_grad(set_to_none=True)
        loss.backward()
        opt_vae.step()
        sums[:4] += torch.stack([loss, mse_l + mse_u, kld_l + kld_u, adv]).detach()
        counts[:4] += 1
    for k in range(p["adv_steps"]):
        x_l, x_u = pairs[p["vae_steps"] - 1 + k]
        with torch.no_grad(), autocast():
            mu_l = vae.encode(x_l)[0]
            mu_u = vae.encode(x_u)[0]
        with autocast():
            logit_l, logit_u = disc(mu_l).float(), disc(mu_u).float()
        d_loss = F.binary_cross_entropy_with_logits(
            logit_l, torch.ones_like(logit_l)
        ) + F.binary_cross_entropy_with_logits(logit_u, torch.zeros_like(logit_u))
        opt_disc.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_disc.step()
        correct = (logit_l > 0).float().sum() + (logit_u <= 0).float().sum()
        sums[4] += d_loss.detach()
        sums[5] += correct / (len(logit_l) + len(logit_u))
        counts[4:] += 1


@torch.no_grad()
def pool_statistics(
    vae: VAE, images: np.ndarray, batch_size: int = 128, seed: int = 0, amp: str = "auto"
) -> VAE:
    """A copy of ``vae`` whose BatchNorm statistics are those of ``images``.

    During training each batch is normalised with its own statistics, and labelled and
    unlabelled batches never mix. The copy's running statistics are re-estimated (equal
    average over batches of ``batch_size`` images in a seeded random order), so in eval
    mode it normalises ``images`` as training normalised batches of that set, while each
    image's output no longer depends on the other images of its batch.
    """
    model = copy.deepcopy(vae)
    device = next(model.parameters()).device
    dtype = amp_dtype(amp, device)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    model.train()
    gen = torch.Generator(device=device).manual_seed(seed)
    data = to_nchw(images, device)
    order = torch.randperm(len(data), generator=gen, device=device)
    for lo in range(0, len(data), batch_size):
        x = _batch(data, order[lo : lo + batch_size], False, None)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            model.encode(x)
    return model.eval()


@torch.no_grad()
def discriminator_logits(
    vae: VAE,
    disc: Discriminator,
    images: np.ndarray,
    batch_size: int = 1024,
    amp: str = "auto",
    bn_batch_size: int = 128,
    seed: int = 0,
) -> torch.Tensor:
    """The discriminator's logit of "labelled" on the latent means of ``images``, float32
    on the CPU; BatchNorm uses the statistics of ``images`` (:func:`pool_statistics`)."""
    if len(images) == 0:
        return torch.zeros(0)
    vae = pool_statistics(vae, images, bn_batch_size, seed, amp)
    device = next(vae.parameters()).device
    dtype = amp_dtype(amp, device)
    disc.eval()
    out = []
    for lo in range(0, len(images), batch_size):
        data = to_nchw(images[lo : lo + batch_size], device)
        x = _batch(data, torch.arange(len(data), device=device), False, None)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out.append(disc(vae.encode(x)[0]).float().cpu())
    return torch.cat(out)


def _state(module: nn.Module) -> dict:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


# ----------------------------------------------------------------------------- the method
class VAAL(Method):
    """Select the pool samples VAAL's discriminator finds least likely to be labelled."""

    spec = SPEC

    def train_vae(self, ctx: RoundContext) -> dict:
        start = time.perf_counter()
        images = ctx.store.images
        vae, disc, history = train_vaal(
            np.asarray(images[ctx.labelled]),
            np.asarray(images[ctx.unlabelled]),
            self.params,
            ctx.device,
            seeding.derive(ctx.seed, "round", ctx.round, "vaal"),
            hflip=bool(ctx.recipe["augment"]["hflip"]),
            amp=ctx.recipe["amp"],
            fast=use_fast_path(ctx.recipe, ctx.device),
        )
        seconds = time.perf_counter() - start
        log.info(
            "vaal: %d iterations in %.1fs; last epoch vae loss %.4f, disc loss %.4f acc %.3f",
            history["iterations"],
            seconds,
            history["vae_loss"][-1],
            history["disc_loss"][-1],
            history["disc_acc"][-1],
        )
        return {
            "vae": _state(vae),
            "discriminator": _state(disc),
            "arch": {
                "in_channels": vae.in_channels,
                "size": list(vae.size),
                "latent_dim": vae.latent_dim,
                "width": vae.width,
            },
            "history": history,
            "params": dict(self.params),
            "seconds": seconds,
        }

    def _load(self, ctx: RoundContext) -> tuple[VAE, Discriminator]:
        path = ctx.files["train_vae"]
        saved = io.load_torch(path)
        try:
            arch = saved["arch"]
            vae = VAE(arch["in_channels"], tuple(arch["size"]), arch["latent_dim"], arch["width"])
            disc = Discriminator(arch["latent_dim"])
            vae.load_state_dict(saved["vae"])
            disc.load_state_dict(saved["discriminator"])
        except (KeyError, RuntimeError, TypeError) as exc:
            raise DataError(f"{path}: not a VAAL checkpoint ({exc})") from None
        return vae.to(ctx.device), disc.to(ctx.device)

    def score(self, ctx: RoundContext):
        vae, disc = self._load(ctx)
        images = ctx.store.images
        kwargs = {
            "batch_size": ctx.recipe["eval_batch_size"],
            "amp": ctx.recipe["amp"],
            "bn_batch_size": self.params["batch_size"],
            "seed": seeding.derive(ctx.seed, "round", ctx.round, "vaal", "statistics"),
        }
        logit_u = discriminator_logits(vae, disc, np.asarray(images[ctx.unlabelled]), **kwargs)
        logit_l = discriminator_logits(vae, disc, np.asarray(images[ctx.labelled]), **kwargs)
        # 1 - sigmoid(logit) = sigmoid(-logit), in float64 so saturated outputs keep their order
        scores = torch.sigmoid(-logit_u.double()).numpy()
        prob_l = torch.sigmoid(logit_l.double())
        diagnostics = {
            "disc_prob_labelled_mean": float(prob_l.mean()) if len(prob_l) else None,
            "disc_prob_unlabelled_mean": float(1 - scores.mean()) if len(scores) else None,
        }
        return scores, diagnostics
