"""A sweep of bad inputs through the real `snakemake` command, as a user meets them.

Each case gives one clear message naming the key, file or value, no Python traceback, and
leaves no partial output: a bad config stops the run before any job (no results folder at
all); a bad data file stops the job that reads it, whose outputs are then absent, and no
temporary file remains. The config cases are those of tests/test_config.py (which checks
the same messages on the library, fast); here they go through Snakemake.
"""

from __future__ import annotations

import copy
import os
import shutil
import tarfile
from pathlib import Path

import pytest
from conftest import TINY_CONFIG, run_snakemake
from PIL import Image
from test_config import CASES, with_change

from vabal import layout

pytestmark = pytest.mark.slow

RUN0 = layout.round_path("", "results", dataset="digits_plus1", method="random", seed=0, round=0)
# its steps read the classifier
CORESET0 = layout.round_path(
    "", "results", dataset="digits_plus1", method="coreset", seed=0, round=0
)
SPLIT = "results/splits/digits_plus1/seed0.parquet"
#: the cases below run one job or two: each in its own process, as without the fork server
#: (whose start-up imports PyTorch once, which pays off only over many jobs)
FEW_JOBS = {"VABAL_FORKSERVER": "off"}

#: test_config.CASES run through Snakemake here (by their expected message).
THROUGH_SNAKEMAKE = [
    "unknown key 'colour'",  # unknown config key
    "datasets.digits_plus1.budget",  # wrong type ("ten")
    "datasets.digits_plus1.budget: 0 is invalid",
    "datasets.digits_plus1.budget: -5 is invalid",
    "the pool holds only",  # budget larger than the pool
    "datasets.digits_plus1.rounds: 0 is invalid",
    "seeds: [] is invalid",
    "unknown method 'magic'",
    "training.classifier",  # unknown classifier
    "methods.vabal.lambda: -0.1",  # negative lambda
    "methods.vabal.mc_samples: 0",
    "class index 11 is out of range",  # variant spec
    "sources.digits.path: '/nowhere/neu.tar.xz' does not exist; expected the NEU-CLS-64",
    "unknown parameter(s) ['lamda']",
    "unknown source 'mnist'",
    "lr_milestones [50] exceed epochs 4",
    "imbalance: cannot read '+1'",
]


def _config_case(needle):
    ((path, value, _),) = [c for c in CASES if c[2] == needle]
    return with_change(path, value)


def assert_clean_failure(proc, needles, workdir: Path):
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    for needle in needles:
        assert needle in out, f"{needle!r} not in:\n{out[-3000:]}"
    print("MESSAGE:", next(line for line in out.splitlines() if needles[0] in line))
    assert "Traceback" not in out, out[-4000:]
    results = workdir / "results"
    leftovers = list(results.rglob("*.tmp")) if results.exists() else []
    assert not leftovers, leftovers
    return out


# ---------------------------------------------------------------------- config, at start-up
@pytest.mark.parametrize("needle", THROUGH_SNAKEMAKE)
def test_bad_config_stops_before_any_job(needle, tmp_path):
    proc = run_snakemake(tmp_path, _config_case(needle), check=False)
    out = assert_clean_failure(proc, [needle], tmp_path)
    assert not (tmp_path / "results").exists()  # nothing ran, nothing was written
    assert "rule " not in out and "Building DAG" not in out
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr  # one message


def _results_under_a_file(tmp_path):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    return {"results": "notes.txt/results"}, ["results: 'notes.txt/results' cannot be a folder"]


def _results_in_a_read_only_place(tmp_path):
    import tempfile

    try:  # /sys refuses new files even to root; elsewhere the case cannot be made real
        tempfile.TemporaryFile(dir="/sys").close()
        pytest.skip("/sys is writable here")
    except OSError:
        pass
    return {"results": "/sys/vabal-results"}, ["config error at results: cannot write in /sys"]


@pytest.mark.parametrize(
    "make",
    [_results_under_a_file, _results_in_a_read_only_place],
    ids=["results-under-a-file", "results-not-writable"],
)
def test_unwritable_results_folder_stops_before_any_job(make, tmp_path):
    change, needles = make(tmp_path)
    proc = run_snakemake(tmp_path, {**copy.deepcopy(TINY_CONFIG), **change}, check=False)
    assert_clean_failure(proc, needles, tmp_path)
    assert not (tmp_path / "results").exists()
    assert not list(tmp_path.glob("**/.vabal-write-probe-*"))


def test_config_file_that_is_not_yaml(tmp_path):
    """Snakemake reads the config file itself, before the workflow: its message does not
    name the file, but it is one line and nothing runs; `vabal check-config` names the file
    and the line."""
    import subprocess
    import sys

    from conftest import REPO

    bad = "datasets: {digits: {source: digits, budget: 20\n"
    (tmp_path / "config.yaml").write_text(bad)
    cmd = [sys.executable, "-m", "snakemake", "all", "--cores", "1", "--snakefile"]
    cmd += [str(REPO / "Snakefile"), "--configfile", "config.yaml"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert_clean_failure(proc, ["Config file is not valid JSON or YAML"], tmp_path)
    assert not (tmp_path / "results").exists()
    cli = [sys.executable, "-m", "vabal.cli", "check-config", "config.yaml"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(cli, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert_clean_failure(proc, ["config file config.yaml is not valid YAML", "line 2"], tmp_path)
    cli[-1] = "nope.yaml"
    proc = subprocess.run(cli, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert_clean_failure(proc, ["config file nope.yaml: No such file or directory"], tmp_path)


# ---------------------------------------------------------------------- data, in prepare_source
def _image(path: Path, size=(4, 4), value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, value).save(path)


def _image_folder(root: Path) -> Path:
    for c in ("a", "b"):
        for i in range(12):
            _image(root / c / f"{i}.png", value=10 * i + (100 if c == "b" else 0))
    return root


def _archive(tmp_path: Path) -> Path:
    folder = _image_folder(tmp_path / "data" / "imgs")
    archive = tmp_path / "data" / "imgs.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="imgs")
    return archive


def _truncated_archive(tmp_path):
    archive = _archive(tmp_path)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    return {"path": str(archive)}, [f"cannot read archive {archive}", "truncated"]


def _checksum_mismatch(tmp_path):
    archive = _archive(tmp_path)
    return {"path": str(archive), "sha256": "0" * 64}, [
        f"sha256 checksum mismatch for {archive}: expected {'0' * 64}"
    ]


def _empty_class_folder(tmp_path):
    root = _image_folder(tmp_path / "data" / "imgs")
    (root / "c").mkdir()
    return {"path": str(root)}, [f"class folder {root / 'c'} contains no images"]


def _image_of_another_size(tmp_path):
    root = _image_folder(tmp_path / "data" / "imgs")
    _image(root / "b" / "big.png", size=(5, 4))
    return {"path": str(root)}, [f"image {root / 'b' / 'big.png'} is 5x4", "4x4"]


def _unreadable_image(tmp_path):
    root = _image_folder(tmp_path / "data" / "imgs")
    (root / "a" / "5.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    return {"path": str(root)}, [f"cannot decode image {root / 'a' / '5.png'}"]


def _neu_folder_with_other_classes(tmp_path):
    root = _image_folder(tmp_path / "data" / "NEU-CLS-64")
    return {"kind": "neu", "path": str(root)}, ["is not the expected dataset", "cr, gg, in"]


@pytest.mark.parametrize(
    "make",
    [
        _truncated_archive,
        _checksum_mismatch,
        _empty_class_folder,
        _image_of_another_size,
        _unreadable_image,
        _neu_folder_with_other_classes,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_bad_source_data_fails_its_job_cleanly(make, tmp_path):
    source, needles = make(tmp_path)
    config = copy.deepcopy(TINY_CONFIG)
    config["sources"] = {"imgs": {"kind": "imagefolder", **source}}
    config["datasets"] = {"imgs": {"source": "imgs", "budget": 2, "rounds": 2}}
    config["figures"] = {}
    proc = run_snakemake(tmp_path, config, check=False, env=FEW_JOBS)
    assert_clean_failure(proc, needles, tmp_path)
    log = (tmp_path / "results" / "logs" / "prepare_source" / "imgs.log").read_text()
    assert needles[0] in log  # the rule's log has it too
    store = tmp_path / "results" / "data" / "imgs"
    assert not store.exists() or not any(store.iterdir())  # no partial store


# ---------------------------------------------------------------------- corrupt files of a run
RUN_CONFIG = copy.deepcopy(TINY_CONFIG)
RUN_CONFIG["methods"]["coreset"] = {"kind": "coreset"}


def _shared_round0(config: dict) -> str:
    """The folder of round 0 that Random and core-set share (one classifier recipe)."""
    from vabal import layout
    from vabal.plan import config as cfg
    from vabal.plan import workflow as vw

    config = cfg.validate(copy.deepcopy(config))
    recipe = vw.round0_id(config, "digits_plus1", "coreset")
    assert recipe == vw.round0_id(config, "digits_plus1", "random")
    return layout.round0_path("", "results", dataset="digits_plus1", recipe=recipe, seed=0)


SHARED0 = _shared_round0(RUN_CONFIG)  # its classifier is read by the features job


@pytest.fixture(scope="module")
def first_round(tmp_path_factory):
    """The tiny config's store and split, and round 0's labelled set, classifier and metrics
    (the outputs of train_classifier) of Random and of core-set."""
    root = tmp_path_factory.mktemp("first-round")
    targets = [f"{RUN0}/classifier.pt", f"{CORESET0}/classifier.pt"]
    run_snakemake(root, RUN_CONFIG, targets=targets, extra=["--nolock"])
    return root


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


CORRUPT = [
    # (file cut short, a target whose job reads it, the message, where it stops)
    (
        f"{SHARED0}/classifier.pt",
        f"{SHARED0}/features.pt",
        "classifier.pt: corrupt checkpoint",
        "job",
    ),
    (SPLIT, f"{RUN0}/labelled.parquet", "seed0.parquet: corrupt Parquet file", "job"),
    ("results/data/digits/images.npy", SPLIT, "images.npy: corrupt array file", "job"),
    (
        f"{RUN0}/labelled.parquet",
        f"{RUN0}/selection.parquet",
        "labelled.parquet: corrupt Parquet",
        "job",
    ),
    # the start-up budget check reads the store's class counts
    ("results/data/digits/meta.json", SPLIT, "meta.json: corrupt JSON", "startup"),
]


@pytest.mark.parametrize(
    ("victim", "target", "needle", "where"), CORRUPT, ids=[Path(c[0]).name for c in CORRUPT]
)
def test_corrupt_file_of_a_run_is_named(victim, target, needle, where, first_round, tmp_path):
    work = tmp_path / "run"
    shutil.copytree(first_round, work, symlinks=True)
    _cut(work / victim)
    before = (work / target).read_bytes() if (work / target).exists() else None
    proc = run_snakemake(work, RUN_CONFIG, targets=[target], check=False, env=FEW_JOBS)
    out = assert_clean_failure(proc, [needle, "delete it and run the workflow again"], work)
    if where == "job":  # the job that read it failed and left nothing
        assert not (work / target).exists(), out[-2000:]
    else:  # stopped before any job: nothing touched
        assert "Job stats" not in out and proc.stderr.count("error:") == 1
        assert (work / target).read_bytes() == before


def test_corrupt_file_deleted_is_recomputed(first_round, tmp_path):
    """What the message tells the user to do works: delete the file, run again."""
    import torch

    work = tmp_path / "run"
    shutil.copytree(first_round, work, symlinks=True)
    classifier = work / SHARED0 / "classifier.pt"
    _cut(classifier)
    target = [f"{SHARED0}/features.pt"]
    assert run_snakemake(work, RUN_CONFIG, targets=target, check=False, env=FEW_JOBS).returncode
    classifier.unlink()
    run_snakemake(work, RUN_CONFIG, targets=target)
    again, first = (
        torch.load(p, weights_only=True)["state_dict"]
        for p in (classifier, first_round / SHARED0 / "classifier.pt")
    )
    assert all(torch.equal(again[k], first[k]) for k in first)
