"""Raw image sources: read each supported dataset into one in-memory form, :class:`RawDataset`.

Supported sources (see :func:`load_source` for the dispatch by name):

* ``digits``: scikit-learn's bundled 8x8 digits (no download, no path);
* ``neu``: the NEU surface-defect set NEU-CLS-64, as its ``.tar.xz`` archive or extracted folder;
* ``cifar10``: the official ``cifar-10-python.tar.gz`` pickles or the per-image JPEG copy
  (``train/<class>/NNNN.jpg``, ``test/<class>/NNNN.jpg``), each as archive or folder;
* ``cifar100``: the official ``cifar-100-python.tar.gz`` pickles (archive or folder), fine labels;
* ``imagefolder``: any ``<class>/<image>`` or ``train|test/<class>/<image>`` tree.

Archives are streamed once with :mod:`tarfile` and never extracted to disk; archives and folders
share one code path (:func:`_iter_entries` feeds a :class:`_Tree`). Every problem with the data
(missing path, truncated archive, undecodable image, inconsistent sizes, malformed pickle) raises
:class:`~vabal.errors.DataError` with a message that names the offending file.

Sample order is deterministic and independent of archive or filesystem order: official split
(train, then test), then class, then file name in natural order (``2.jpg`` before ``10.jpg``).
``RawDataset.names`` holds, per sample, its path relative to the dataset root (the known top
folder such as ``NEU-CLS-64/`` stripped, so archive and folder give identical datasets), or
``<batch>:<index>`` for pickled CIFAR batches.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import lzma
import os
import pickle
import re
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from vabal.errors import DataError

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MD5",
    "CIFAR100_MD5",
    "IMAGE_EXTENSIONS",
    "NEU_CLASSES",
    "SOURCE_KINDS",
    "RawDataset",
    "load_cifar10",
    "load_cifar100",
    "load_digits",
    "load_imagefolder",
    "load_neu",
    "load_source",
    "verify_checksum",
]

#: File name extensions (lower case) that image-folder sources read; others are ignored.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
NEU_CLASSES = ("cr", "gg", "in", "pa", "ps", "rp", "rs", "sc", "sp")
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
#: Published MD5 sums of the official archives, checked when a file carries exactly that name.
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR100_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
_OFFICIAL_MD5 = {"cifar-10-python.tar.gz": CIFAR10_MD5, "cifar-100-python.tar.gz": CIFAR100_MD5}

_CIFAR10_TOP = "cifar-10-batches-py"
_CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR10_FILES = frozenset({*_CIFAR10_TRAIN, "test_batch", "batches.meta"})
_CIFAR100_TOP = "cifar-100-python"
_CIFAR100_FILES = frozenset({"train", "test", "meta"})
_NEU_TOP = "NEU-CLS-64"
_SPLITS = ("train", "test")
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_CHUNK = 1 << 20

_Reader = Callable[[], bytes]  # returns the bytes of one file of an archive or folder
_Entry = tuple[str, _Reader | None]  # (relative posix path, reader; None for a folder)

_LAYOUTS = {
    "digits": "no path: scikit-learn's bundled 8x8 digits",
    "neu": f"the NEU-CLS-64 archive (neu-cls-64.tar.xz) or a folder {_NEU_TOP}/<class>/<n>.jpg",
    "cifar10": (
        "the official archive cifar-10-python.tar.gz or its folder cifar-10-batches-py, "
        "or the JPEG archive (cifar10-jpeg-q75.tar.xz) or a folder with "
        "train/<class>/<n>.jpg and test/<class>/<n>.jpg"
    ),
    "cifar100": "the official archive cifar-100-python.tar.gz or its folder cifar-100-python",
    "imagefolder": (
        "a folder (or tar archive) <class>/<image>, or one with "
        "train/<class>/<image> and test/<class>/<image>"
    ),
}


@dataclass
class RawDataset:
    """A whole dataset in memory, as read from its source.

    Attributes:
        images: uint8 array of shape (N, H, W, C), C = 1 or 3.
        labels: int64 array of shape (N,), values 0..K-1.
        class_names: K names, index = label.
        source_split: str array of shape (N,), each "train" or "test" (all "train" when the
            source has no official split).
        names: per sample, its name inside the source, for provenance.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    source_split: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return len(self.labels)


# --------------------------------------------------------------------------- checksums


def verify_checksum(path, *, sha256: str | None = None, md5: str | None = None) -> None:
    """Check a file against the given hex digest(s), hashing it in chunks.

    Raises:
        DataError: the file cannot be read, or a digest differs (the message names the file,
            the algorithm, the expected and the actual digest).
        ValueError: neither ``sha256`` nor ``md5`` was given.
    """
    expected = {name: value for name, value in (("sha256", sha256), ("md5", md5)) if value}
    if not expected:
        raise ValueError("verify_checksum needs sha256= or md5=")
    path = Path(path)
    hashers = {name: hashlib.new(name) for name in expected}
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                for hasher in hashers.values():
                    hasher.update(chunk)
    except OSError as exc:
        raise DataError(f"cannot read {path} to verify its checksum: {exc}") from exc
    for name, want in expected.items():
        actual = hashers[name].hexdigest()
        if actual != want.strip().lower():
            raise DataError(
                f"{name} checksum mismatch for {path}: expected {want.strip().lower()}, "
                f"got {actual}; the file is corrupt, truncated or not the expected one"
            )


# ------------------------------------------------------------- archives and folders as trees


def _is_image_name(rel: str) -> bool:
    return os.path.splitext(rel)[1].lower() in IMAGE_EXTENSIONS


def _clean_parts(name: str) -> tuple[str, ...] | None:
    """Split an archive member or relative path into parts; None for hidden entries."""
    parts = tuple(p for p in PurePosixPath(name).parts if p not in (".", "/", ""))
    if any(p.startswith(".") for p in parts):
        return None
    return parts


def _iter_archive(path: Path, want: Callable[[str], bool]) -> Iterator[_Entry]:
    """Stream a tar archive once: yield (dir, None) and (file, bytes reader) pairs."""
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                parts = _clean_parts(member.name)
                if not parts:
                    continue
                rel = "/".join(parts)
                if member.isdir():
                    yield rel, None
                elif member.isfile() and want(rel):
                    data = tar.extractfile(member).read()  # read now: the stream moves on
                    yield rel, lambda data=data: data
    except (tarfile.TarError, EOFError, OSError, ValueError, lzma.LZMAError, zlib.error) as exc:
        raise DataError(
            f"cannot read archive {path}: it is truncated, corrupt or not a tar archive ({exc})"
        ) from exc


def _raise_walk_error(exc: OSError) -> None:
    raise DataError(f"cannot list folder {exc.filename}: {exc.strerror or exc}") from exc


def _iter_folder(root: Path, want: Callable[[str], bool]) -> Iterator[_Entry]:
    """Walk a folder (sorted, hidden entries skipped): yield (dir, None), (file, reader)."""
    for dirpath, dirnames, filenames in os.walk(root, onerror=_raise_walk_error):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        base = Path(dirpath)
        rel_base = base.relative_to(root).as_posix()
        prefix = "" if rel_base == "." else rel_base + "/"
        for name in dirnames:
            yield prefix + name, None
        for name in sorted(filenames):
            rel = prefix + name
            if not name.startswith(".") and want(rel):
                yield rel, (base / name).read_bytes


def _iter_entries(path: Path, want: Callable[[str], bool]) -> Iterator[_Entry]:
    """Yield (relative posix path, bytes reader or None for a folder) from an archive or folder.

    ``want(rel)`` selects the files whose bytes are needed; for an archive the bytes are read
    while streaming (the archive is read once), for a folder only when the reader is called.
    """
    if path.is_dir():
        yield from _iter_folder(path, want)
    else:
        yield from _iter_archive(path, want)


@dataclass
class _Tree:
    """The selected files (by relative path) and folders of an archive or a folder."""

    origin: Path
    archive: bool
    files: dict[str, _Reader]
    dirs: set[str]
    prefix: str = ""  # location of this (sub)tree inside origin: "" or "a/b/"
    _children: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict, repr=False)

    @classmethod
    def read(cls, path: Path, want: Callable[[str], bool]) -> _Tree:
        files: dict[str, _Reader] = {}
        dirs: set[str] = set()
        for rel, reader in _iter_entries(path, want):
            if reader is None:
                dirs.add(rel)
            else:
                files[rel] = reader
        for rel in files:  # archives may omit folder entries
            parent = rel.rpartition("/")[0]
            while parent and parent not in dirs:
                dirs.add(parent)
                parent = parent.rpartition("/")[0]
        return cls(path, not path.is_dir(), files, dirs)

    def where(self, rel: str = "") -> str:
        """Human-readable location of ``rel`` for messages."""
        full = (self.prefix + rel).rstrip("/")
        if self.archive:
            return f"{self.origin} (member {full})" if full else str(self.origin)
        return str(self.origin / full) if full else str(self.origin)

    def listing(self, rel: str = "") -> tuple[list[str], list[str]]:
        """Sorted names of the sub-folders and of the files directly inside folder ``rel``."""
        if not self._children:
            for d in self.dirs:
                parent, _, name = d.rpartition("/")
                self._children.setdefault(parent, ([], []))[0].append(name)
            for f in self.files:
                parent, _, name = f.rpartition("/")
                self._children.setdefault(parent, ([], []))[1].append(name)
            for subdirs, files in self._children.values():
                subdirs.sort()
                files.sort()
        return self._children.get(rel.rstrip("/"), ([], []))

    def subtree(self, top: str) -> _Tree:
        """The tree below folder ``top``, with paths relative to it."""
        cut = top + "/"
        return _Tree(
            self.origin,
            self.archive,
            {k[len(cut) :]: v for k, v in self.files.items() if k.startswith(cut)},
            {d[len(cut) :] for d in self.dirs if d.startswith(cut)},
            self.prefix + cut,
        )

    def read_bytes(self, rel: str) -> bytes:
        try:
            return self.files[rel]()
        except OSError as exc:
            raise DataError(f"cannot read {self.where(rel)}: {exc}") from exc


def _existing_path(kind: str, path) -> Path:
    """Return ``path`` as a Path, or raise DataError saying it is missing and what is expected."""
    if path is None:
        raise DataError(f"{kind}: no path given; expected {_LAYOUTS[kind]}")
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise DataError(f"{kind}: path '{resolved}' does not exist; expected {_LAYOUTS[kind]}")
    return resolved


def _check_md5(path: Path, md5: str | None) -> None:
    """Apply the ``md5`` option of the CIFAR loaders (see :func:`load_cifar10`)."""
    if not md5:
        return
    if md5 == "auto":
        md5 = _OFFICIAL_MD5.get(path.name)
        if md5 is None or path.is_dir():
            return
    elif path.is_dir():
        raise DataError(f"an md5 sum was given but {path} is a folder, not an archive")
    verify_checksum(path, md5=md5)


# ------------------------------------------------------------------------- image decoding


def _natural_key(name: str) -> tuple:
    """Sort key putting '2.jpg' before '10.jpg'; ties broken by the name itself."""
    chunks = re.split(r"(\d+)", name)
    return tuple(int(c) if i % 2 else c for i, c in enumerate(chunks)), name


def _decode_image(data: bytes, where: str) -> Image.Image:
    """Decode image bytes fully, or raise DataError naming ``where``."""
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except UnidentifiedImageError as exc:
        raise DataError(f"cannot decode image {where}: unknown format or corrupt file") from exc
    except Exception as exc:  # Pillow raises many types on bad data
        raise DataError(f"cannot decode image {where}: {exc}") from exc
    return img


def _to_array(img: Image.Image, channels: int) -> np.ndarray:
    """Pixels of ``img`` as uint8 (H, W) for channels=1 or (H, W, 3) for channels=3."""
    if img.mode.startswith("I;16"):  # 16-bit grey: rescale rather than clip to 8 bits
        wide = np.asarray(img).astype(np.uint32)
        gray = ((wide * 255 + 32767) // 65535).astype(np.uint8)
        return gray if channels == 1 else np.repeat(gray[..., None], 3, axis=2)
    mode = "L" if channels == 1 else "RGB"
    return np.asarray(img if img.mode == mode else img.convert(mode))


@dataclass
class _Sample:
    split: str
    label: int
    rel: str


def _decode_samples(tree: _Tree, samples: list[_Sample], channels: int | None) -> np.ndarray:
    """Decode every sample into one pre-allocated uint8 (N, H, W, C) array.

    ``channels=None`` keeps one channel when every image is grayscale, else three. All images
    must share the size of the first one.
    """
    images = np.empty(0, dtype=np.uint8)
    first, size = "", (0, 0)
    all_gray = True
    for i, sample in enumerate(samples):
        where = tree.where(sample.rel)
        img = _decode_image(tree.read_bytes(sample.rel), where)
        if i == 0:
            first, size = where, img.size
            depth = 3 if channels is None else channels
            images = np.empty((len(samples), size[1], size[0], depth), dtype=np.uint8)
        elif img.size != size:
            raise DataError(
                f"image {where} is {img.size[0]}x{img.size[1]} (width x height) but the images "
                f"must all have one size, {size[0]}x{size[1]} like {first}"
            )
        gray = img.mode in _GRAY_MODES
        all_gray = all_gray and gray
        pixels = _to_array(img, 1 if channels == 1 or (channels is None and gray) else 3)
        images[i] = pixels[..., None] if pixels.ndim == 2 else pixels  # grey broadcasts to RGB
    if channels is None and all_gray:
        images = np.ascontiguousarray(images[..., :1])
    return images


# ------------------------------------------------------------------------ image folder trees


def _class_folders(
    tree: _Tree, rel: str, kind: str, expect: tuple[str, ...] | None
) -> dict[str, list[str]]:
    """Map class name -> sorted image paths for the class folders directly inside ``rel``.

    ``expect``, when given, is the exact tuple of class folder names the dataset must have.
    """
    prefix = rel + "/" if rel else ""
    names = tree.listing(rel)[0]
    if expect is not None and tuple(names) != expect:
        raise DataError(
            f"{kind}: {tree.where(rel)} is not the expected dataset: expected the class folders "
            f"{', '.join(expect)}; found {', '.join(names) or 'none'}"
        )
    classes: dict[str, list[str]] = {}
    for name in names:
        folder = prefix + name
        images = [f for f in tree.listing(folder)[1] if _is_image_name(f)]
        if not images:
            exts = " ".join(sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS))
            raise DataError(
                f"class folder {tree.where(folder)} contains no images "
                f"(looked for files ending in {exts}); remove it or add its images"
            )
        classes[name] = [folder + "/" + f for f in sorted(images, key=_natural_key)]
    if not classes:
        raise DataError(f"no class folders found in {tree.where(rel)}; expected {_LAYOUTS[kind]}")
    return classes


def _scan_image_tree(
    tree: _Tree, *, split: bool | None, kind: str, expect: tuple[str, ...] | None = None
) -> tuple[list[str], list[_Sample]]:
    """Find the classes and samples of an image tree.

    ``split=True`` requires ``train/`` and ``test/`` folders, ``False`` reads every top folder
    as a class, ``None`` detects the layout; ``kind`` names the expected layout in messages;
    ``expect`` fixes the class names.
    Returns (sorted class names, samples in train-then-test, class, natural file name order).
    """
    top = tree.listing()[0]
    present = [s for s in _SPLITS if s in top]
    if split is None:
        split = bool(present)
    if not split:
        per_split = {"train": _class_folders(tree, "", kind, expect)}
    else:
        if len(present) < 2 or len(top) > 2:
            raise DataError(
                f"{tree.where()} must hold exactly the folders train/ and test/ for an official "
                f"split (found: {', '.join(top) or 'none'}); expected {_LAYOUTS[kind]}"
            )
        per_split = {s: _class_folders(tree, s, kind, expect) for s in _SPLITS}
        train, test = set(per_split["train"]), set(per_split["test"])
        if train != test:
            raise DataError(
                f"the class folders of train/ and test/ in {tree.where()} differ: only in train: "
                f"{sorted(train - test) or 'none'}; only in test: {sorted(test - train) or 'none'}"
            )
    class_names = sorted(per_split["train"])
    label_of = {name: i for i, name in enumerate(class_names)}
    samples = [
        _Sample(s, label_of[name], rel)
        for s, classes in per_split.items()
        for name in class_names
        for rel in classes[name]
    ]
    return class_names, samples


def _image_dataset(
    tree: _Tree,
    *,
    kind: str,
    split: bool | None,
    channels: int | None,
    expect_classes: tuple[str, ...] | None = None,
) -> RawDataset:
    """Read an image tree into a RawDataset, optionally checking its class names."""
    class_names, samples = _scan_image_tree(tree, split=split, kind=kind, expect=expect_classes)
    images = _decode_samples(tree, samples, channels)
    return RawDataset(
        images=images,
        labels=np.array([s.label for s in samples], dtype=np.int64),
        class_names=class_names,
        source_split=np.array([s.split for s in samples], dtype=str),
        names=[s.rel for s in samples],
    )


def _descend(tree: _Tree, top: str) -> _Tree:
    """Enter folder ``top`` when the tree holds it (archive top folder, or a parent folder)."""
    return tree.subtree(top) if top in tree.listing()[0] else tree


# ---------------------------------------------------------------------------------- loaders


def load_digits() -> RawDataset:
    """scikit-learn's bundled 8x8 digits: 1797 images (8, 8, 1), values 0..16 scaled to 0..255."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    values = np.asarray(bunch.images, dtype=np.int64)
    images = ((values * 255 + 8) // 16).astype(np.uint8)[..., None]  # round(v * 255 / 16)
    n = len(images)
    return RawDataset(
        images=images,
        labels=np.asarray(bunch.target, dtype=np.int64),
        class_names=[str(c) for c in bunch.target_names],
        source_split=np.full(n, "train"),
        names=[f"digits:{i}" for i in range(n)],
    )


def load_neu(path) -> RawDataset:
    """NEU-CLS-64 from ``neu-cls-64.tar.xz`` or its extracted folder (or the folder's parent).

    All images are converted to one channel (``sp/64.jpg`` is stored as RGB); 7226 images of
    64x64 in 9 classes, all "train". Order: class, then numeric file stem.
    """
    path = _existing_path("neu", path)
    tree = _descend(_Tree.read(path, _is_image_name), _NEU_TOP)
    return _image_dataset(tree, kind="neu", split=False, channels=1, expect_classes=NEU_CLASSES)


def load_cifar10(path, *, md5: str | None = "auto") -> RawDataset:
    """CIFAR-10 with its official train/test split, 32x32x3, train samples first.

    ``path`` may be the official ``cifar-10-python.tar.gz``, its extracted
    ``cifar-10-batches-py`` folder (or that folder's parent), the JPEG archive
    (``train/<class>/NNNN.jpg``, ``test/<class>/NNNN.jpg``, possibly below one top folder) or
    its extracted folder. JPEG classes sorted by name give the official labels.

    ``md5``: "auto" (default) checks the published MD5 when the archive is named exactly
    ``cifar-10-python.tar.gz`` and skips the check otherwise; a hex string checks the archive
    against it whatever its name; None (or "") never checks.
    """
    path = _existing_path("cifar10", path)
    _check_md5(path, md5)
    tree = _Tree.read(
        path, lambda rel: _is_image_name(rel) or rel.rpartition("/")[2] in _CIFAR10_FILES
    )
    pickled = _descend(tree, _CIFAR10_TOP)
    if "data_batch_1" in pickled.files:
        return _cifar_pickles(
            pickled,
            "cifar10",
            list(_CIFAR10_TRAIN),
            "test_batch",
            "batches.meta",
            b"labels",
            b"label_names",
            10,
        )
    top = tree.listing()[0]
    if not any(s in top for s in _SPLITS) and len(top) == 1:
        tree = tree.subtree(top[0])
    if not any(s in tree.listing()[0] for s in _SPLITS):
        raise DataError(
            f"cifar10: {tree.where()} holds neither {_CIFAR10_TOP}/data_batch_1 nor train/ and "
            f"test/ folders; expected {_LAYOUTS['cifar10']}"
        )
    data = _image_dataset(
        tree, kind="cifar10", split=True, channels=3, expect_classes=CIFAR10_CLASSES
    )
    if data.images.shape[1:3] != (32, 32):
        raise DataError(
            f"{tree.where()}: CIFAR-10 images must be 32x32, found "
            f"{data.images.shape[2]}x{data.images.shape[1]}"
        )
    return data


def load_cifar100(path, *, md5: str | None = "auto") -> RawDataset:
    """CIFAR-100 (fine labels, 100 classes) from ``cifar-100-python.tar.gz`` or its folder.

    ``path`` may also be the extracted ``cifar-100-python`` folder or its parent. ``md5`` works
    as for :func:`load_cifar10` (published sum checked when the archive has the official name).
    """
    path = _existing_path("cifar100", path)
    _check_md5(path, md5)
    tree = _Tree.read(path, lambda rel: rel.rpartition("/")[2] in _CIFAR100_FILES)
    tree = _descend(tree, _CIFAR100_TOP)
    return _cifar_pickles(
        tree, "cifar100", ["train"], "test", "meta", b"fine_labels", b"fine_label_names", 100
    )


def load_imagefolder(path, *, channels: int | None = None) -> RawDataset:
    """Any ``<class>/<image>`` folder (all "train") or ``train|test/<class>/<image>`` folder.

    A tar archive with that layout is read too. Class names are the sorted folder names.
    ``channels``: 1 (grey), 3 (RGB) or None (1 when every image is grayscale, else 3). All
    images must have one size. Hidden files and files with other extensions are skipped.
    16-bit grey images are rescaled to 8 bits; 32-bit integer or float images are clipped.
    """
    if channels not in (None, 1, 3):
        raise DataError(f"imagefolder: channels must be 1, 3 or empty, not {channels!r}")
    path = _existing_path("imagefolder", path)
    tree = _Tree.read(path, _is_image_name)
    return _image_dataset(tree, kind="imagefolder", split=None, channels=channels)


def list_images(path) -> list[str]:
    """Every image of a folder (or tar archive), at any depth, as relative posix paths in
    natural order; hidden files and other extensions left out."""
    tree = _Tree.read(_existing_path("imagefolder", path), _is_image_name)
    return sorted(tree.files, key=_natural_key)


def read_images(path, rels: list[str], channels: int | None = None, size: int | None = None):
    """The images ``rels`` of a folder as one uint8 (N, H, W, C) array: all of one size, or
    each resized to ``size`` x ``size`` (area averaging); ``channels`` as in
    :func:`load_imagefolder`. An unreadable image raises DataError naming it."""
    tree = _Tree.read(_existing_path("imagefolder", path), _is_image_name)
    if size is None:
        return _decode_samples(tree, [_Sample("train", 0, rel) for rel in rels], channels)
    decoded = [_decode_image(tree.read_bytes(rel), tree.where(rel)) for rel in rels]
    grey = channels == 1 or (channels is None and all(i.mode in _GRAY_MODES for i in decoded))
    depth = 1 if grey else 3
    images = np.empty((len(rels), size, size, depth), dtype=np.uint8)
    for k, img in enumerate(decoded):
        pixels = _to_array(img, depth)
        if pixels.shape[:2] != (size, size):
            mode = "L" if depth == 1 else "RGB"
            resized = Image.fromarray(pixels, mode).resize((size, size), Image.Resampling.BOX)
            pixels = np.asarray(resized)
        images[k] = pixels[..., None] if pixels.ndim == 2 else pixels
    return images


SOURCE_KINDS: dict[str, Callable[..., RawDataset]] = {
    "digits": load_digits,
    "neu": load_neu,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "imagefolder": load_imagefolder,
}
_OPTIONS = {
    "digits": (),
    "neu": (),
    "cifar10": ("md5",),
    "cifar100": ("md5",),
    "imagefolder": ("channels",),
}


def load_source(kind: str, path=None, **options) -> RawDataset:
    """Load the source ``kind`` ("digits", "neu", "cifar10", "cifar100", "imagefolder").

    ``path`` is required by every kind but "digits" (which takes none); ``options`` go to the
    loader (``md5`` for the CIFAR kinds, ``channels`` for "imagefolder").
    """
    if kind not in SOURCE_KINDS:
        raise DataError(
            f"unknown dataset source {kind!r}; known sources: {', '.join(SOURCE_KINDS)}"
        )
    unknown = sorted(set(options) - set(_OPTIONS[kind]))
    if unknown:
        accepted = ", ".join(_OPTIONS[kind]) or "none"
        raise DataError(f"{kind}: unknown option(s) {', '.join(unknown)}; accepted: {accepted}")
    if kind == "digits":
        if path is not None:
            raise DataError(f"digits takes no path (it is bundled with scikit-learn); got {path}")
        return load_digits()
    return SOURCE_KINDS[kind](path, **options)


# ---------------------------------------------------------------------------- CIFAR pickles


_ARRAY_RECONSTRUCT = np.ndarray(0).__reduce__()[0]
#: The only globals a CIFAR pickle may name: numpy arrays and bytes (protocol 2 from Python 3).
_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _ARRAY_RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _ARRAY_RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler limited to what CIFAR batches hold: dicts, lists, bytes and numpy arrays.

    It refuses every other global, so a crafted pickle cannot run code.
    """

    def find_class(self, module: str, name: str):
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def _load_pickle(tree: _Tree, rel: str, kind: str) -> dict:
    """Unpickle one CIFAR file into a dict with bytes keys, or raise DataError naming it."""
    if rel not in tree.files:
        raise DataError(f"{kind}: {tree.where(rel)} is missing; expected {_LAYOUTS[kind]}")
    data = tree.read_bytes(rel)
    try:
        obj = _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # unpickling bad data raises many types
        raise DataError(f"cannot unpickle {tree.where(rel)}: {exc}") from exc
    if not isinstance(obj, dict):
        raise DataError(f"{tree.where(rel)} holds a {type(obj).__name__}, not a CIFAR dict")
    return obj


def _cifar_batch(
    tree: _Tree, rel: str, kind: str, label_key: bytes
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) and int64 labels of one pickled CIFAR batch."""
    batch = _load_pickle(tree, rel, kind)
    for key in (b"data", label_key):
        if key not in batch:
            raise DataError(f"{tree.where(rel)} lacks the key {key!r} of a CIFAR batch")
    data = batch[b"data"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3 * 32 * 32
    ):
        raise DataError(
            f"{tree.where(rel)}: b'data' must be a uint8 array of shape (N, 3072), found "
            f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}"
        )
    try:
        labels = np.asarray(batch[label_key], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{tree.where(rel)}: {label_key!r} are not integers ({exc})") from exc
    if len(labels) != len(data):
        raise DataError(
            f"{tree.where(rel)}: {len(data)} images but {len(labels)} labels ({label_key!r})"
        )
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _cifar_pickles(
    tree: _Tree,
    kind: str,
    train: list[str],
    test: str,
    meta: str,
    label_key: bytes,
    names_key: bytes,
    num_classes: int,
) -> RawDataset:
    """Assemble a RawDataset from the pickled batches of an official CIFAR archive or folder."""
    meta_dict = _load_pickle(tree, meta, kind)
    try:
        class_names = [
            n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in meta_dict[names_key]
        ]
    except (KeyError, TypeError, UnicodeDecodeError) as exc:
        raise DataError(f"{tree.where(meta)} lacks a valid {names_key!r} list ({exc})") from exc
    if len(class_names) != num_classes:
        raise DataError(
            f"{tree.where(meta)} names {len(class_names)} classes, expected {num_classes}"
        )
    batches = [(name, "train", *_cifar_batch(tree, name, kind, label_key)) for name in train]
    batches.append((test, "test", *_cifar_batch(tree, test, kind, label_key)))
    total = sum(len(b[3]) for b in batches)
    images = np.empty((total, 32, 32, 3), dtype=np.uint8)
    labels = np.empty(total, dtype=np.int64)
    split, names, start = [], [], 0
    for name, part, batch_images, batch_labels in batches:
        bad = (batch_labels < 0) | (batch_labels >= num_classes)
        if bad.any():
            raise DataError(
                f"{tree.where(name)}: label {batch_labels[bad][0]} outside 0..{num_classes - 1}"
            )
        stop = start + len(batch_labels)
        images[start:stop] = batch_images
        labels[start:stop] = batch_labels
        split += [part] * len(batch_labels)
        names += [f"{name}:{i}" for i in range(len(batch_labels))]
        start = stop
    return RawDataset(images, labels, class_names, np.array(split, dtype=str), names)
