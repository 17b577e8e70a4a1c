"""Training and inference of the classifier, with the data kept on the device.

The whole labelled set lives on the device as one uint8 NCHW tensor; each epoch is
shuffled and augmented there in one pass (random crop with zero padding and a horizontal
flip, drawn from a device generator seeded by the run), so no DataLoader and no host copy
sit in the loop. The loop itself is the paper's recipe (Section 4.2): SGD with momentum 0.9
and weight decay 5e-4, lr 0.1 divided by 10 after epoch 160, 200 epochs of batch 128.

How long a training runs is the recipe's ``epochs`` (the paper's 200) or, independently of
the labelled set's size, its ``images``: ``ceil(images / batch_size)`` steps, the epochs
reshuffled as before and the last one cut short (:class:`Schedule`). The learning rate
follows ``lr_schedule``: ``multistep`` (x ``lr_gamma`` after each epoch of ``lr_milestones``,
or after each fraction ``lr_drops`` of an ``images`` training), ``cosine`` or ``onecycle``
(linear decay to 0), each after an optional linear ``warmup`` (a fraction of the steps).
``label_smoothing`` softens the cross-entropy targets; ``tta_flip`` makes the evaluation
average the logits of each image and its mirror.

How a network runs (:class:`Compute`) does not change the recipe: ``amp: auto`` is bf16
autocast on CUDA and on a CPU with native bf16 (AVX512-BF16 or AMX, unless the CPU kernels
are pinned to an ISA without it: :mod:`vabal.kernels`), fp32 elsewhere;
``channels_last: auto`` stores activations channels-last (faster on both; a one-channel
input batch keeps the standard strides, see :func:`to_nchw`). On CUDA the fast path is the
default (``fast: auto``; ``fast: false`` turns it off): cuDNN autotuning and each training
step recorded once as a CUDA graph with a graph-safe SGD (:class:`TrainStep`), since at
batch 128 the plain loop is bound by kernel launches. ``compile: true`` adds
``torch.compile`` under the graph.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vabal import io, seeding
from vabal.learn.finite import require_finite
from vabal.learn.graphs import GraphedStep
from vabal.learn.models import CifarResNet, build_classifier

log = logging.getLogger(__name__)


def resolve_device(spec: str = "auto") -> torch.device:
    """The device of ``spec`` (auto: CUDA when present), with the CPU kernels checked
    against the run's pin (:func:`vabal.kernels.verify`)."""
    from vabal import kernels

    kernels.verify()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU runs bf16 convolutions natively (AVX512-BF16 or AMX), as the kernels
    in use see it: not under a pin of the CPU kernels to an ISA without bf16."""
    from vabal import kernels

    return kernels.allows_bf16() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def amp_dtype(spec: str, device: torch.device) -> torch.dtype | None:
    """bf16 under ``auto`` on CUDA and on a CPU with native bf16 (:func:`cpu_has_fast_bf16`,
    1.5-1.8x faster than fp32 there: bench/cpu_speed.py); fp32 (None) otherwise."""
    if spec == "bf16":
        return torch.bfloat16
    if spec == "auto" and (device.type == "cuda" or (device.type == "cpu" and cpu_has_fast_bf16())):
        return torch.bfloat16
    return None


@dataclass(frozen=True)
class Compute:
    """How a network runs on a device: autocast dtype (None: fp32) and memory layout."""

    device: torch.device
    dtype: torch.dtype | None
    channels_last: bool

    @classmethod
    def of(cls, recipe: dict, device: torch.device) -> Compute:
        layout = recipe.get("channels_last", "auto")
        return cls(device, amp_dtype(recipe["amp"], device), layout in ("auto", True))

    @classmethod
    def inference(cls, model: nn.Module, amp: str, channels_last) -> tuple[Compute, nn.Module]:
        """How to run ``model`` (on its device) for inference, and the model in eval mode
        in that layout."""
        device = next(model.parameters()).device
        compute = cls.of({"amp": amp, "channels_last": channels_last}, device)
        return compute, compute.model(model).eval()

    def model(self, model: nn.Module) -> nn.Module:
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        return model.to(device=self.device, memory_format=fmt)

    def autocast(self):
        return torch.autocast(
            self.device.type, dtype=self.dtype, enabled=self.dtype is not None, cache_enabled=False
        )

    def images(self, images: np.ndarray, mean, std) -> DeviceImages:
        return DeviceImages.from_numpy(images, mean, std, self.device, self.channels_last)

    def describe(self) -> str:
        dtype = "bf16" if self.dtype == torch.bfloat16 else "fp32"
        return f"{dtype}, {'channels-last' if self.channels_last else 'NCHW'}"


@dataclass
class DeviceImages:
    """Images of a dataset on the device (uint8, NCHW) with their normalisation."""

    data: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    #: normalised batches channels-last (None: on CUDA only, as before the recipe key)
    channels_last: bool | None = None

    @classmethod
    def from_numpy(
        cls, images: np.ndarray, mean, std, device, channels_last: bool | None = None
    ) -> DeviceImages:
        shape = (1, -1, 1, 1)
        return cls(
            data=to_nchw(images, device),
            mean=torch.tensor(mean, dtype=torch.float32, device=device).view(shape),
            std=torch.tensor(std, dtype=torch.float32, device=device).view(shape),
            channels_last=channels_last,
        )

    def batch(
        self,
        idx: torch.Tensor,
        augment: dict | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        x = self.data[idx]
        if augment:
            x = random_crop_flip(x, augment["padding"], augment["hflip"], generator)
        return self.normalise(x)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 NCHW -> normalised float32, channels-last where asked (a one-channel batch
        keeps the standard strides: :func:`to_nchw`)."""
        x = (x.float().div_(255.0) - self.mean) / self.std
        last = x.is_cuda if self.channels_last is None else self.channels_last
        if last and (x.shape[1] > 1 or x.is_cuda):
            x = x.contiguous(memory_format=torch.channels_last)
        return x


def to_nchw(images: np.ndarray, device) -> torch.Tensor:
    """uint8 (N, H, W, C) -> uint8 (N, C, H, W) on the device, with the standard strides.

    ``permute(0, 3, 1, 2).contiguous()`` leaves a one-channel batch with strides
    (H*W, 1, W, 1): contiguous and channels-last at once. oneDNN's CPU convolution backward
    (PyTorch 2.14) misreads that layout: its gradients change from call to call and it
    corrupts the heap (digits, NEU in grey). A copy into fresh storage gives
    (H*W, H*W, W, 1), and every tensor computed from it keeps that layout.
    """
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2)
    return torch.empty(x.shape, dtype=x.dtype, device=x.device).copy_(x)


def random_crop_flip(
    x: torch.Tensor, padding: int, hflip: bool, generator: torch.Generator | None
) -> torch.Tensor:
    """Per-sample random crop of a zero-padded batch and random horizontal flip, on device."""
    n, _, h, w = x.shape
    if padding > 0:
        padded = nn.functional.pad(x, (padding, padding, padding, padding))
        off = torch.randint(0, 2 * padding + 1, (2, n), device=x.device, generator=generator)
        rows = (off[0][:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (off[1][:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[batch, chans, rows, cols]
    if hflip:
        flip = torch.rand(n, device=x.device, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x


def crop_padding(recipe: dict, image_size: int) -> int:
    pad = recipe["augment"]["crop_padding"]
    return max(1, image_size // 8) if pad == "auto" else int(pad)


def epoch_batches(
    data: DeviceImages,
    targets: torch.Tensor,
    augment: dict,
    generator: torch.Generator,
    chunk: int = 8192,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One epoch's shuffled and augmented uint8 images and their labels, on the device.

    The permutation and every sample's crop offset and flip are drawn once per epoch from
    ``generator`` (in chunks, to bound the memory of the padded copy), so the batches of the
    epoch are plain slices and the loop over them needs no further random draws.
    """
    n = len(targets)
    perm = torch.randperm(n, device=targets.device, generator=generator)
    out = data.data.new_empty((n, *data.data.shape[1:]))
    for lo in range(0, n, chunk):
        idx = perm[lo : lo + chunk]
        out[lo : lo + len(idx)] = random_crop_flip(
            data.data[idx], augment["padding"], augment["hflip"], generator
        )
    return out, targets[perm]


class GraphSafeSGD:
    """SGD with momentum and weight decay, PyTorch's update rule, capturable in a CUDA graph.

    ``torch.optim.SGD`` (dampening 0, no Nesterov) computes ``d = g + wd * p``,
    ``buf = momentum * buf + d`` (``buf = d`` at the first step) and ``p -= lr * buf``. Here
    the momentum buffers start at zero (which gives ``buf = d`` at the first step too) and the
    learning rate is a device tensor, so a captured step follows the schedule without being
    captured again.
    """

    def __init__(self, params, lr: float, momentum: float, weight_decay: float):
        self.params = [p for p in params if p.requires_grad]
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)
        self.lr = torch.tensor(float(lr), device=self.params[0].device)
        self.bufs = [torch.zeros_like(p) for p in self.params]

    def set_lr(self, lr: float) -> None:
        self.lr.fill_(lr)  # no host synchronisation

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grads = [p.grad for p in self.params]
        d = torch._foreach_add(grads, self.params, alpha=self.weight_decay)
        if self.momentum:
            torch._foreach_mul_(self.bufs, self.momentum)
            torch._foreach_add_(self.bufs, d)
            d = self.bufs
        torch._foreach_sub_(self.params, torch._foreach_mul(d, self.lr))


class TrainStep:
    """One optimisation step on a batch of uint8 images; loss and hits summed on the device.

    The plain path runs eagerly with ``torch.optim.SGD``. The fast path uses
    :class:`GraphSafeSGD` and, on CUDA, records the whole step (normalisation, forward under
    autocast, backward, the SGD update and the running sums) once per batch size as a CUDA
    graph (:class:`vabal.learn.graphs.GraphedStep`), so a step costs two copies and one launch
    instead of several hundred kernel launches.
    """

    def __init__(self, model, data: DeviceImages, recipe: dict, dtype, fast: bool):
        self.model, self.data, self.dtype, self.fast = model, data, dtype, fast
        self.label_smoothing = float(recipe.get("label_smoothing", 0.0))
        self.device = data.data.device
        self.forward = model
        if recipe.get("compile"):
            self.forward = torch.compile(model)
        if fast:
            self.optimizer = GraphSafeSGD(
                model.parameters(), recipe["lr"], recipe["momentum"], recipe["weight_decay"]
            )
        else:
            self.optimizer = torch.optim.SGD(
                model.parameters(),
                lr=recipe["lr"],
                momentum=recipe["momentum"],
                weight_decay=recipe["weight_decay"],
            )
        self.loss_sum = torch.zeros((), device=self.device)
        self.hits = torch.zeros((), device=self.device, dtype=torch.long)
        # on a CPU the fast path is the same step, eager; graphs need GraphSafeSGD's state
        self.step = GraphedStep(
            self._compute, self._state, graphed=fast and self.device.type == "cuda"
        )

    def _state(self) -> list[torch.Tensor]:
        model = [*self.model.parameters(), *self.model.buffers()]
        return [*model, *self.optimizer.bufs, self.loss_sum, self.hits]

    def set_lr(self, lr: float) -> None:
        if self.fast:
            self.optimizer.set_lr(lr)
        else:
            for group in self.optimizer.param_groups:
                group["lr"] = lr

    def _compute(self, x_u8: torch.Tensor, y: torch.Tensor) -> None:
        x = self.data.normalise(x_u8)
        with torch.autocast(
            self.device.type, dtype=self.dtype, enabled=self.dtype is not None, cache_enabled=False
        ):
            logits = self.forward(x)
            loss = nn.functional.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.loss_sum.add_(loss.detach().float() * len(y))
        self.hits.add_((logits.argmax(1) == y).sum())

    def __call__(self, x_u8: torch.Tensor, y: torch.Tensor) -> None:
        self.step(x_u8, y)


def use_fast_path(recipe: dict, device: torch.device) -> bool:
    """Whether to train on the fast path (the default; ``fast: false`` turns it off).

    On CUDA its steps are recorded as CUDA graphs. On a CPU it is the same step, eager, with
    :class:`GraphSafeSGD`: the same update as ``torch.optim.SGD``, whose construction
    imports ``torch._dynamo`` (about 2 s per process, and every round step is a process).
    """
    del device  # the same choice on every device; graphs are CUDA's alone (GraphedStep)
    return recipe.get("fast", "auto") in ("auto", True)


@dataclass(frozen=True)
class Schedule:
    """How many optimisation steps a training takes, and the learning rate of each.

    ``epochs`` recipes take ``epochs`` passes over the labelled set (a last batch of one
    sample is skipped: BatchNorm cannot train on it); ``images`` recipes take
    ``ceil(images / batch_size)`` steps whatever the labelled set's size, the last epoch cut
    short. The rate: a linear warm-up over the first ``warmup`` fraction of the steps, then
    ``multistep`` (x ``lr_gamma`` from the first step of each epoch in ``lr_milestones``, or
    from each fraction ``lr_drops`` of an ``images`` training), ``cosine`` (to 0) or
    ``onecycle`` (linear to 0).
    """

    steps: int
    steps_per_epoch: int
    recipe: dict

    @classmethod
    def of(cls, recipe: dict, n: int) -> Schedule:
        bs = recipe["batch_size"]
        per_epoch = math.ceil(n / bs) - (1 if n > 1 and n % bs == 1 else 0)
        if per_epoch == 0:
            raise ValueError("no labelled samples to train on")
        if recipe.get("images"):
            steps = math.ceil(recipe["images"] / bs)
        else:
            steps = recipe["epochs"] * per_epoch
        return cls(steps, per_epoch, recipe)

    @property
    def epochs(self) -> int:
        """Epochs started (the last one may be cut short)."""
        return math.ceil(self.steps / self.steps_per_epoch)

    def lr(self, step: int) -> float:
        r, t, total = self.recipe, step, self.steps
        warm = int(round(r.get("warmup", 0.0) * total))
        if t < warm:
            return r["lr"] * (t + 1) / warm
        kind = r.get("lr_schedule", "multistep")
        if kind == "cosine":
            return r["lr"] * 0.5 * (1.0 + math.cos(math.pi * (t - warm) / (total - warm)))
        if kind == "onecycle":
            return r["lr"] * (total - t) / (total - warm)
        if r.get("images"):
            drops = [int(round(f * total)) for f in r.get("lr_drops", [0.8])]
        else:
            drops = [m * self.steps_per_epoch for m in r["lr_milestones"]]
        lr = r["lr"]
        for at in sorted(drops):
            if t >= at:
                lr *= r["lr_gamma"]  # multiplied in turn, as MultiStepLR does
        return lr


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    mean,
    std,
    recipe: dict,
    seed: int,
    round_: int,
    where=None,
) -> tuple[CifarResNet, list[dict]]:
    """Train a fresh classifier on ``images`` (N, H, W, C uint8) and return it with its history.

    The initial weights depend on ``seed`` only (the same for every method and round, as in
    the paper); batch order and augmentation depend on ``seed`` and ``round_``. Per epoch:
    shuffle and augment on the device (:func:`epoch_batches`), one :class:`TrainStep` per
    batch, then the learning-rate schedule; the only host synchronisation is the epoch's
    log line.
    """
    device = resolve_device(recipe["device"])
    if recipe["deterministic"] != torch.are_deterministic_algorithms_enabled():
        # only when it changes: the call imports torch._dynamo (about 2 s per job)
        torch.use_deterministic_algorithms(recipe["deterministic"], warn_only=True)
    fast = use_fast_path(recipe, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not recipe["deterministic"]
    torch.manual_seed(seeding.derive(seed, "train", round_))
    gen = torch.Generator(device=device).manual_seed(seeding.derive(seed, "batches", round_))
    compute = Compute.of(recipe, device)
    model = build_classifier(
        recipe["classifier"],
        num_classes,
        images.shape[-1],
        recipe["width"],
        recipe.get("dropout", 0.0),
        seed=seeding.derive(seed, "init"),
    )
    model = compute.model(model)
    data = compute.images(images, mean, std)
    targets = torch.as_tensor(labels, dtype=torch.long, device=device)
    augment = {
        "padding": crop_padding(recipe, images.shape[1]),
        "hflip": recipe["augment"]["hflip"],
    }
    step = TrainStep(model, data, recipe, compute.dtype, fast)
    n, bs = len(targets), recipe["batch_size"]
    plan = Schedule.of(recipe, n)
    log.info(
        "%d steps (%d epochs) of batch %d, %s", plan.steps, plan.epochs, bs, compute.describe()
    )
    lr, t = recipe["lr"], 0
    history = []
    model.train()
    for epoch in range(plan.epochs):
        start = time.perf_counter()
        xs, ys = epoch_batches(data, targets, augment, gen)
        step.loss_sum.zero_()
        step.hits.zero_()
        seen = 0
        for lo in range(0, n, bs):
            if t == plan.steps:  # an images-sized training's last epoch
                break
            if min(n, lo + bs) - lo == 1 and n > 1:  # BatchNorm cannot train on one sample
                continue
            if plan.lr(t) != lr:
                lr = plan.lr(t)
                step.set_lr(lr)
            step(xs[lo : lo + bs], ys[lo : lo + bs])
            seen, t = seen + len(ys[lo : lo + bs]), t + 1
        record = {
            "epoch": epoch + 1,
            "steps": t,
            "images": seen,
            "loss": step.loss_sum.item() / max(seen, 1),
            "train_acc": step.hits.item() / max(seen, 1),
            "lr": lr,
            "seconds": time.perf_counter() - start,
        }
        history.append(record)
        log.info(
            "epoch %(epoch)d loss %(loss).4f train_acc %(train_acc).4f lr %(lr).4g %(seconds).2fs",
            record,
        )
    require_finite("the training loss", [r["loss"] for r in history], where)
    return model, history


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    images: np.ndarray,
    mean,
    std,
    batch_size: int = 1024,
    amp: str = "auto",
    channels_last: str | bool = "auto",
    tta_flip: bool = False,
) -> np.ndarray:
    """Logits (float32) of ``images`` in eval mode, batched on the model's device; with
    ``tta_flip`` the mean of each image's logits and its mirror's."""
    compute, model = Compute.inference(model, amp, channels_last)
    device = compute.device
    out = []
    for lo in range(0, len(images), batch_size):
        chunk = compute.images(images[lo : lo + batch_size], mean, std)
        x = chunk.batch(torch.arange(len(chunk.data), device=device))
        with compute.autocast():
            logits = model(x).float()
            if tta_flip:
                logits = (logits + model(x.flip(3)).float()) / 2
        out.append(logits.cpu())
    if not out:
        return np.zeros((0, model.fc.out_features), dtype=np.float32)
    return torch.cat(out).numpy()


def save_classifier(path, model: CifarResNet, extra: dict) -> None:
    state = {
        k: v.detach().cpu().contiguous()  # the standard layout, whatever the training's
        for k, v in model.state_dict().items()
    }
    require_finite("the classifier's weights", state, path)
    io.save_torch(
        path,
        {
            "state_dict": state,
            "arch": model.arch,
            "num_classes": model.fc.out_features,
            "in_channels": model.in_channels,
            "width": model.width,
            "dropout": model.dropout,
            **extra,
        },
    )


def load_classifier(path, device=None) -> tuple[CifarResNet, dict]:
    """Rebuild a saved classifier; returns the model (eval mode) and the checkpoint dict."""
    from vabal.errors import DataError

    ckpt = io.load_torch(path)
    try:
        # on the meta device: no memory, no initialisation (the weights are loaded next)
        with torch.device("meta"):
            model = build_classifier(
                ckpt["arch"],
                ckpt["num_classes"],
                ckpt["in_channels"],
                ckpt["width"],
                ckpt.get("dropout", 0.0),
            )
        model.load_state_dict(ckpt["state_dict"], assign=True)
    except (KeyError, RuntimeError, TypeError) as exc:
        raise DataError(f"{path}: not a valid classifier checkpoint ({exc})") from None
    require_finite("the classifier's weights", ckpt["state_dict"], path)
    model.to(device or resolve_device())
    model.eval()
    return model, ckpt
