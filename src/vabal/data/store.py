"""The canonical dataset store: one uint8 image array and one Parquet table per source.

``results/data/<source>/`` holds

* ``images.npy``      uint8, shape (N, H, W, C), in sample_id order;
* ``samples.parquet`` sample_id, label, class_name, source_split (train / test), name;
* ``meta.json``       class names, image shape, per-channel mean and std of the training part,
  checksum of the source.

Sources without an official test split (digits, NEU, a flat image folder) get one here: a
seeded ``ceil(test_fraction * n_c)`` per class, which gives NEU's 5778 / 1448 at 20 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vabal import io, seeding
from vabal.errors import DataError


def hold_out_test(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the test samples: ``ceil(fraction * n_c)`` drawn per class."""
    gen = seeding.rng(seed, "test-split")
    mask = np.zeros(len(labels), dtype=bool)
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        n_test = math.ceil(fraction * len(idx) - 1e-9)
        mask[gen.permutation(idx)[:n_test]] = True
    return mask


def prepare(source_cfg: dict, out_dir: str | Path) -> None:
    """Load a raw source, verify it, and write the store under ``out_dir``."""
    import pandas as pd

    from vabal.data import sources

    kind = source_cfg["kind"]
    path = source_cfg.get("path")
    if (
        path is not None
        and Path(path).is_file()
        and (source_cfg.get("sha256") or source_cfg.get("md5"))
    ):
        sources.verify_checksum(path, sha256=source_cfg.get("sha256"), md5=source_cfg.get("md5"))
    options = {"channels": source_cfg["channels"]} if "channels" in source_cfg else {}
    raw = sources.load_source(kind, path, **options)
    split = np.asarray(raw.source_split).astype(str)
    if not (split == "test").any():
        test = hold_out_test(
            raw.labels, source_cfg.get("test_fraction", 0.2), source_cfg.get("test_seed", 0)
        )
        split = np.where(test, "test", "train")
    images = np.ascontiguousarray(raw.images, dtype=np.uint8)
    if source_cfg.get("resize"):
        images = resize_images(images, int(source_cfg["resize"]))
    train = images[split == "train"].astype(np.float64) / 255.0
    table = pd.DataFrame(
        {
            "sample_id": np.arange(len(images), dtype=np.int64),
            "label": np.asarray(raw.labels, dtype=np.int64),
            "class_name": [raw.class_names[i] for i in raw.labels],
            "source_split": split,
            "name": list(raw.names),
        }
    )
    meta = {
        "kind": kind,
        "num_samples": len(images),
        "num_classes": len(raw.class_names),
        "class_names": list(raw.class_names),
        "image_shape": list(images.shape[1:]),
        "mean": train.mean(axis=(0, 1, 2)).tolist(),
        "std": train.std(axis=(0, 1, 2)).tolist(),
        "sha256": source_cfg.get("sha256"),
        "counts": {s: int((split == s).sum()) for s in ("train", "test")},
        "train_class_counts": np.bincount(
            table["label"].to_numpy()[split == "train"], minlength=len(raw.class_names)
        ).tolist(),
    }
    if source_cfg.get("resize"):
        meta["resized_from"] = list(raw.images.shape[1:3])
    out_dir = Path(out_dir)
    io.write_npy(out_dir / "images.npy", images)
    io.write_parquet(out_dir / "samples.parquet", table)
    io.write_json(out_dir / "meta.json", meta)


def write_store(out_dir, images: np.ndarray, labels, class_names: list[str], names) -> None:
    """A store from arrays (a user's images, :mod:`vabal.run.labelling`): every image
    "train", a label of -1 where it is not known; mean and std over all images."""
    import pandas as pd

    labels = np.asarray(labels, dtype=np.int64)
    pixels = images.astype(np.float64) / 255.0
    table = pd.DataFrame(
        {
            "sample_id": np.arange(len(images), dtype=np.int64),
            "label": labels,
            "class_name": [class_names[i] if i >= 0 else "" for i in labels],
            "source_split": "train",
            "name": list(names),
        }
    )
    meta = {
        "kind": "labelling",
        "num_samples": len(images),
        "num_classes": len(class_names),
        "class_names": list(class_names),
        "image_shape": list(images.shape[1:]),
        "mean": pixels.mean(axis=(0, 1, 2)).tolist(),
        "std": np.maximum(pixels.std(axis=(0, 1, 2)), 1e-3).tolist(),
        "counts": {"train": len(images), "test": 0},
        "train_class_counts": np.bincount(labels[labels >= 0], minlength=len(class_names)).tolist(),
    }
    out_dir = Path(out_dir)
    io.write_npy(out_dir / "images.npy", np.ascontiguousarray(images, dtype=np.uint8))
    io.write_parquet(out_dir / "samples.parquet", table)
    io.write_json(out_dir / "meta.json", meta)


def resize_images(images: np.ndarray, side: int) -> np.ndarray:
    """``images`` (N, H, W, C uint8) resized to ``side`` x ``side``: area averaging when an
    image shrinks (a 2x reduction averages each 2x2 block), bilinear when it grows."""
    from PIL import Image

    n, h, w, c = images.shape
    if (h, w) == (side, side):
        return images
    shrink = side <= min(h, w)
    method = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    out = np.empty((n, side, side, c), dtype=np.uint8)
    for i in range(n):
        img = Image.fromarray(images[i, :, :, 0] if c == 1 else images[i])
        out[i] = np.asarray(img.resize((side, side), method)).reshape(side, side, c)
    return out


@dataclass
class Store:
    """A prepared source: images (memory-mapped), the sample table and its metadata."""

    root: Path
    images: np.ndarray
    samples: object
    meta: dict

    @property
    def num_classes(self) -> int:
        return int(self.meta["num_classes"])

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])


def load(root: str | Path) -> Store:
    """Open the store under ``root``, checking that its three files agree."""
    root = Path(root)
    meta = io.read_json(root / "meta.json")
    samples = io.read_table(root / "samples.parquet", "samples")
    images = io.read_npy(root / "images.npy", mmap=True)
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) != len(samples):
        raise DataError(
            f"{root / 'images.npy'}: expected uint8 (N, H, W, C) with N = {len(samples)}, "
            f"got {images.dtype} {images.shape}; delete the folder to prepare it again"
        )
    return Store(root=root, images=images, samples=samples, meta=meta)
