"""Tests of vabal.data.sources: synthetic archives and folders, plus the real shared archives."""

from __future__ import annotations

import hashlib
import os
import pickle
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vabal.data import sources
from vabal.data.sources import (
    CIFAR10_CLASSES,
    RawDataset,
    load_cifar10,
    load_cifar100,
    load_digits,
    load_imagefolder,
    load_neu,
    load_source,
    verify_checksum,
)
from vabal.errors import DataError

SHARED = Path(
    os.environ.get("VABAL_SHARED_DATASETS")
    or Path(__file__).resolve().parents[2] / "shared" / "datasets"
)
NEU_ARCHIVE = SHARED / "neu-cls-64.tar.xz"
CIFAR10_JPEG_ARCHIVE = SHARED / "cifar10-jpeg-q75.tar.xz"


# ------------------------------------------------------------------------------- helpers


def _save(path: Path, size=(4, 3), mode="L", value=0, fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path, format=fmt)
    return path


def _pack(archive: Path, folder: Path, arcname: str, mode="w:gz") -> Path:
    with tarfile.open(archive, mode) as tar:
        tar.add(folder, arcname=arcname)
    return archive


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _dump(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=2))


def _check_consistent(data: RawDataset) -> None:
    n = len(data.labels)
    assert data.images.dtype == np.uint8 and data.images.ndim == 4 and len(data.images) == n
    assert data.images.shape[3] in (1, 3)
    assert data.labels.dtype == np.int64
    assert data.labels.min() >= 0 and data.labels.max() < len(data.class_names)
    assert len(data.source_split) == n and set(data.source_split) <= {"train", "test"}
    assert len(data.names) == n == len(set(data.names))


def _same(a: RawDataset, b: RawDataset) -> None:
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.source_split, b.source_split)
    assert a.class_names == b.class_names and a.names == b.names


# ------------------------------------------------------------------------------ digits


def test_digits():
    data = load_digits()
    _check_consistent(data)
    assert data.images.shape == (1797, 8, 8, 1)
    assert data.images.max() == 255 and data.images.min() == 0
    assert data.class_names == [str(i) for i in range(10)]
    assert set(data.source_split) == {"train"}
    assert data.names[5] == "digits:5"
    _same(load_source("digits"), data)


# ----------------------------------------------------------------------------- checksum


def test_verify_checksum(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"abc" * 1000)
    verify_checksum(path, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    verify_checksum(path, md5=_md5(path).upper())
    with pytest.raises(DataError, match="sha256") as err:
        verify_checksum(path, sha256="0" * 64)
    assert str(path) in str(err.value) and "0" * 64 in str(err.value)
    with pytest.raises(DataError, match="does-not-exist"):
        verify_checksum(tmp_path / "does-not-exist", sha256="0" * 64)


# ------------------------------------------------------------------- synthetic CIFAR-100


def _cifar100_folder(root: Path, per_class=2, test_per_class=1, seed=0):
    """Write an official-format cifar-100-python folder under root; return its arrays."""
    rng = np.random.default_rng(seed)
    top = root / "cifar-100-python"
    fine = [f"class_{i:02d}".encode() for i in range(100)]
    _dump(
        top / "meta",
        {
            b"fine_label_names": fine,
            b"coarse_label_names": [f"super_{i}".encode() for i in range(20)],
        },
    )
    arrays = {}
    for part, n in (("train", per_class), ("test", test_per_class)):
        labels = [c for c in range(100) for _ in range(n)]
        rng.shuffle(labels)
        data = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
        _dump(
            top / part,
            {
                b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
                b"batch_label": f"{part} batch".encode(),
                b"fine_labels": labels,
                b"coarse_labels": [c // 5 for c in labels],
                b"data": data,
            },
        )
        arrays[part] = (data, np.array(labels))
    return top, arrays


def test_cifar100_archive_and_folder(tmp_path):
    top, arrays = _cifar100_folder(tmp_path / "src")
    archive = _pack(tmp_path / "c100.tar.gz", top, "cifar-100-python")
    data = load_cifar100(archive)
    _check_consistent(data)
    (train, train_labels), (test, test_labels) = arrays["train"], arrays["test"]
    assert data.images.shape == (300, 32, 32, 3)
    assert data.class_names[0] == "class_00" and len(data.class_names) == 100
    assert list(data.source_split) == ["train"] * 200 + ["test"] * 100
    np.testing.assert_array_equal(data.labels, np.concatenate([train_labels, test_labels]))
    expected = np.concatenate([train, test]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(data.images, expected)
    # CHW -> HWC by hand: red plane first, then green, row-major within a plane.
    assert data.images[0, 0, 1, 0] == train[0, 1]
    assert data.images[0, 0, 0, 1] == train[0, 1024]
    assert data.images[0, 1, 0, 2] == train[0, 2048 + 32]
    assert data.names[0] == "train:0" and data.names[-1] == "test:99"
    _same(load_cifar100(top), data)
    _same(load_cifar100(top.parent), data)
    _same(load_source("cifar100", archive, md5=_md5(archive)), data)


def test_cifar100_official_name_md5_mismatch(tmp_path):
    top, _ = _cifar100_folder(tmp_path / "src", per_class=1)
    archive = _pack(tmp_path / "cifar-100-python.tar.gz", top, "cifar-100-python")
    with pytest.raises(DataError, match="md5") as err:
        load_cifar100(archive)
    assert str(archive) in str(err.value) and sources.CIFAR100_MD5 in str(err.value)
    assert len(load_cifar100(archive, md5=None)) == 200
    other = tmp_path / "renamed.tar.gz"
    archive.rename(other)
    with pytest.raises(DataError, match="md5"):
        load_cifar100(other, md5="0" * 32)


def test_cifar100_truncated_and_malformed(tmp_path):
    top, _ = _cifar100_folder(tmp_path / "src", per_class=1)
    archive = _truncate(_pack(tmp_path / "c100.tar.gz", top, "cifar-100-python"))
    with pytest.raises(DataError, match="truncated") as err:
        load_cifar100(archive)
    assert str(archive) in str(err.value)
    (top / "test").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="unpickle") as err:
        load_cifar100(top)
    assert str(top / "test") in str(err.value)
    (top / "test").unlink()
    with pytest.raises(DataError, match="missing") as err:
        load_cifar100(top)
    assert str(top / "test") in str(err.value)


def test_cifar_pickle_refuses_code(tmp_path):
    top, _ = _cifar100_folder(tmp_path / "src", per_class=1)
    (top / "meta").write_bytes(pickle.dumps(os.getcwd, protocol=2))  # a global outside numpy
    with pytest.raises(DataError, match="refusing"):
        load_cifar100(top)


# -------------------------------------------------------------------- synthetic CIFAR-10


def _cifar10_folder(root: Path, per_batch=6, test_n=5, seed=1):
    rng = np.random.default_rng(seed)
    top = root / "cifar-10-batches-py"
    _dump(
        top / "batches.meta",
        {
            b"label_names": [c.encode() for c in CIFAR10_CLASSES],
            b"num_cases_per_batch": per_batch,
            b"num_vis": 3072,
        },
    )
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = test_n if name == "test_batch" else per_batch
        labels = [int(x) for x in rng.integers(0, 10, size=n)]
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        _dump(
            top / name,
            {
                b"batch_label": name.encode(),
                b"labels": labels,
                b"data": data,
                b"filenames": [f"f{i}.png".encode() for i in range(n)],
            },
        )
        batches[name] = (data, np.array(labels))
    (top / "readme.html").write_text("<html></html>")
    return top, batches


def test_cifar10_python_archive_and_folder(tmp_path):
    top, batches = _cifar10_folder(tmp_path / "src")
    archive = _pack(tmp_path / "c10.tar.gz", top, "cifar-10-batches-py")
    data = load_cifar10(archive)
    _check_consistent(data)
    assert data.images.shape == (35, 32, 32, 3)
    assert data.class_names == list(CIFAR10_CLASSES)
    assert list(data.source_split) == ["train"] * 30 + ["test"] * 5
    order = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    pixels = np.concatenate([batches[b][0] for b in order])
    np.testing.assert_array_equal(data.images, pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(data.labels, np.concatenate([batches[b][1] for b in order]))
    assert data.names[:2] == ["data_batch_1:0", "data_batch_1:1"]
    assert data.names[-1] == "test_batch:4"
    _same(load_cifar10(top), data)
    _same(load_cifar10(top.parent), data)


def test_cifar10_official_name_md5_and_truncation(tmp_path):
    top, _ = _cifar10_folder(tmp_path / "src", per_batch=2, test_n=2)
    archive = _pack(tmp_path / "cifar-10-python.tar.gz", top, "cifar-10-batches-py")
    with pytest.raises(DataError, match="md5") as err:
        load_cifar10(archive)
    assert str(archive) in str(err.value) and sources.CIFAR10_MD5 in str(err.value)
    load_cifar10(archive, md5=_md5(archive))  # an explicit, right sum passes
    _truncate(archive)
    with pytest.raises(DataError, match="truncated") as err:
        load_cifar10(archive, md5=None)
    assert str(archive) in str(err.value)


def test_cifar10_bad_batch_shape(tmp_path):
    top, _ = _cifar10_folder(tmp_path / "src", per_batch=2, test_n=2)
    _dump(top / "test_batch", {b"labels": [0, 1], b"data": np.zeros((2, 100), np.uint8)})
    with pytest.raises(DataError, match="3072") as err:
        load_cifar10(top)
    assert "test_batch" in str(err.value)


def _cifar10_jpeg_folder(root: Path, train_n=3, test_n=2) -> Path:
    """Write train/<class>/NNNN.jpg and test/<class>/NNNN.jpg in scrambled creation order."""
    rng = np.random.default_rng(2)
    jobs = [
        (split, c, i)
        for split, n in (("train", train_n), ("test", test_n))
        for c in CIFAR10_CLASSES
        for i in range(n)
    ]
    for k in rng.permutation(len(jobs)):
        split, c, i = jobs[k]
        value = (CIFAR10_CLASSES.index(c) * 20, i * 40, 200 if split == "test" else 0)
        _save(root / split / c / f"{i:04d}.jpg", size=(32, 32), mode="RGB", value=value)
    return root


def test_cifar10_jpeg_archive_and_folder(tmp_path):
    folder = _cifar10_jpeg_folder(tmp_path / "src" / "cifar10-jpeg")
    archive = _pack(tmp_path / "c10jpeg.tar.xz", folder, "cifar10-jpeg", mode="w:xz")
    data = load_cifar10(archive)
    _check_consistent(data)
    assert data.images.shape == (50, 32, 32, 3)
    assert data.class_names == list(CIFAR10_CLASSES)
    assert list(data.source_split) == ["train"] * 30 + ["test"] * 20
    assert data.names[:4] == [
        "train/airplane/0000.jpg",
        "train/airplane/0001.jpg",
        "train/airplane/0002.jpg",
        "train/automobile/0000.jpg",
    ]
    assert data.names[-1] == "test/truck/0001.jpg"
    np.testing.assert_array_equal(data.labels[:30], np.repeat(np.arange(10), 3))
    # Pixel values identify class, file number and split (within JPEG loss).
    mean = data.images.reshape(50, -1, 3).mean(axis=1)
    np.testing.assert_allclose(mean[4], (20, 40, 0), atol=3)
    np.testing.assert_allclose(mean[-1], (180, 40, 200), atol=3)
    _same(load_cifar10(folder), data)  # extracted folder, no top folder
    _same(load_cifar10(folder.parent), data)  # its parent: one top folder, detected
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        load_cifar10(tmp_path)  # two levels up: neither layout


def test_cifar10_jpeg_corrupt_member(tmp_path):
    folder = _cifar10_jpeg_folder(tmp_path / "src", train_n=1, test_n=1)
    (folder / "test" / "cat" / "0000.jpg").write_bytes(b"\xff\xd8garbage")
    archive = _pack(tmp_path / "c10jpeg.tar.gz", folder, ".")
    with pytest.raises(DataError, match="cannot decode") as err:
        load_cifar10(archive)
    assert str(archive) in str(err.value) and "test/cat/0000.jpg" in str(err.value)


# ---------------------------------------------------------------------------- NEU (fake)


def _neu_folder(root: Path) -> Path:
    top = root / "NEU-CLS-64"
    for label, name in enumerate(sources.NEU_CLASSES):
        for i in (10, 2, 1):
            _save(top / name / f"{i}.jpg", size=(64, 64), value=label * 25)
    _save(top / "sp" / "3.jpg", size=(64, 64), mode="RGB", value=(200, 200, 200))
    return top


def test_neu_synthetic_folder_and_archive(tmp_path):
    top = _neu_folder(tmp_path / "src")
    data = load_neu(top)
    _check_consistent(data)
    assert data.images.shape == (28, 64, 64, 1)
    assert data.class_names == list(sources.NEU_CLASSES)
    assert data.names[:3] == ["cr/1.jpg", "cr/2.jpg", "cr/10.jpg"]  # numeric order
    assert data.names[-2:] == ["sp/3.jpg", "sp/10.jpg"]
    assert abs(int(data.images[-2].mean()) - 200) <= 2  # the RGB image, now grey
    assert set(data.source_split) == {"train"}
    _same(load_neu(top.parent), data)
    archive = _pack(tmp_path / "neu.tar.xz", top, "NEU-CLS-64", mode="w:xz")
    _same(load_neu(archive), data)
    _same(load_source("neu", str(archive)), data)
    (top / "extra").mkdir()
    _save(top / "extra" / "1.jpg", size=(64, 64))
    with pytest.raises(DataError, match="class folders"):
        load_neu(top)


# -------------------------------------------------------------------------- image folder


def test_imagefolder_plain_gray(tmp_path):
    root = tmp_path / "imgs"
    for c, n in (("b", 2), ("a", 3)):
        for i in range(n):
            _save(root / c / f"{i}.png", value=10 * i + (100 if c == "b" else 0))
    (root / "a" / "notes.txt").write_text("ignored")
    (root / "a" / ".hidden.png").write_bytes(b"ignored")
    (root / ".cache").mkdir()
    data = load_imagefolder(root)
    _check_consistent(data)
    assert data.class_names == ["a", "b"]
    assert data.images.shape == (5, 3, 4, 1)
    np.testing.assert_array_equal(data.labels, [0, 0, 0, 1, 1])
    assert data.names == ["a/0.png", "a/1.png", "a/2.png", "b/0.png", "b/1.png"]
    assert data.images[4, 0, 0, 0] == 110
    rgb = load_imagefolder(root, channels=3)
    assert rgb.images.shape == (5, 3, 4, 3)
    np.testing.assert_array_equal(rgb.images[..., 2], data.images[..., 0])
    assert load_source("imagefolder", root, channels=1).images.shape == (5, 3, 4, 1)


def test_imagefolder_split_and_color_inference(tmp_path):
    root = tmp_path / "imgs"
    for split in ("train", "test"):
        for c in ("cat", "dog"):
            _save(root / split / c / "x.png")
    _save(root / "test" / "dog" / "y.bmp", mode="RGB", value=(255, 0, 0), fmt="BMP")
    data = load_imagefolder(root)
    _check_consistent(data)
    assert data.images.shape == (5, 3, 4, 3)  # one colour image -> 3 channels for all
    assert list(data.source_split) == ["train", "train", "test", "test", "test"]
    assert data.names[-1] == "test/dog/y.bmp"
    assert tuple(data.images[-1, 0, 0]) == (255, 0, 0)
    assert load_imagefolder(root, channels=1).images.shape == (5, 3, 4, 1)
    _save(root / "test" / "bird" / "z.png")
    with pytest.raises(DataError, match="only in test: \\['bird'\\]"):
        load_imagefolder(root)


def test_imagefolder_errors_name_the_path(tmp_path):
    root = tmp_path / "imgs"
    _save(root / "a" / "1.png")
    (root / "empty").mkdir()
    with pytest.raises(DataError, match="no images") as err:
        load_imagefolder(root)
    assert str(root / "empty") in str(err.value)
    (root / "empty").rmdir()

    _save(root / "b" / "big.png", size=(5, 3))
    with pytest.raises(DataError, match="5x3") as err:
        load_imagefolder(root)
    assert str(root / "b" / "big.png") in str(err.value) and "4x3" in str(err.value)
    (root / "b" / "big.png").unlink()

    (root / "b" / "bad.png").write_bytes(b"definitely not a png")
    with pytest.raises(DataError, match="cannot decode") as err:
        load_imagefolder(root)
    assert str(root / "b" / "bad.png") in str(err.value)

    with pytest.raises(DataError, match="<class>/<image>"):
        load_imagefolder(root / "a")  # images but no class sub-folders
    (root / "train").mkdir()
    with pytest.raises(DataError, match="train/ and test/"):
        load_imagefolder(root)
    with pytest.raises(DataError, match="channels"):
        load_imagefolder(root, channels=2)


def test_imagefolder_16bit_gray_is_rescaled(tmp_path):
    root = tmp_path / "imgs"
    (root / "a").mkdir(parents=True)
    Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16)).save(root / "a" / "1.png")
    data = load_imagefolder(root)
    np.testing.assert_array_equal(data.images[0, 0, :, 0], [0, 128, 255])


# ------------------------------------------------------------------------------ dispatch


def test_load_source_errors(tmp_path):
    with pytest.raises(DataError, match="known sources: digits, neu, cifar10"):
        load_source("mnist", tmp_path)
    missing = tmp_path / "x" / "y"
    with pytest.raises(DataError, match="neu-cls-64.tar.xz") as err:
        load_source("neu", missing)
    assert f"path '{missing}' does not exist" in str(err.value)
    with pytest.raises(DataError, match="cifar-100-python.tar.gz"):
        load_source("cifar100", None)
    with pytest.raises(DataError, match="unknown option"):
        load_source("neu", tmp_path, channels=3)
    with pytest.raises(DataError, match="takes no path"):
        load_source("digits", tmp_path)
    not_tar = tmp_path / "file.tar.gz"
    not_tar.write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match="truncated") as err:
        load_source("cifar10", not_tar)
    assert str(not_tar) in str(err.value)


# ------------------------------------------------------------------ the real shared archives


def _shared_sha256(name: str) -> str:
    for line in (SHARED / "SHA256SUMS").read_text().splitlines():
        digest, _, file = line.strip().partition("  ")
        if file.strip().lstrip("*") == name:
            return digest
    pytest.fail(f"{name} is not listed in {SHARED / 'SHA256SUMS'}")


def _require(path: Path) -> None:
    if not path.is_file():
        pytest.skip(f"{path.name} not found at {path.parent} (set VABAL_SHARED_DATASETS)")


def test_real_neu():
    _require(NEU_ARCHIVE)
    verify_checksum(NEU_ARCHIVE, sha256=_shared_sha256(NEU_ARCHIVE.name))
    start = time.perf_counter()
    data = load_neu(NEU_ARCHIVE)
    print(f"NEU loaded in {time.perf_counter() - start:.1f} s")
    _check_consistent(data)
    assert data.images.shape == (7226, 64, 64, 1)
    counts = dict(zip(data.class_names, np.bincount(data.labels).tolist(), strict=True))
    assert counts == {
        "cr": 1210,
        "gg": 296,
        "in": 775,
        "pa": 1148,
        "ps": 797,
        "rp": 200,
        "rs": 1589,
        "sc": 773,
        "sp": 438,
    }
    assert set(data.source_split) == {"train"}
    assert data.names[:2] == ["cr/1.jpg", "cr/2.jpg"]
    assert "sp/64.jpg" in data.names  # stored as RGB, loaded as grey
