"""Classifier, on-device augmentation and the training loop (tiny, CPU)."""

import copy

import numpy as np
import pytest
import torch

from vabal.learn.models import build_classifier
from vabal.learn.training import predict_logits, random_crop_flip, train_classifier
from vabal.plan.config import TRAINING_DEFAULTS


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


def test_epoch_augmentation_crops_inside_padding_and_flips_about_half():
    from vabal.learn.training import DeviceImages, epoch_batches

    n, size, pad = 2000, 6, 2
    # every image is a distinct ramp, so a crop's position can be read off its pixels
    base = torch.arange(size * size, dtype=torch.uint8).view(1, 1, size, size) + 1
    imgs = base.repeat(n, 1, 1, 1)
    data = DeviceImages(imgs, torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1))
    targets = torch.arange(n)
    gen = torch.Generator().manual_seed(0)
    out, ys = epoch_batches(data, targets, {"padding": pad, "hflip": True}, gen, chunk=300)
    assert sorted(ys.tolist()) == list(range(n))  # a permutation of the epoch
    padded = torch.nn.functional.pad(base[0], (pad, pad, pad, pad))
    windows = [
        padded[:, r : r + size, c : c + size]
        for r in range(2 * pad + 1)
        for c in range(2 * pad + 1)
    ]
    flips = 0
    for x in out[:400]:
        plain = [i for i, w in enumerate(windows) if torch.equal(x, w)]
        mirrored = [i for i, w in enumerate(windows) if torch.equal(x, w.flip(2))]
        assert plain or mirrored, "a crop outside the padded image"
        flips += bool(mirrored) and not plain
    assert 150 < flips < 250  # about half of 400
    # offsets cover the whole padded range, not just the centre
    assert (out[:, 0, 0, :] == 0).any() and (out[:, 0, -1, :] == 0).any()


def test_graph_safe_sgd_follows_torch_sgd():
    from vabal.learn.training import GraphSafeSGD

    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 3))
    b = copy.deepcopy(a)
    ref = torch.optim.SGD(a.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    ours = GraphSafeSGD(b.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
    for step in range(5):
        if step == 3:
            for g in ref.param_groups:
                g["lr"] = 0.01
            ours.set_lr(0.01)
        for model, opt in ((a, ref), (b, ours)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-6, atol=1e-7)


def _step_pair(device, fast):
    from vabal.learn.training import DeviceImages, TrainStep

    images, labels = separable_images(n=32)
    model = build_classifier("resnet18", 2, 1, width=4, seed=3).to(device)
    data = DeviceImages.from_numpy(images, [0.3], [0.3], device)
    step = TrainStep(model, data, tiny_recipe(), None, fast)
    return model, step, data.data, torch.as_tensor(labels, device=device)


def _check_same_losses_and_weights(device):
    (ma, sa, x, y), (mb, sb, _, _) = _step_pair(device, False), _step_pair(device, True)
    for lo in (0, 16, 0, 16, 0):  # same batches on both paths, fp32
        for step in (sa, sb):
            step(x[lo : lo + 16], y[lo : lo + 16])
        torch.testing.assert_close(sa.loss_sum, sb.loss_sum, rtol=1e-4, atol=1e-5)
        assert int(sa.hits) == int(sb.hits)
    for pa, pb in zip(ma.parameters(), mb.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-3, atol=1e-4)


def test_fast_and_plain_steps_agree_on_cpu():
    _check_same_losses_and_weights(torch.device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_step_equals_eager_step_in_fp32(strict_fp32):
    _check_same_losses_and_weights(torch.device("cuda"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fast_path_trains_like_the_plain_path(strict_fp32):
    images, labels = separable_images()
    recipe = tiny_recipe(device="cuda", amp="none", deterministic=True)
    fast, hist_fast = train_classifier(images, labels, 2, [0.3], [0.3], recipe, 0, 0)
    plain, hist_plain = train_classifier(
        images, labels, 2, [0.3], [0.3], {**recipe, "fast": False}, 0, 0
    )
    losses = [h["loss"] for h in hist_fast], [h["loss"] for h in hist_plain]
    np.testing.assert_allclose(*losses, rtol=1e-3, atol=1e-3)


def test_one_channel_batches_have_the_standard_layout():
    # (N, 1, H, W) with channel stride 1 is channels-last too; oneDNN's CPU backward then
    # gives different gradients on every call (and corrupts the heap)
    from vabal.learn.training import DeviceImages, to_nchw

    images, labels = separable_images(n=16)
    x = to_nchw(images, "cpu")
    assert x.stride() == (64, 64, 8, 1) and torch.equal(x[:, 0], torch.from_numpy(images[..., 0]))
    data = DeviceImages.from_numpy(images, [0.3], [0.3], torch.device("cpu"))
    batch = data.batch(torch.arange(16), {"padding": 1, "hflip": True}, torch.Generator())
    assert batch.stride() == (64, 64, 8, 1)
    model = build_classifier("resnet18", 2, 1, width=4, seed=3)
    y = torch.as_tensor(labels)
    grads = []
    for _ in range(3):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(data.normalise(data.data)), y).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for again in grads[1:]:
        assert all(torch.equal(a, b) for a, b in zip(grads[0], again, strict=True))


# ----------------------------------------------------------------------------- length, schedule
def _data(n=64, side=8, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (n, side, side, 3), dtype=np.uint8), rng.integers(0, classes, n)


def _fit(recipe, n=64):
    x, y = _data(n)
    model, history = train_classifier(x, y, 4, [0.5] * 3, [0.25] * 3, recipe, 0, 1)
    return model.state_dict(), history


def _textbook(recipe, n=64):
    """The epochs loop as it stood before lengths in images: MultiStepLR at epoch ends."""
    from vabal import seeding
    from vabal.learn.training import (
        Compute,
        TrainStep,
        crop_padding,
        epoch_batches,
        use_fast_path,
    )

    x, y = _data(n)
    device = torch.device("cpu")
    torch.manual_seed(seeding.derive(0, "train", 1))
    gen = torch.Generator().manual_seed(seeding.derive(0, "batches", 1))
    compute = Compute.of(recipe, device)
    model = compute.model(
        build_classifier("resnet18", 4, 3, recipe["width"], seed=seeding.derive(0, "init"))
    )
    data = compute.images(x, [0.5] * 3, [0.25] * 3)
    targets = torch.as_tensor(y)
    augment = {"padding": crop_padding(recipe, 8), "hflip": recipe["augment"]["hflip"]}
    step = TrainStep(model, data, recipe, compute.dtype, use_fast_path(recipe, device))
    lr, bs = recipe["lr"], recipe["batch_size"]
    model.train()
    for epoch in range(recipe["epochs"]):
        xs, ys = epoch_batches(data, targets, augment, gen)
        for lo in range(0, n, bs):
            if min(n, lo + bs) - lo == 1:
                continue
            step(xs[lo : lo + bs], ys[lo : lo + bs])
        if epoch + 1 in recipe["lr_milestones"]:
            lr *= recipe["lr_gamma"]
            step.set_lr(lr)
    return model.state_dict()


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("n", [64, 65])
def test_an_epochs_recipe_trains_as_the_textbook_loop(n):
    """Existing configs keep their results: an epochs recipe (a last batch of one sample
    skipped, the rate dropped after each milestone epoch) gives the same weights, bit for
    bit, as the plain MultiStepLR loop."""
    recipe = tiny_recipe(epochs=5, lr_milestones=[2, 4], amp="none", channels_last=False)
    assert _same(_fit(recipe, n)[0], _textbook(recipe, n))


def test_an_images_recipe_is_the_epochs_recipe_of_the_same_length():
    """64 samples in batches of 16: 320 images are 5 epochs, and a drop at 0.8 of the steps
    is epoch 4's milestone: the same weights."""
    epochs = tiny_recipe(epochs=5, lr_milestones=[4], amp="none")
    images = tiny_recipe(images=320, lr_drops=[0.8], amp="none")
    (a, ha), (b, hb) = _fit(epochs), _fit(images)
    assert _same(a, b) and [h["lr"] for h in ha] == [h["lr"] for h in hb]
    assert hb[-1]["steps"] == 20 and sum(h["images"] for h in hb) == 320


def test_an_images_recipe_ends_mid_epoch_whatever_the_labelled_size():
    for n, epochs in ((64, 2), (40, 3)):  # 100 images of batch 16 = 7 steps
        _, history = _fit(tiny_recipe(images=100, lr_schedule="cosine"), n)
        assert history[-1]["steps"] == 7 and len(history) == epochs


def test_schedules():
    from vabal.learn.training import Schedule

    base = tiny_recipe(images=1000, batch_size=10, lr=1.0)
    multi = Schedule.of({**base, "lr_drops": [0.5, 0.75], "lr_gamma": 0.1}, 50)
    assert multi.steps == 100 and multi.steps_per_epoch == 5 and multi.epochs == 20
    assert [multi.lr(t) for t in (0, 49, 50, 74, 75, 99)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01]
    )
    cos = Schedule.of({**base, "lr_schedule": "cosine", "warmup": 0.1}, 50)
    assert cos.lr(0) == pytest.approx(0.1) and cos.lr(9) == pytest.approx(1.0)
    assert cos.lr(10) == pytest.approx(1.0) and cos.lr(55) == pytest.approx(0.5)
    assert 0 < cos.lr(99) < 0.001
    one = Schedule.of({**base, "lr_schedule": "onecycle", "warmup": 0.2}, 50)
    assert one.lr(19) == pytest.approx(1.0) and one.lr(60) == pytest.approx(0.5)
    assert one.lr(99) == pytest.approx(1 / 80)
    # epochs: one sample left over is not a batch; milestones count epochs
    ep = Schedule.of(tiny_recipe(epochs=3, batch_size=16, lr=1.0, lr_milestones=[2]), 33)
    assert (ep.steps_per_epoch, ep.steps, ep.epochs) == (2, 6, 3)
    assert [ep.lr(t) for t in range(6)] == pytest.approx([1, 1, 1, 1, 0.1, 0.1])
    with pytest.raises(ValueError, match="no labelled samples"):
        Schedule.of(base, 0)


def test_label_smoothing_changes_the_loss_not_the_data():
    plain = _fit(tiny_recipe(epochs=1, amp="none"))[1][0]["loss"]
    smooth = _fit(tiny_recipe(epochs=1, amp="none", label_smoothing=0.3))[1][0]["loss"]
    assert smooth != plain


def test_tta_flip_averages_each_image_and_its_mirror():
    model = build_classifier("resnet18", 4, 3, width=4, seed=0)
    x, _ = _data(10)
    plain = predict_logits(model, x, [0.5] * 3, [0.25] * 3, 4, "none")
    mirror = predict_logits(model, x[:, :, ::-1].copy(), [0.5] * 3, [0.25] * 3, 4, "none")
    both = predict_logits(model, x, [0.5] * 3, [0.25] * 3, 4, "none", tta_flip=True)
    np.testing.assert_allclose(both, (plain + mirror) / 2, rtol=1e-5, atol=1e-5)


def test_compute_on_a_cpu():
    from vabal.learn.training import Compute, cpu_has_fast_bf16

    cpu = torch.device("cpu")
    auto = Compute.of({"amp": "auto", "channels_last": "auto"}, cpu)
    assert auto.channels_last and auto.dtype == (torch.bfloat16 if cpu_has_fast_bf16() else None)
    plain = Compute.of({"amp": "none", "channels_last": False}, cpu)
    assert plain.dtype is None and not plain.channels_last
    assert Compute.of({"amp": "bf16", "channels_last": True}, cpu).dtype == torch.bfloat16
    # a one-channel batch keeps the standard strides under channels-last (see to_nchw)
    grey = auto.images(np.zeros((3, 8, 8, 1), np.uint8), [0.5], [0.25])
    x = grey.batch(torch.arange(3))
    assert x.stride() == (64, 64, 8, 1)
    rgb = auto.images(np.zeros((3, 8, 8, 3), np.uint8), [0.5] * 3, [0.25] * 3).batch(
        torch.arange(3)
    )
    assert rgb.is_contiguous(memory_format=torch.channels_last)


def test_bf16_and_channels_last_train_a_one_channel_net_repeatably():
    """oneDNN's backward misread a one-channel batch in the ambiguous layout (to_nchw): the
    fast path on grey images gives the same weights twice."""
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (48, 8, 8, 1), dtype=np.uint8), rng.integers(0, 3, 48)
    recipe = tiny_recipe(epochs=2, amp="bf16", channels_last=True)
    a = train_classifier(x, y, 3, [0.5], [0.25], recipe, 0, 0)[0].state_dict()
    b = train_classifier(x, y, 3, [0.5], [0.25], recipe, 0, 0)[0].state_dict()
    assert _same(a, b) and all(torch.isfinite(v.float()).all() for v in a.values())
