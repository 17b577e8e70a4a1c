"""``vabal next``: one real round on a user's own images (vabal.run.labelling).

A small folder of digits made here (8x8 grey PNGs, some in a sub-folder), a labels CSV;
tiny recipes so that a round takes a few seconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vabal.cli import main as cli
from vabal.errors import ConfigError, DataError
from vabal.run.labelling import next_round

NAMES = ["zero", "one", "two", "three"]
RECIPE = {"images": 256, "width": 4, "batch_size": 16}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """120 digits 0-3 as PNGs (a third under batch2/), and the truth of each."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("labelling")
    digits = load_digits(n_class=4)
    truth = {}
    for i in range(120):
        rel = f"batch2/img{i}.png" if i % 3 == 0 else f"img{i}.png"
        path = root / "images" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((digits.images[i] * 16).clip(0, 255).astype(np.uint8)).save(path)
        truth[rel] = NAMES[digits.target[i]]
    return root, truth


def write_labels(path: Path, rows) -> Path:
    path.write_text("path,label\n" + "".join(f"{p},{label}\n" for p, label in rows))
    return path


def first_labels(folder, n=12) -> list[tuple[str, str]]:
    root, truth = folder
    return sorted(truth.items())[:n]


def run(folder, tmp_path, rows, out="round1", **kw):
    root, _ = folder
    labels = write_labels(tmp_path / "labels.csv", rows)
    options = {"method": {"kind": "margin"}, "budget": 10, "recipe": RECIPE, **kw}
    return next_round(root / "images", labels, tmp_path / out, **options)


def test_a_round_says_which_images_to_label_next(folder, tmp_path):
    root, truth = folder
    rows = first_labels(folder)
    out = run(folder, tmp_path, rows)
    table = pd.read_csv(out / "to_label.csv")
    assert list(table.columns) == ["path", "rank", "score", "guess", "probability"]
    assert table["rank"].tolist() == list(range(1, 11))
    labelled = {p for p, _ in rows}
    assert set(table["path"]) <= set(truth) - labelled  # only unlabelled images
    assert table["guess"].isin(NAMES).all() and table["probability"].between(0, 1).all()
    assert table["score"].notna().all()  # margin scores
    png = (out / "to_label.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    record = (out / "round.json").read_text()
    assert '"n_labelled": 12' in record and '"budget": 10' in record
    assert (out / "labels.csv").read_text() == (tmp_path / "labels.csv").read_text()
    assert (out / "classifier.pt").exists() and (out / "features.pt").exists()


def test_the_loop_closes_and_a_round_reproduces(folder, tmp_path):
    """The expert labels what was asked (and one more image): the next round trains on the
    new labels and asks for others; the same CSV and seed give the same selection."""
    _, truth = folder
    rows = first_labels(folder)
    first = pd.read_csv(run(folder, tmp_path, rows) / "to_label.csv")
    asked = first["path"].tolist()[:7]  # any subset of what was asked
    extra = next(p for p in sorted(truth) if p not in asked and p not in dict(rows))
    rows2 = rows + [(p, truth[p]) for p in [*asked, extra]]
    second_dir = run(folder, tmp_path, rows2, out="round2")
    second = pd.read_csv(second_dir / "to_label.csv")
    assert not set(second["path"]) & {p for p, _ in rows2}
    labelled = pd.read_parquet(second_dir / "labelled.parquet")
    assert len(labelled) == len(rows2) == 20
    again = run(folder, tmp_path, rows2, out="round2-again")
    for name in ("selection.parquet", "to_label.csv"):
        assert (again / name).read_bytes() == (second_dir / name).read_bytes()


def test_vabal_through_the_command_line(folder, tmp_path, capsys):
    root, _ = folder
    labels = write_labels(tmp_path / "labels.csv", first_labels(folder, 16))
    args = ["next", str(root / "images"), str(labels), "--out", str(tmp_path / "r1")]
    args += ["--budget", "8", "--recipe", "{images: 256, width: 4, batch_size: 16}"]
    args += ["--params", "{epochs: 2, mc_samples: 3}", "--classes", ",".join(NAMES)]
    assert cli(args) == 0
    assert str(tmp_path / "r1" / "to_label.csv") in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "r1" / "to_label.csv")) == 8
    assert (tmp_path / "r1" / "vae.pt").exists()


def _bad(folder, tmp_path, change):
    """What ``change`` does to the rows or the folder, and the message it must give."""
    root, truth = folder
    rows = first_labels(folder)
    images = root / "images"
    kw = {}
    if change == "unknown label":
        rows[3] = (rows[3][0], "thre")
        kw["classes"] = ",".join(NAMES)
        needle = "line 5: label 'thre' names no known class (known: zero, one, two, three)"
    elif change == "path not in the folder":
        rows.append(("img999.png", "one"))
        needle = "line 14: 'img999.png' is not an image of the folder"
    elif change == "one path, two labels":
        rows.append((rows[0][0], "two" if rows[0][1] != "two" else "one"))
        needle = f"line 14: {rows[0][0]!r} is labelled twice"
    elif change == "fewer labelled than classes":
        rows = rows[:2]
        kw["classes"] = ",".join(NAMES)
        needle = "2 labelled images for 4 classes"
    elif change == "unreadable image":
        copy = tmp_path / "copy"
        shutil.copytree(images, copy)
        (copy / "img5.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
        images = copy
        needle = f"cannot decode image {copy / 'img5.png'}"
    elif change == "budget larger than the pool":
        kw["budget"] = 200
        needle = "--budget 200 is larger than the 108 unlabelled images"
    labels = write_labels(tmp_path / "labels.csv", rows)
    options = {"method": {"kind": "margin"}, "budget": 10, "recipe": RECIPE, **kw}
    return images, labels, options, needle


@pytest.mark.parametrize(
    "change",
    [
        "unknown label",
        "path not in the folder",
        "one path, two labels",
        "fewer labelled than classes",
        "unreadable image",
        "budget larger than the pool",
    ],
)
def test_bad_input_is_one_message_and_nothing_written(folder, tmp_path, change):
    images, labels, options, needle = _bad(folder, tmp_path, change)
    with pytest.raises((DataError, ConfigError)) as exc:
        next_round(images, labels, tmp_path / "out" / "round1", **options)
    assert needle in str(exc.value), str(exc.value)
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir())  # no round, no temporary folder


def test_an_existing_round_folder_is_not_overwritten(folder, tmp_path):
    (tmp_path / "round1").mkdir()
    with pytest.raises(ConfigError, match="exists already"):
        run(folder, tmp_path, first_labels(folder))


def test_the_command_line_prints_the_one_message(folder, tmp_path, capsys):
    root, _ = folder
    labels = write_labels(tmp_path / "labels.csv", first_labels(folder))
    args = ["next", str(root / "images"), str(labels), "--out", str(tmp_path / "r"), "--budget"]
    assert cli([*args, "500"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --budget 500 is larger than") and "Traceback" not in err


@pytest.mark.slow
def test_the_snakemake_target_writes_the_round(folder, tmp_path):
    """`snakemake to_label` with configs/labelling.yaml and the labelling section pointed at
    the folder: the same round as the command's."""
    import yaml
    from conftest import REPO, run_snakemake

    root, _ = folder
    labels = write_labels(tmp_path / "labels.csv", first_labels(folder))
    config = yaml.safe_load((REPO / "configs" / "labelling.yaml").read_text())
    config["labelling"] = {
        "images": str(root / "images"),
        "labels": str(labels),
        "out": str(tmp_path / "session" / "round1"),
        "method": "margin",
        "budget": 10,
        "training": RECIPE,
    }
    run_snakemake(tmp_path / "work", config, targets=["to_label"])
    made = pd.read_csv(tmp_path / "session" / "round1" / "to_label.csv")
    direct = pd.read_csv(run(folder, tmp_path, first_labels(folder)) / "to_label.csv")
    assert made.equals(direct)


def test_images_of_several_sizes_need_a_size(tmp_path):
    from vabal.data.sources import list_images, read_images

    for i, side in enumerate((8, 12, 20)):
        Image.fromarray(np.full((side, side), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    names = list_images(tmp_path)
    with pytest.raises(DataError, match="must all have one size"):
        read_images(tmp_path, names)
    images = read_images(tmp_path, names, size=10)
    assert images.shape == (3, 10, 10, 1) and images[2].min() == 80  # area average of a flat image
