"""Classifier training throughput: the project's trainer against a plain PyTorch loop.

Both train the same CIFAR-stem ResNet on the same random uint8 images in one process on one
device: the reference is the textbook loop (torchvision transforms in a DataLoader, fp32,
batch 128); the project's trainer keeps the data on the device and augments there, with its
default precision (bf16 autocast on CUDA). Prints images/s of each and their ratio.

    python bench/train_throughput.py                       # CPU-sized defaults
    python bench/train_throughput.py --n 10000 --epochs 3  # on a GPU
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from vabal.config import TRAINING_DEFAULTS
from vabal.models import build_classifier
from vabal.training import resolve_device, train_classifier


def reference_loop(images, labels, args, device) -> float:
    """Plain fp32 training with a DataLoader and torchvision transforms; returns img/s."""
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    tf = transforms.Compose(
        [
            transforms.ToPILImage(),
            transforms.RandomCrop(args.size, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize([0.5] * 3, [0.25] * 3),
        ]
    )

    class Images(Dataset):
        def __len__(self):
            return len(images)

        def __getitem__(self, i):
            return tf(images[i]), int(labels[i])

    loader = DataLoader(
        Images(), batch_size=args.batch_size, shuffle=True, num_workers=args.workers, drop_last=True
    )
    model = build_classifier(args.arch, 10, 3, args.width, seed=0).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    model.train()
    seen, start = 0, None
    for _ in range(args.epochs):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if start is None:  # exclude the first (warm-up) step
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                continue
            seen += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def project_loop(images, labels, args) -> float:
    recipe = {
        **TRAINING_DEFAULTS,
        "classifier": args.arch,
        "width": args.width,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr_milestones": [],
        "device": args.device,
    }
    _, history = train_classifier(images, labels, 10, [0.5] * 3, [0.25] * 3, recipe, 0, 0)
    seconds = sum(h["seconds"] for h in history[1:]) if len(history) > 1 else history[0]["seconds"]
    epochs = max(1, len(history) - 1)
    return len(images) * epochs / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="training images")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.n, args.size, args.size, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, args.n)
    print(
        f"device {device}, {args.arch} width {args.width}, {args.n} images "
        f"{args.size}x{args.size}, batch {args.batch_size}, {args.epochs} epochs, "
        f"torch threads {torch.get_num_threads()}"
    )
    ref = reference_loop(images, labels, args, device)
    ours = project_loop(images, labels, args)
    print(f"plain PyTorch (fp32, DataLoader): {ref:10.1f} img/s")
    print(f"vabal trainer (data on device):   {ours:10.1f} img/s")
    print(f"ratio: {ours / ref:.2f}x")


if __name__ == "__main__":
    main()
