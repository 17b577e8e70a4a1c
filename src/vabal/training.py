"""Training and inference of the classifier, with the data kept on the device.

The whole labelled set lives on the device as one uint8 NCHW tensor; each batch is
indexed, converted, normalised and augmented there (random crop with zero padding and a
horizontal flip, drawn from a device generator seeded by the run), so no DataLoader and no
host copy sit in the loop. The loop itself is the paper's recipe (Section 4.2): SGD with
momentum 0.9 and weight decay 5e-4, lr 0.1 divided by 10 after epoch 160, 200 epochs of
batch 128, optionally under bf16 autocast.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vabal import io, seeding
from vabal.models import CifarResNet, build_classifier

log = logging.getLogger(__name__)


def resolve_device(spec: str = "auto") -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)


def amp_dtype(spec: str, device: torch.device) -> torch.dtype | None:
    """bf16 under ``auto`` on CUDA, nothing on CPU (CPU bf16 is slower than fp32 there)."""
    if spec == "bf16" or (spec == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


@dataclass
class DeviceImages:
    """Images of a dataset on the device (uint8, NCHW) with their normalisation."""

    data: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def from_numpy(cls, images: np.ndarray, mean, std, device) -> DeviceImages:
        data = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2)
        shape = (1, -1, 1, 1)
        return cls(
            data=data.contiguous(),
            mean=torch.tensor(mean, dtype=torch.float32, device=device).view(shape),
            std=torch.tensor(std, dtype=torch.float32, device=device).view(shape),
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
        x = (x.float().div_(255.0) - self.mean) / self.std
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


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


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    mean,
    std,
    recipe: dict,
    seed: int,
    round_: int,
) -> tuple[CifarResNet, list[dict]]:
    """Train a fresh classifier on ``images`` (N, H, W, C uint8) and return it with its history.

    The initial weights depend on ``seed`` only (the same for every method and round, as in
    the paper); batch order and augmentation depend on ``seed`` and ``round_``.
    """
    device = resolve_device(recipe["device"])
    torch.use_deterministic_algorithms(recipe["deterministic"], warn_only=True)
    torch.manual_seed(seeding.derive(seed, "train", round_))
    gen = torch.Generator(device=device).manual_seed(seeding.derive(seed, "batches", round_))
    model = build_classifier(
        recipe["classifier"],
        num_classes,
        images.shape[-1],
        recipe["width"],
        recipe.get("dropout", 0.0),
        seed=seeding.derive(seed, "init"),
    ).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    data = DeviceImages.from_numpy(images, mean, std, device)
    targets = torch.as_tensor(labels, dtype=torch.long, device=device)
    augment = {
        "padding": crop_padding(recipe, images.shape[1]),
        "hflip": recipe["augment"]["hflip"],
    }
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=recipe["lr"],
        momentum=recipe["momentum"],
        weight_decay=recipe["weight_decay"],
        fused=device.type == "cuda" or None,
    )
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, recipe["lr_milestones"], recipe["lr_gamma"]
    )
    dtype = amp_dtype(recipe["amp"], device)
    n, bs = len(targets), recipe["batch_size"]
    history = []
    model.train()
    for epoch in range(recipe["epochs"]):
        start = time.perf_counter()
        perm = torch.randperm(n, device=device, generator=gen)
        total = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for lo in range(0, n, bs):
            idx = perm[lo : lo + bs]
            if len(idx) == 1 and n > 1:  # BatchNorm cannot train on a single sample
                continue
            x, y = data.batch(idx, augment, gen), targets[idx]
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                logits = model(x)
                loss = nn.functional.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(idx)
            correct += (logits.argmax(1) == y).sum()
        scheduler.step()
        record = {
            "epoch": epoch + 1,
            "loss": total.item() / n,
            "train_acc": correct.item() / n,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - start,
        }
        history.append(record)
        log.info(
            "epoch %(epoch)d loss %(loss).4f train_acc %(train_acc).4f lr %(lr).4g %(seconds).2fs",
            record,
        )
    return model, history


@torch.no_grad()
def predict_logits(
    model: nn.Module, images: np.ndarray, mean, std, batch_size: int = 1024, amp: str = "auto"
) -> np.ndarray:
    """Logits (float32) of ``images`` in eval mode, batched on the model's device."""
    device = next(model.parameters()).device
    dtype = amp_dtype(amp, device)
    model.eval()
    out = []
    for lo in range(0, len(images), batch_size):
        chunk = DeviceImages.from_numpy(images[lo : lo + batch_size], mean, std, device)
        x = chunk.batch(torch.arange(len(chunk.data), device=device))
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out.append(model(x).float().cpu())
    if not out:
        return np.zeros((0, model.fc.out_features), dtype=np.float32)
    return torch.cat(out).numpy()


def save_classifier(path, model: CifarResNet, extra: dict) -> None:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
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
        model = build_classifier(
            ckpt["arch"],
            ckpt["num_classes"],
            ckpt["in_channels"],
            ckpt["width"],
            ckpt.get("dropout", 0.0),
        )
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise DataError(f"{path}: not a valid classifier checkpoint ({exc})") from None
    model.to(device or resolve_device())
    model.eval()
    return model, ckpt
