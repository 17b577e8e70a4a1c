"""The canonical store on real archives (skipped when absent) and on digits."""

import time

import numpy as np
import pytest
from conftest import SHARED_DATASETS
from test_sources import _shared_sha256

from vabal.data import store
from vabal.data.splits import make_split
from vabal.errors import DataError

NEU = SHARED_DATASETS / "neu-cls-64.tar.xz"
CIFAR10 = SHARED_DATASETS / "cifar10-jpeg-q75.tar.xz"
NEU_SHA256 = "19029a842356dfed61d82b2aecd937f324d5d0451b8f9cb27aaae0cb283da878"


def need(path):
    if not path.exists():
        pytest.skip(f"{path.name} not found at {path.parent} (set VABAL_SHARED_DATASETS)")


@pytest.fixture(scope="module")
def cifar10_store(tmp_path_factory):
    """The store of the real CIFAR-10 JPEG archive, its checksum checked (made once: decoding
    60 000 JPEGs is the slowest part of the data layer's tests)."""
    need(CIFAR10)
    out = tmp_path_factory.mktemp("cifar10")
    sha256 = _shared_sha256(CIFAR10.name)
    start = time.perf_counter()
    store.prepare({"kind": "cifar10", "path": str(CIFAR10), "sha256": sha256}, out)
    print(f"CIFAR-10 JPEG store made in {time.perf_counter() - start:.1f} s")
    return store.load(out)


def test_cifar10_store_of_the_real_jpeg_archive(cifar10_store):
    s, samples = cifar10_store, cifar10_store.samples
    assert s.images.shape == (60000, 32, 32, 3) and s.images.dtype == np.uint8
    train = (samples["source_split"] == "train").to_numpy()
    assert train.sum() == 50000 and (~train).sum() == 10000
    labels = samples["label"].to_numpy()
    assert labels.min() == 0 and labels.max() == 9
    assert np.bincount(labels[train]).tolist() == [5000] * 10
    assert np.bincount(labels[~train]).tolist() == [1000] * 10
    assert s.class_names[0] == "airplane" and s.class_names[9] == "truck"
    assert train[:50000].all()  # train first
    assert samples["name"].is_unique
    assert samples["name"].iloc[0] == "train/airplane/0000.jpg"
    assert samples["name"].iloc[-1] == "test/truck/0999.jpg"
    assert s.meta["counts"] == {"train": 50000, "test": 10000}


def test_digits_store(tmp_path):
    store.prepare({"kind": "digits", "test_fraction": 0.2, "test_seed": 0}, tmp_path)
    s = store.load(tmp_path)
    assert s.images.shape == (1797, 8, 8, 1) and s.images.dtype == np.uint8
    assert list(s.samples.columns[:4]) == ["sample_id", "label", "class_name", "source_split"]
    assert s.meta["counts"] == {"train": 1797 - 364, "test": 364}
    assert len(s.meta["mean"]) == 1 and 0 < s.meta["mean"][0] < 1


def test_neu_store_5778_1448(tmp_path):
    need(NEU)
    store.prepare(
        {
            "kind": "neu",
            "path": str(NEU),
            "sha256": NEU_SHA256,
            "test_fraction": 0.2,
            "test_seed": 0,
        },
        tmp_path,
    )
    s = store.load(tmp_path)
    assert s.meta["counts"] == {"train": 5778, "test": 1448}
    assert s.images.shape == (7226, 64, 64, 1)
    assert s.class_names == ["cr", "gg", "in", "pa", "ps", "rp", "rs", "sc", "sp"]
    split = make_split(s.samples, 9, {"budget": 250, "rounds": 5}, seed=0)
    assert (split["role"] == "pool").sum() == 5778 and (split["role"] == "test").sum() == 1448


def test_resize_averages_areas_and_keeps_labels(tmp_path):
    """resize: 4 on the 8x8 digits: each output pixel is the mean of its 2x2 block (within
    rounding), the labels and split are those of the unresized store."""
    cfg = {"kind": "digits", "test_fraction": 0.2, "test_seed": 0}
    store.prepare(cfg, tmp_path / "full")
    store.prepare({**cfg, "resize": 4}, tmp_path / "small")
    full, small = store.load(tmp_path / "full"), store.load(tmp_path / "small")
    assert small.images.shape == (1797, 4, 4, 1) and small.meta["resized_from"] == [8, 8]
    blocks = np.asarray(full.images, dtype=np.float64).reshape(1797, 4, 2, 4, 2, 1).mean((2, 4))
    assert np.abs(np.asarray(small.images, dtype=np.float64) - blocks).max() <= 1.0
    assert small.samples.equals(full.samples)
    assert store.resize_images(np.asarray(full.images), 8) is not None
    rgb = np.zeros((2, 6, 6, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    grown = store.resize_images(rgb, 12)
    assert grown.shape == (2, 12, 12, 3) and (grown[..., 0] == 200).all()


def test_neu_checksum_mismatch_names_the_file(tmp_path):
    need(NEU)
    with pytest.raises(DataError, match="neu-cls-64.tar.xz"):
        store.prepare({"kind": "neu", "path": str(NEU), "sha256": "0" * 64}, tmp_path / "s")
    assert not (tmp_path / "s" / "images.npy").exists()


@pytest.mark.parametrize(
    ("spec", "pool"),
    [("+[1]", 9500), ("-[1]", 45500), ("+[5]", 9500), ("+[10]", 9500), (None, 50000)],
)
def test_cifar10_variants_exact(cifar10_store, spec, pool):
    split = make_split(
        cifar10_store.samples, 10, {"imbalance": spec, "budget": 500, "rounds": 6}, seed=0
    )
    roles = split["role"].value_counts()
    assert roles["pool"] == pool and roles["test"] == 10000
    per_class = split[split["role"] == "pool"].groupby("label").size()
    if spec == "+[5]":
        assert per_class[4] == 5000 and per_class.drop(4).eq(500).all()


def test_corrupt_store_files_are_reported(tmp_path):
    store.prepare({"kind": "digits"}, tmp_path)
    (tmp_path / "samples.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="samples.parquet: corrupt Parquet"):
        store.load(tmp_path)
