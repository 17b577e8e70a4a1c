"""Speed benchmark: the project's trainer and steps against plain PyTorch, on one device.

``vabal bench speed`` (or ``python bench/speed.py``) prints one line per measurement (and
``--json`` writes them all):

* ``train``: training images/s of the textbook PyTorch loop (fp32, torchvision transforms in
  a DataLoader, batch 128) and of the project's trainer at the paper recipe, with the fast
  path off and on (and ``--compile``), and their ratio;
* ``round``: seconds and peak device memory of every stage of one active-learning round
  (label, train_classifier at the paper recipe, evaluate, extract_features, train_vae,
  score, select) for every method, on a CIFAR-10-sized pool at 3 000 labels;
* ``vabal``: VaB-AL's VAE trained 20 epochs on 45 000 feature vectors and Eq. 6 scoring of
  a 50 000 pool with 100 Monte Carlo samples;
* ``vaal``: VAAL's VAE and discriminator trained on that pool, seconds per epoch, fast path
  and (on CUDA) eager;
* ``coreset``: greedy k-center selecting 500 of 50 000 x 512 features;
* ``bald``: MC-Dropout BALD with 100 passes over 50 000 images;
* ``concurrent``: aggregate training throughput of 1, 2, 4... processes sharing the device;
* ``accuracy`` (needs ``--store``, a prepared CIFAR-10 store): test accuracy of the fast path
  and of the plain loop, same recipe, several seeds.

Sizes are the paper's on CUDA (``--size paper``) and small on a CPU (``--size small``;
``--size cpu`` runs configs/cpu.yaml's classifier and kernels; ``tiny`` is what the test
suite runs). The ``setup`` line records the size's numbers and each method's parameters, so
that ``vabal estimate`` scales the round's steps from what actually ran. Nothing here is a
test: it prints figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # this checkout's library

SIZES = {
    # pool, labelled, classes, image size, paper-recipe epochs, throughput epochs, width,
    # feature dims, MC samples, VAE epochs, coreset (n, d, k), BALD pool, VAAL epochs
    "paper": dict(
        pool=50_000, labelled=3_000, classes=10, image=32, epochs=200, tp_epochs=15,
        ref_epochs=3, width=64, mc=100, vae_epochs=20, vae_n=45_000, score_n=50_000,
        coreset=(50_000, 512, 500), bald_n=50_000, vaal_epochs=2, vaal_paper_epochs=100,
        budget=500, workers=8, concurrent=(1, 2, 4), conc_epochs=30,
    ),
    "small": dict(
        pool=2_000, labelled=300, classes=10, image=32, epochs=3, tp_epochs=2,
        ref_epochs=1, width=16, mc=10, vae_epochs=2, vae_n=2_000, score_n=2_000,
        coreset=(5_000, 512, 100), bald_n=500, vaal_epochs=1, vaal_paper_epochs=100,
        budget=100, workers=2, concurrent=(1, 2), conc_epochs=2,
    ),
    # configs/cpu.yaml's classifier (width 16, fp32, pinned AVX2 kernels, channels-last) on
    # a pool the size of its CIFAR-10 rounds' unlabelled share: what `vabal estimate` scales
    # to a CPU protocol's grid
    "cpu": dict(
        pool=10_000, labelled=500, classes=10, image=32, epochs=10, tp_epochs=2,
        ref_epochs=1, width=16, mc=10, vae_epochs=2, vae_n=10_000, score_n=10_000,
        coreset=(10_000, 512, 500), bald_n=2_000, vaal_epochs=1, vaal_paper_epochs=100,
        budget=500, workers=2, concurrent=(1, 2), conc_epochs=2,
        recipe={"amp": "none", "channels_last": True, "eval_batch_size": 128, "tta_flip": True},
        cpu_kernels="avx2", threads=1,
    ),
    "tiny": dict(
        pool=300, labelled=60, classes=4, image=8, epochs=1, tp_epochs=2,
        ref_epochs=2, width=4, mc=3, vae_epochs=1, vae_n=300, score_n=300,
        coreset=(400, 16, 10), bald_n=50, vaal_epochs=1, vaal_paper_epochs=100,
        budget=20, workers=0, concurrent=(1, 2), conc_epochs=2,
    ),
}  # fmt: skip

METHODS = {
    "random": {"kind": "random"},
    "vabal": {"kind": "vabal"},
    "bald": {"kind": "bald"},
    "coreset": {"kind": "coreset"},
    "vaal": {"kind": "vaal"},
    "margin": {"kind": "margin"},
    "entropy": {"kind": "entropy"},
    "badge": {"kind": "badge"},
    "typiclust": {"kind": "typiclust"},
    "balanced": {"kind": "balanced"},
}


# ----------------------------------------------------------------------------- helpers
class Report:
    """Prints each measurement as it comes and keeps them for ``--json``."""

    def __init__(self, json_path=None):
        self.rows, self.json_path = [], json_path

    def add(self, section: str, name: str, value, unit: str = "", **extra) -> None:
        self.rows.append({"section": section, "name": name, "value": value, "unit": unit, **extra})
        shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
        more = "".join(f"  {k} {_fmt(v)}" for k, v in extra.items())
        print(f"[{section}] {name}: {shown} {unit}{more}", flush=True)
        if self.json_path:
            from vabal import io

            io.write_json(self.json_path, self.rows)


def _fmt(v) -> str:
    return f"{v:,.2f}" if isinstance(v, float) else str(v)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def measure(device):
    """Wall seconds and peak device memory (GiB; None on a CPU) of the block."""
    import torch

    out = {}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    yield out
    _sync(device)
    out["seconds"] = time.perf_counter() - start
    out["peak_gib"] = (
        torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    )


def _peak(m) -> dict:
    return {"peak_GiB": round(m["peak_gib"], 3)} if m["peak_gib"] is not None else {}


def recipe_for(size: dict, device: str, **kw) -> dict:
    from vabal.plan.config import TRAINING_DEFAULTS

    recipe = {
        **TRAINING_DEFAULTS,
        "width": size["width"],
        "epochs": size["epochs"],
        "device": device,
        "augment": {"crop_padding": "auto", "hflip": True},
    }
    if size["epochs"] < TRAINING_DEFAULTS["epochs"]:  # shrunk run: keep a schedule step
        recipe["lr_milestones"] = [max(1, int(0.8 * size["epochs"]))]
    return {**recipe, **size.get("recipe", {}), **kw}


def test_size(size: dict) -> int:
    """How many test images the round's evaluation runs on."""
    return max(size["budget"], size["pool"] // 5)


def setup_numbers(size: dict) -> dict:
    """What the ``round`` section runs at (the setup line; read by ``vabal estimate``)."""
    return {
        **{k: size[k] for k in ("pool", "labelled", "epochs", "width", "budget", "classes")},
        "test": test_size(size),
        "pixels": size["image"] ** 2,
        "params": {METHODS[m]["kind"]: _small_params(METHODS[m]["kind"], size) for m in METHODS},
    }


def synthetic_images(n: int, size: dict, seed: int = 0):
    rng = np.random.default_rng(seed)
    s = size["image"]
    images = rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8)
    labels = rng.integers(0, size["classes"], n)
    return images, labels


# ----------------------------------------------------------------------------- train
def reference_loop(
    images, labels, num_classes, mean, std, recipe, device, workers, seed=0, timed=True
):
    """The textbook loop: torchvision transforms in a DataLoader, fp32, ``torch.optim.SGD``.

    Returns the model and images/s of the steps after the first (warm-up) one.
    """
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    from vabal.learn.models import build_classifier
    from vabal.learn.training import crop_padding

    pad = crop_padding(recipe, images.shape[1])
    tf = transforms.Compose(
        [
            transforms.ToPILImage(),
            transforms.RandomCrop(images.shape[1], padding=pad),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )

    class Images(Dataset):
        def __len__(self):
            return len(images)

        def __getitem__(self, i):
            return tf(images[i]), int(labels[i])

    torch.manual_seed(seed)
    loader = DataLoader(
        Images(),
        batch_size=recipe["batch_size"],
        shuffle=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
    model = build_classifier(
        recipe["classifier"], num_classes, images.shape[-1], recipe["width"], seed=seed
    ).to(device)
    opt = torch.optim.SGD(
        model.parameters(),
        lr=recipe["lr"],
        momentum=recipe["momentum"],
        weight_decay=recipe["weight_decay"],
    )
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, recipe["lr_milestones"], recipe["lr_gamma"])
    model.train()
    seen, start = 0, None
    for _ in range(recipe["epochs"]):
        for x, y in loader:
            if len(y) < 2:
                continue
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if start is None:
                _sync(device)
                start = time.perf_counter()
                continue
            seen += len(y)
        sched.step()
    _sync(device)
    rate = seen / (time.perf_counter() - start) if start and seen else float("nan")
    return model, rate


def project_rate(history) -> tuple[float, float]:
    """Images/s of the epochs after the first, and the first epoch's seconds."""
    steady = history[1:] or history
    n = history[0]["images"]
    return n * len(steady) / sum(h["seconds"] for h in steady), history[0]["seconds"]


def train_project(images, labels, num_classes, mean, std, recipe, seed=0):
    from vabal.learn.training import train_classifier

    model, history = train_classifier(images, labels, num_classes, mean, std, recipe, seed, 0)
    for h in history:
        h["images"] = len(images)
    return model, history


def bench_train(report: Report, size: dict, device, compile_: bool) -> None:
    import torch

    images, labels = synthetic_images(size["labelled"], size)
    mean, std = [0.5] * 3, [0.25] * 3
    base = recipe_for(size, str(device), epochs=size["ref_epochs"], lr_milestones=[])
    _, ref = reference_loop(
        images, labels, size["classes"], mean, std, {**base}, device, size["workers"]
    )
    report.add(
        "train",
        "plain PyTorch loop (fp32, DataLoader, batch 128)",
        ref,
        "img/s",
        workers=size["workers"],
    )
    variants = [("trainer, fast path off (eager, default precision)", {"fast": False})]
    if device.type == "cuda":
        variants = [
            ("trainer, fp32 eager, data on device", {"fast": False, "amp": "none"}),
            ("trainer, bf16 + channels_last eager", {"fast": False}),
            ("trainer, fast path: bf16 + channels_last + CUDA graph", {"fast": True}),
        ]
        if compile_:
            variants.append(("trainer, fast path + torch.compile", {"fast": True, "compile": True}))
    else:
        variants.append(("trainer, fast path (graph-safe SGD; graphs need CUDA)", {"fast": True}))
    default_fast = True  # what the trainer does when the config says nothing
    default_rate = None
    for name, kw in variants:
        recipe = recipe_for(size, str(device), epochs=size["tp_epochs"], lr_milestones=[], **kw)
        _, history = train_project(images, labels, size["classes"], mean, std, recipe)
        rate, first = project_rate(history)
        if kw.get("fast") == default_fast and not kw.get("compile") and "amp" not in kw:
            default_rate = rate
        report.add("train", name, rate, "img/s", first_epoch_s=first)
    report.add("train", "ratio trainer (defaults) / plain PyTorch", default_rate / ref, "x")
    if device.type == "cuda":
        report.add("train", "device", torch.cuda.get_device_name(device))


# ----------------------------------------------------------------------------- round
def write_store(root: Path, images, labels, num_classes, test_images=None, test_labels=None):
    """A store (images.npy, samples.parquet, meta.json) as the workflow writes it."""
    import pandas as pd

    from vabal import io

    if test_images is not None:
        all_images = np.concatenate([images, test_images])
        all_labels = np.concatenate([labels, test_labels])
        split = ["train"] * len(images) + ["test"] * len(test_images)
    else:
        all_images, all_labels, split = images, labels, ["train"] * len(images)
    io.write_npy(root / "images.npy", all_images)
    io.write_parquet(
        root / "samples.parquet",
        pd.DataFrame(
            {
                "sample_id": np.arange(len(all_images), dtype=np.int64),
                "label": all_labels.astype(np.int64),
                "class_name": [f"c{i}" for i in all_labels],
                "source_split": split,
                "name": [f"{i}.png" for i in range(len(all_images))],
            }
        ),
    )
    io.write_json(
        root / "meta.json",
        {
            "kind": "synthetic",
            "num_samples": len(all_images),
            "num_classes": num_classes,
            "class_names": [f"c{i}" for i in range(num_classes)],
            "image_shape": list(images.shape[1:]),
            "mean": [0.5] * images.shape[-1],
            "std": [0.25] * images.shape[-1],
        },
    )


def bench_round(report: Report, size: dict, device, methods: list[str]) -> None:
    """One round of every method through the library's round steps (what each rule runs)."""
    from vabal import io
    from vabal.data import store as store_mod
    from vabal.data.splits import make_split
    from vabal.methods import REGISTRY
    from vabal.run import rounds

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images, labels = synthetic_images(size["pool"], size)
        test_images, test_labels = synthetic_images(test_size(size), size, 1)
        write_store(tmp / "store", images, labels, size["classes"], test_images, test_labels)
        store = store_mod.load(tmp / "store")
        ds = {"budget": size["labelled"], "rounds": 1}
        io.write_parquet(tmp / "split.parquet", make_split(store.samples, size["classes"], ds, 0))
        with measure(device) as m:
            rounds.label(tmp / "split.parquet", tmp / "labelled.parquet", 0)
        report.add("round", "label", m["seconds"], "s")
        classifiers: dict[float, Path] = {}

        def context(recipe, files):
            return rounds.context(
                tmp / "store", tmp / "split.parquet", tmp / "labelled.parquet", recipe, 0, 0, files
            )

        for name in methods:
            kind = METHODS[name]["kind"]
            info = REGISTRY[kind]
            params = _small_params(kind, size)
            recipe = {**recipe_for(size, str(device)), **info.classifier}
            files = {}
            key = float(recipe.get("dropout", 0.0))
            if key not in classifiers:
                classifiers[key] = tmp / f"classifier-{key}.pt"
                with measure(device) as m:
                    rounds.train_classifier(
                        tmp / "store", tmp / "labelled.parquet", recipe, 0, 0, classifiers[key]
                    )
                ckpt = io.load_torch(classifiers[key])
                report.add(
                    "round",
                    f"{name}: train_classifier ({recipe['epochs']} epochs, "
                    f"{size['labelled']} labels)",
                    m["seconds"],
                    "s",
                    images_per_s=size["labelled"] * recipe["epochs"] / ckpt["train_seconds"],
                    **_peak(m),
                )
                with measure(device) as m:
                    rounds.evaluate(
                        tmp / "store",
                        tmp / "split.parquet",
                        tmp / "labelled.parquet",
                        classifiers[key],
                        "test",
                        recipe,
                        tmp / "metrics.json",
                    )
                report.add("round", f"{name}: evaluate", m["seconds"], "s", **_peak(m))
            files["classifier"] = classifiers[key]
            for step in info.steps:
                ctx = context(recipe, files)
                out = tmp / f"{name}-{step}.out"
                with measure(device) as m:
                    rounds.method_step(step, kind, params, ctx, out, tmp / f"{name}-diag.json")
                extra = {}
                if kind == "vaal" and step == "train_vae":
                    extra["paper_epochs_estimate_s"] = (
                        m["seconds"] * size["vaal_paper_epochs"] / params["epochs"]
                    )
                    label = f"{name}: train_vae ({params['epochs']} of 100 epochs)"
                else:
                    label = f"{name}: {step}"
                report.add("round", label, m["seconds"], "s", **extra, **_peak(m))
                files[step] = out
            ctx = context(recipe, files)
            with measure(device) as m:
                rounds.select(
                    kind,
                    params,
                    ctx,
                    size["budget"],
                    tmp / f"{name}-selection.parquet",
                    files.get("score"),
                )
            report.add("round", f"{name}: select", m["seconds"], "s", **_peak(m))


def _small_params(kind: str, size: dict) -> dict:
    """Method parameters at the paper's values, shrunk only where the size asks for it."""
    params = {}
    if kind in ("vabal", "bald"):
        params["mc_samples"] = size["mc"]
    if kind == "vabal":
        params["epochs"] = size["vae_epochs"]
    if kind == "vaal":
        params["epochs"] = size["vaal_epochs"]
        if size["image"] < 32:
            params["width"] = 8
    return params


# ----------------------------------------------------------------------------- steps
def bench_vabal(report: Report, size: dict, device) -> None:
    import torch

    from vabal.methods.vabal import vae

    dims = [size["width"] * k for k in (1, 2, 4, 8)]
    gen = torch.Generator().manual_seed(0)
    nc = size["classes"]

    def taps(n):
        return [torch.rand(n, d, generator=gen) for d in dims]

    params = {**vae_defaults(), "epochs": size["vae_epochs"], "mc_samples": size["mc"]}
    train_taps, preds = taps(size["vae_n"]), torch.randint(0, nc, (size["vae_n"],), generator=gen)
    what = f"train_vae {params['epochs']} epochs on {size['vae_n']} features"
    if device.type == "cuda":  # the eager loop, timed on a tenth of the epochs
        eager = {**params, "epochs": max(1, params["epochs"] // 10)}
        with measure(device) as m:
            vae.train_vae(train_taps, preds, nc, eager, device, 0, 1, fast=False)
        scaled = m["seconds"] * params["epochs"] / eager["epochs"]
        report.add("vabal", f"{what}, eager (from {eager['epochs']} epochs)", scaled, "s")
    with measure(device) as m:
        model, _, _ = vae.train_vae(train_taps, preds, nc, params, device, 0, 1, fast=True)
    report.add("vabal", f"{what}, fast path", m["seconds"], "s", **_peak(m))
    lab = model.target([t.to(device) for t in taps(size["labelled"])])
    unl = model.target([t.to(device) for t in taps(size["score_n"])])
    labels = torch.randint(0, nc, (size["labelled"],), device=device)
    with measure(device) as m:
        g = vae.seeded_generator(device, 2)
        draws = vae.predict_draws(model, lab, params["mc_samples"], g, "z2")
        counts = vae.confusion_counts(labels, draws, nc)
        log_d = vae.label_difficulty(counts).log()
        log_p = vae.class_prior(counts).log()
        log_lik, pred, _ = vae.pool_likelihoods(model, unl, params["mc_samples"], g, "z2")
        scores = vae.misclassification_score(log_lik.double(), log_d, log_p, pred)
        vae.as_numpy(scores)
    report.add(
        "vabal",
        f"score {size['score_n']} pool, {params['mc_samples']} MC samples (Eq. 6, 9, 11, 12)",
        m["seconds"],
        "s",
        **_peak(m),
    )


def vae_defaults() -> dict:
    from vabal.methods import REGISTRY

    return dict(REGISTRY["vabal"].params)


def bench_coreset(report: Report, size: dict, device) -> None:
    import torch

    from vabal.methods.coreset.method import greedy_k_center

    n, d, k = size["coreset"]
    gen = torch.Generator().manual_seed(0)
    pool = torch.rand(n, d, generator=gen).to(device)
    centres = torch.rand(size["labelled"], d, generator=gen).to(device)
    greedy_k_center(pool[:1000], centres[:10], 2)  # warm-up (kernels, allocator)
    with measure(device) as m:
        greedy_k_center(pool, centres, k)
    matrix_gib = n * n * 4 / 2**30
    report.add(
        "coreset",
        f"greedy k-center {k} of {n} x {d} ({size['labelled']} labelled centres)",
        m["seconds"],
        "s",
        **_peak(m),
        NxN_fp32_would_be_GiB=round(matrix_gib, 2),
    )


def bench_vaal(report: Report, size: dict, device) -> None:
    """VAAL's training on a CIFAR-sized pool: seconds per epoch, eager and fast path."""
    from vabal.methods.vaal.method import train_vaal

    images, _ = synthetic_images(size["pool"], size)
    lab, unl = images[: size["labelled"]], images[size["labelled"] :]
    params = {"epochs": size["vaal_epochs"]}
    if size["image"] < 32:
        params["width"] = 8
    train_vaal(lab[:256], unl[:512], {**params, "epochs": 1}, device, 0, True, "auto", True)
    paths = [("fast path", True)] + ([("eager", False)] if device.type == "cuda" else [])
    for name, fast in paths:
        with measure(device) as m:
            train_vaal(lab, unl, params, device, 0, True, "auto", fast)
        per_epoch = m["seconds"] / params["epochs"]
        report.add(
            "vaal",
            f"train_vae {name}, {len(lab)} labelled + {len(unl)} unlabelled, per epoch",
            per_epoch,
            "s",
            paper_epochs_estimate_s=per_epoch * size["vaal_paper_epochs"],
            **_peak(m),
        )


def bench_bald(report: Report, size: dict, device) -> None:
    from vabal.learn.models import build_classifier
    from vabal.methods.bald.method import mc_bald

    images, _ = synthetic_images(size["bald_n"], size)
    model = build_classifier("resnet18", size["classes"], 3, size["width"], 0.25, seed=0)
    model = model.to(device)
    if device.type == "cuda":
        import torch

        model = model.to(memory_format=torch.channels_last)
    mc_bald(model, images[:64], [0.5] * 3, [0.25] * 3, 2)  # warm-up
    with measure(device) as m:
        mc_bald(model, images, [0.5] * 3, [0.25] * 3, size["mc"])
    report.add(
        "bald",
        f"{size['mc']} MC-dropout passes over {size['bald_n']} images",
        m["seconds"],
        "s",
        images_per_s=size["bald_n"] * size["mc"] / m["seconds"],
        **_peak(m),
    )


# ----------------------------------------------------------------------------- several runs
def worker(args) -> None:
    """One training run in its own process (for ``concurrent``): prints a JSON line."""
    import torch

    from vabal.learn.training import resolve_device

    size = SIZES[args.size]
    device = resolve_device(args.device)
    images, labels = synthetic_images(size["labelled"], size, seed=args.seed)
    recipe = recipe_for(size, str(device), epochs=size["conc_epochs"], lr_milestones=[])
    start = time.perf_counter()
    _, history = train_project(images, labels, size["classes"], [0.5] * 3, [0.25] * 3, recipe)
    rate, first = project_rate(history)
    print(
        json.dumps(
            {
                "rate": rate,
                "first": first,
                "seconds": time.perf_counter() - start,
                "images": len(images) * len(history),
                "cuda": torch.cuda.is_available(),
            }
        ),
        flush=True,
    )


def bench_concurrent(report: Report, size: dict, device, args) -> None:
    for k in size["concurrent"]:
        cmd = [sys.executable, __file__, "--worker", "--size", args.size]
        cmd += ["--device", str(device)]
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 2) // k))}
        start = time.perf_counter()
        procs = [
            subprocess.Popen([*cmd, "--seed", str(i)], stdout=subprocess.PIPE, text=True, env=env)
            for i in range(k)
        ]
        outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        wall = time.perf_counter() - start
        steady = sum(o["rate"] for o in outs)
        report.add(
            "concurrent",
            f"{k} training process(es) sharing the device",
            steady,
            "img/s aggregate (steady state)",
            per_process=steady / k,
            wall_s=wall,
            images=sum(o["images"] for o in outs),
        )


# ----------------------------------------------------------------------------- accuracy
def accuracy_worker(args) -> None:
    """Train one seed on ``--store`` at 5 000 labels with the fast path or the plain loop."""
    from vabal.data import store as store_mod
    from vabal.learn.training import predict_logits, resolve_device

    device = resolve_device(args.device)
    store = store_mod.load(args.store)
    split = store.samples["source_split"].to_numpy()
    train_ids = np.flatnonzero(split == "train")
    test_ids = np.flatnonzero(split == "test")
    ids = np.sort(np.random.default_rng(args.seed).permutation(train_ids)[: args.labels])
    images = np.asarray(store.images[ids])
    labels = store.samples["label"].to_numpy()[ids]
    size = {**SIZES["paper"], "width": 64, "epochs": args.epochs}
    recipe = recipe_for(size, str(device))
    recipe["lr_milestones"] = [int(round(0.8 * args.epochs))]
    start = time.perf_counter()
    if args.path == "plain":
        model, _ = reference_loop(
            images,
            labels,
            store.num_classes,
            store.meta["mean"],
            store.meta["std"],
            recipe,
            device,
            args.workers,
            seed=args.seed,
        )
        amp = "none"
    else:
        model, _ = train_project(
            images, labels, store.num_classes, store.meta["mean"], store.meta["std"], recipe,
            seed=args.seed,
        )  # fmt: skip
        amp = "auto"
    seconds = time.perf_counter() - start
    logits = predict_logits(
        model, np.asarray(store.images[test_ids]), store.meta["mean"], store.meta["std"], amp=amp
    )
    acc = float((logits.argmax(1) == store.samples["label"].to_numpy()[test_ids]).mean())
    print(json.dumps({"path": args.path, "seed": args.seed, "accuracy": acc, "seconds": seconds}))


def bench_accuracy(report: Report, args, device) -> None:
    base = [sys.executable, __file__, "--accuracy-worker", "--store", args.store]
    base += ["--device", str(device), "--labels", str(args.labels), "--epochs", str(args.epochs)]
    procs = []
    for path in ("plain", "fast"):
        for seed in args.seeds:
            cmd = [*base, "--path", path, "--seed", str(seed)]
            cmd += ["--workers", str(max(1, (os.cpu_count() or 2) // (2 * len(args.seeds))))]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
    results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    for path in ("plain", "fast"):
        accs = [r["accuracy"] for r in results if r["path"] == path]
        secs = [r["seconds"] for r in results if r["path"] == path]
        report.add(
            "accuracy",
            f"{path}: test accuracy, {args.labels} labels, {args.epochs} epochs, "
            f"seeds {args.seeds}",
            100 * float(np.mean(accs)),
            "%",
            std=100 * float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
            each=[round(100 * a, 2) for a in accs],
            train_s=[round(s, 1) for s in secs],
        )


# ----------------------------------------------------------------------------- main
SECTIONS = ("train", "round", "vabal", "vaal", "coreset", "bald", "concurrent")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vabal bench speed", description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(SIZES), help="default: paper on CUDA, else small")
    p.add_argument("--device", default="auto")
    p.add_argument("--sections", nargs="+", choices=[*SECTIONS, "accuracy"], default=SECTIONS)
    p.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=list(METHODS))
    p.add_argument("--compile", action="store_true", help="also time torch.compile (slow start)")
    p.add_argument("--json", help="write every measurement to this JSON file")
    p.add_argument("--store", help="a prepared CIFAR-10 store folder (for accuracy)")
    p.add_argument("--labels", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    # internal: one process of a multi-process section
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--accuracy-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--path", choices=["plain", "fast"], help=argparse.SUPPRESS)
    p.add_argument("--workers", type=int, default=4, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    import logging

    from vabal import kernels

    args = parser().parse_args(argv)
    if args.size and SIZES[args.size].get("cpu_kernels"):
        kernels.pin(SIZES[args.size]["cpu_kernels"])  # before torch loads (workers inherit it)

    import torch

    from vabal.learn.training import resolve_device

    device = resolve_device(args.device)
    args.size = args.size or ("paper" if device.type == "cuda" else "small")
    logging.basicConfig(level=logging.WARNING)
    if args.worker:
        worker(args)
        return 0
    if args.accuracy_worker:
        accuracy_worker(args)
        return 0
    size = SIZES[args.size]
    if size.get("threads"):  # as each of the protocol's jobs runs (one thread a job)
        torch.set_num_threads(size["threads"])
    report = Report(args.json)
    report.add(
        "setup",
        "device",
        str(device),
        size=args.size,
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        cpu_kernels=kernels.pinned(),
        **setup_numbers(size),
    )
    if "accuracy" in args.sections and not args.store:
        raise SystemExit(
            "vabal bench speed: --sections accuracy needs --store (a prepared store folder)"
        )
    for section in args.sections:
        if section == "train":
            bench_train(report, size, device, args.compile)
        elif section == "round":
            bench_round(report, size, device, args.methods)
        elif section == "vabal":
            bench_vabal(report, size, device)
        elif section == "vaal":
            bench_vaal(report, size, device)
        elif section == "coreset":
            bench_coreset(report, size, device)
        elif section == "bald":
            bench_bald(report, size, device)
        elif section == "concurrent":
            bench_concurrent(report, size, device, args)
        elif section == "accuracy":
            bench_accuracy(report, args, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
