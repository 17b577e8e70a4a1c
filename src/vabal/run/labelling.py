"""One real round of active learning on a user's own images: which images to label next.

Everything else the pipeline does is a simulation, with an oracle that reads labels every
image already has. Here the labels are a user's: a folder of images (any depth, or a tar
archive), a CSV of the labels known so far (``path,label``, paths relative to the folder;
every other image is the pool), a method, a budget and a classifier recipe. One call:

1. checks the labels (each row names an image of the folder and a known class, no path
   twice with two labels, at least one labelled image per class asked of the classifier:
   as many labelled images as classes at least) and the budget (at most the pool);
2. reads the images into a store (``store/``: the pipeline's layout, unknown labels -1);
3. trains the classifier on the labelled images (:func:`vabal.run.rounds.train_classifier`),
   runs the method's steps on the pool and selects ``budget`` images
   (:func:`vabal.run.rounds.method_step`, :func:`vabal.run.rounds.select`): the same
   functions as a round of the workflow;
4. writes ``to_label.csv`` (path, rank, score, the classifier's guess and its probability)
   and ``to_label.png``, a contact sheet of the chosen images with their guesses.

The round folder keeps its inputs (``labels.csv``, ``round.json``: the call's parameters,
the classes and a SHA-256 of the labels and of the image list), the classifier and every
step's file, so a session can be resumed, audited and reproduced: the same seed and the same
CSV give the same selection. It is written in a temporary folder beside ``out`` and renamed
at the end: a failed call leaves nothing.

    vabal next IMAGES labels.csv --method vabal --budget 50 --out session/round1
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np

from vabal import io
from vabal.errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: the classifier of a labelling round on a CPU: the recipe study's 60 000-image one-cycle
#: training (docs/results.md) at peak lr 0.05, which docs/labelling.md's walkthrough used;
#: configs/cpu.yaml peaks at 0.1 (a point more on CIFAR-10+[1], within the seed spread)
RECIPE = {
    "classifier": "resnet18",
    "width": 16,
    "batch_size": 64,
    "lr": 0.05,
    "images": 60_000,
    "lr_schedule": "onecycle",
    "warmup": 0.2,
    "eval_batch_size": 128,
}


# ----------------------------------------------------------------------------- inputs
def read_labels(csv_path: Path, images: list[str], classes: list[str] | None) -> dict[str, str]:
    """``{path: label}`` from the CSV, checked against the folder's images and the classes."""
    known = set(images)
    try:
        with open(csv_path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{csv_path}: cannot read the labels ({exc})") from None
    if not rows or [c.strip() for c in rows[0][:2]] != ["path", "label"]:
        raise DataError(f"{csv_path}: the first line must be the header 'path,label'")
    labels: dict[str, str] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise DataError(f"{csv_path}, line {n}: expected 'path,label', got {row}")
        path, label = row[0].strip().lstrip("./"), row[1].strip()
        if path not in known:
            raise DataError(f"{csv_path}, line {n}: {path!r} is not an image of the folder")
        if classes is not None and label not in classes:
            raise DataError(
                f"{csv_path}, line {n}: label {label!r} names no known class "
                f"(known: {', '.join(classes)})"
            )
        if labels.get(path, label) != label:
            raise DataError(
                f"{csv_path}, line {n}: {path!r} is labelled twice, {labels[path]!r} and {label!r}"
            )
        labels[path] = label
    return labels


def resolve_classes(option: str | None, labels_csv: Path) -> list[str] | None:
    """The known classes: ``--classes`` (a comma list, or a file with one class a line), else
    a ``classes.txt`` beside the labels, else None (the CSV's labels, sorted)."""
    if option is None:
        beside = labels_csv.parent / "classes.txt"
        if not beside.exists():
            return None
        option = str(beside)
    path = Path(option)
    if path.is_file():
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    else:
        names = [c.strip() for c in option.split(",") if c.strip()]
    if len(set(names)) != len(names) or len(names) < 2:
        raise ConfigError(f"--classes: expected two or more distinct classes, got {names}")
    return names


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- the round
def next_round(
    images_dir,
    labels_csv,
    out,
    *,
    method: dict | None = None,
    budget: int = 50,
    seed: int = 0,
    recipe: dict | None = None,
    classes: str | None = None,
    size: int | None = None,
    channels: int | None = None,
) -> Path:
    """Run one labelling round into the folder ``out`` (which must not exist); return it."""
    from vabal.data import sources
    from vabal.methods import REGISTRY
    from vabal.plan.config import TRAINING_DEFAULTS

    images_dir, labels_csv, out = Path(images_dir), Path(labels_csv), Path(out)
    method = dict(method or {"kind": "vabal"})
    if method.get("kind") not in REGISTRY:
        raise ConfigError(
            f"--method: unknown method {method.get('kind')!r} "
            f"(known: {', '.join(sorted(REGISTRY))})"
        )
    REGISTRY[method["kind"]].check_params(method, f"--method {method['kind']}")
    if out.exists():
        raise ConfigError(f"--out: {out} exists already; a round is written to a new folder")
    if budget < 1:
        raise ConfigError(f"--budget: {budget} must be at least 1")
    names = sources.list_images(images_dir)
    if not names:
        raise DataError(f"{images_dir}: no images found")
    known = resolve_classes(classes, labels_csv)
    labels = read_labels(labels_csv, names, known)
    class_names = known or sorted(set(labels.values()))
    if len(labels) < len(class_names):
        raise DataError(
            f"{labels_csv}: {len(labels)} labelled images for {len(class_names)} classes; label "
            "at least one image per class"
        )
    pool = [n for n in names if n not in labels]
    if budget > len(pool):
        raise DataError(
            f"--budget {budget} is larger than the {len(pool)} unlabelled images of {images_dir}"
        )
    kind = method.pop("kind")
    full_recipe = {**TRAINING_DEFAULTS, **RECIPE, **(recipe or {}), "device": "cpu"}
    full_recipe.update(REGISTRY[kind].classifier)

    record = {
        "images": str(images_dir.resolve()),
        "labels_csv": str(labels_csv.resolve()),
        "labels_sha256": _sha256(labels_csv.read_bytes()),
        "image_list_sha256": _sha256("\n".join(names).encode()),
        "n_images": len(names),
        "n_labelled": len(labels),
        "n_pool": len(pool),
        "classes": class_names,
        "method": {"kind": kind, **method},
        "budget": budget,
        "seed": seed,
        "recipe": full_recipe,
        "size": size,
        "channels": channels,
    }
    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _round(tmp, images_dir, names, labels, record)
        shutil.copyfile(labels_csv, tmp / "labels.csv")
        io.write_json(tmp / "round.json", record)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("wrote %s", out)
    return out


def _round(folder, images_dir, names, labels, record) -> None:
    """The store, the classifier, the method's steps, the selection and the two outputs."""
    import pandas as pd

    from vabal.data import sources
    from vabal.data.store import write_store
    from vabal.methods import REGISTRY
    from vabal.run import rounds

    class_names, budget, seed, recipe = (record[k] for k in ("classes", "budget", "seed", "recipe"))
    params = {k: v for k, v in record["method"].items() if k != "kind"}
    kind = record["method"]["kind"]
    images = sources.read_images(images_dir, names, record["channels"], record["size"])
    index = {c: i for i, c in enumerate(class_names)}
    label_ids = np.array([index[labels[n]] if n in labels else -1 for n in names])
    write_store(folder / "store", images, label_ids, class_names, names)
    split = pd.DataFrame(
        {
            "sample_id": np.arange(len(names), dtype=np.int64),
            "label": label_ids.astype(np.int64),
            "role": pd.Categorical(
                ["pool"] * len(names), categories=["pool", "val", "test", "removed"]
            ),
            "initial": label_ids >= 0,
        }
    )
    io.write_parquet(folder / "split.parquet", split)
    rounds.label(folder / "split.parquet", folder / "labelled.parquet", 0)
    rounds.train_classifier(
        folder / "store", folder / "labelled.parquet", recipe, seed, 0, folder / "classifier.pt"
    )
    files = {"classifier": folder / "classifier.pt"}
    outputs = {"extract_features": "features.pt", "train_vae": "vae.pt", "score": "scores.parquet"}

    def context():
        labelled = folder / "labelled.parquet"
        store, split = folder / "store", folder / "split.parquet"
        return rounds.context(store, split, labelled, recipe, seed, 0, files, budget)

    for step in REGISTRY[kind].steps:
        diagnostics = folder / "score_diagnostics.json"
        rounds.method_step(step, kind, params, context(), folder / outputs[step], diagnostics)
        files[step] = folder / outputs[step]
    ctx = context()
    rounds.select(kind, params, ctx, budget, folder / "selection.parquet", files.get("score"))
    chosen = io.read_table(folder / "selection.parquet", "selection")
    ids = chosen["sample_id"].to_numpy()
    probs = _probabilities(folder, images[ids])
    frame = pd.DataFrame(
        {
            "path": [names[i] for i in ids],
            "rank": chosen["rank"].to_numpy() + 1,
            "score": chosen["score"].to_numpy() if "score" in chosen else np.nan,
            "guess": [class_names[i] for i in probs.argmax(1)],
            "probability": probs.max(1).round(4),
        }
    )
    with io.atomic_path(folder / "to_label.csv") as tmp:
        frame.to_csv(tmp, index=False)
    contact_sheet(images[ids], frame, folder / "to_label.png")


def _probabilities(folder: Path, images: np.ndarray) -> np.ndarray:
    import torch

    from vabal.learn.training import load_classifier, predict_logits

    model, ckpt = load_classifier(folder / "classifier.pt", torch.device("cpu"))
    logits = predict_logits(model, images, ckpt["mean"], ckpt["std"], 128, "none")
    return torch.softmax(torch.from_numpy(logits).double(), 1).numpy()


def contact_sheet(images: np.ndarray, frame, path: Path, columns: int = 10) -> None:
    """The chosen images in rank order, each titled with its rank, guess and probability."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, row in zip(axes.flat, images, frame.itertuples(), strict=False):
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{row.rank}. {row.guess} ({row.probability:.2f})", fontsize=7)
    fig.suptitle("To label next: rank. the classifier's guess (its probability)", fontsize=9)
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    """``vabal next``: the command line of :func:`next_round`."""
    import argparse

    import yaml

    p = argparse.ArgumentParser(prog="vabal next", description=__doc__.splitlines()[0])
    p.add_argument("images", help="the image folder (any depth) or a tar archive of it")
    p.add_argument("labels", help="CSV 'path,label' of the labels known so far")
    p.add_argument("--out", required=True, help="the round's folder (must not exist)")
    p.add_argument("--method", default="vabal", help="a method kind (vabal, margin, ...)")
    p.add_argument("--params", default="{}", help="the method's parameters, as YAML")
    p.add_argument("--budget", type=int, default=50, help="images to label next")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--recipe", default="{}", help="classifier recipe keys, as YAML")
    p.add_argument("--classes", help="the classes: a comma list or a file, one a line")
    p.add_argument("--size", type=int, help="resize every image to SIZE x SIZE")
    p.add_argument("--channels", type=int, choices=[1, 3], help="default: 1 if all are grey")
    args = p.parse_args(argv)
    try:
        params, recipe = yaml.safe_load(args.params) or {}, yaml.safe_load(args.recipe) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"--params / --recipe: not YAML ({exc})") from None
    out = next_round(
        args.images,
        args.labels,
        args.out,
        method={"kind": args.method, **params},
        budget=args.budget,
        seed=args.seed,
        recipe=recipe,
        classes=args.classes,
        size=args.size,
        channels=args.channels,
    )
    print(f"{out / 'to_label.csv'}\n{out / 'to_label.png'}")
    return 0


def round_json(folder) -> dict:
    return json.loads((Path(folder) / "round.json").read_text())
