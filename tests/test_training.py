"""Classifier, on-device augmentation and the training loop (tiny, CPU)."""

import numpy as np
import pytest
import torch

from vabal.config import TRAINING_DEFAULTS
from vabal.models import build_classifier
from vabal.training import predict_logits, random_crop_flip, train_classifier


@pytest.mark.parametrize(
    ("arch", "channels", "size"), [("resnet18", 1, 8), ("resnet18", 3, 32), ("resnet34", 1, 64)]
)
def test_cifar_stem_and_taps(arch, channels, size):
    model = build_classifier(arch, 7, channels, width=4)
    assert model.conv1.stride == (1, 1) and model.conv1.kernel_size == (3, 3)
    assert isinstance(model.maxpool, torch.nn.Identity)
    taps, logits = model.taps(torch.randn(2, channels, size, size))
    assert [t.shape[1] for t in taps] == [4, 8, 16, 32] and logits.shape == (2, 7)
    blocks = sum(len(s) for s in model.stages)
    assert blocks == (8 if arch == "resnet18" else 16)


def test_initial_weights_depend_on_seed_only():
    a = build_classifier("resnet18", 10, 3, width=4, seed=5)
    torch.manual_seed(123)  # global state must not matter
    b = build_classifier("resnet18", 10, 3, width=4, seed=5)
    c = build_classifier("resnet18", 10, 3, width=4, seed=6)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["conv1.weight"], sc["conv1.weight"])


def test_random_crop_is_a_window_of_the_padded_image():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.uint8).view(2, 3, 5, 5)
    gen = torch.Generator().manual_seed(0)
    out = random_crop_flip(x, padding=2, hflip=False, generator=gen)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, r : r + 5, c : c + 5] for r in range(5) for c in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)
    flipped = random_crop_flip(x, padding=0, hflip=True, generator=torch.Generator().manual_seed(1))
    for i in range(2):
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(2))


def tiny_recipe(**kw):
    recipe = {
        **TRAINING_DEFAULTS,
        "width": 4,
        "epochs": 6,
        "batch_size": 16,
        "lr": 0.05,
        "lr_milestones": [5],
        "augment": {"crop_padding": 1, "hflip": False},
    }
    return {**recipe, **kw}


def separable_images(n=64, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.integers(0, 60, size=(n, 8, 8, 1), dtype=np.uint8)
    images[labels == 1, :, :4] += 150  # class 1: bright left half
    return images, labels


def test_training_learns_and_is_deterministic():
    images, labels = separable_images()
    model, history = train_classifier(images, labels, 2, [0.3], [0.3], tiny_recipe(), 0, 0)
    assert history[-1]["loss"] < history[0]["loss"]
    acc = (predict_logits(model, images, [0.3], [0.3]).argmax(1) == labels).mean()
    assert acc > 0.9
    again, _ = train_classifier(images, labels, 2, [0.3], [0.3], tiny_recipe(), 0, 0)
    s1, s2 = model.state_dict(), again.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)


def test_single_sample_last_batch_is_skipped_not_fatal():
    images, labels = separable_images(n=17)
    train_classifier(images, labels, 2, [0.3], [0.3], tiny_recipe(epochs=1), 0, 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_training_runs():
    images, labels = separable_images()
    model, history = train_classifier(
        images, labels, 2, [0.3], [0.3], tiny_recipe(device="cuda", amp="bf16"), 0, 0
    )
    assert next(model.parameters()).is_cuda and np.isfinite(history[-1]["loss"])
