"""A diverged classifier (NaN or inf loss, weights, logits, features or scores) stops the job
with one message naming the run and round, and nothing is written: one test per method.

The round steps run in this process (``vabal.run.rounds``, what each rule calls) on a tiny
synthetic store, in a results layout (``runs/synth/<method>/seed0/round0/``) so that the
message can name the round from its files' paths.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from test_method_invariants import TINY_PARAMS, recipe_for

from vabal import io
from vabal.cli import load_benchmark
from vabal.errors import DivergedError
from vabal.methods import REGISTRY
from vabal.run import rounds

write_store = load_benchmark("speed").write_store  # a synthetic store, as bench/speed.py's

PARAMS = TINY_PARAMS  # each method shrunk to a fraction of a second
FILES = {"extract_features": "features.pt", "train_vae": "vae.pt", "score": "scores.parquet"}


def test_every_method_is_covered():
    assert set(PARAMS) == set(REGISTRY)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("diverged")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (80, 8, 8, 3), dtype=np.uint8)
    labels = np.arange(80) % 4
    test = rng.integers(0, 255, (20, 8, 8, 3), dtype=np.uint8)
    write_store(root / "store", images, labels, 4, test, np.arange(20) % 4)
    split = root / "split.parquet"
    rounds.split(root / "store", {"budget": 12, "rounds": 2}, 0, "synth", split)
    return root


def round_dir(root: Path, kind: str) -> Path:
    return root / "results" / "runs" / "synth" / kind / "seed0" / "round0"


def trained_round(store: Path, kind: str) -> tuple[Path, dict]:
    """Round 0 of a run of ``kind``: labelled and a healthy classifier."""
    d = round_dir(store, kind)
    shutil.rmtree(d, ignore_errors=True)  # another test's round of this method
    rounds.label(store / "split.parquet", d / "labelled.parquet", 0)
    recipe = recipe_for(kind)
    rounds.train_classifier(
        store / "store", d / "labelled.parquet", recipe, 0, 0, d / "classifier.pt"
    )
    return d, recipe


def context(store: Path, d: Path, recipe: dict, files: dict):
    return rounds.context(
        store / "store", store / "split.parquet", d / "labelled.parquet", recipe, 0, 0, files
    )


def poison_classifier(path: Path) -> None:
    """A checkpoint whose last layer holds NaN: what a diverged training leaves."""
    ckpt = io.load_torch(path)
    ckpt["state_dict"]["fc.weight"][0, 0] = float("nan")
    torch.save(ckpt, path)


def poison_features(path: Path) -> None:
    """A features file with one infinite penultimate feature and one NaN logit."""
    feats = io.load_torch(path)
    feats["taps"][3][1, 0] = float("inf")
    feats["logits"][2, 1] = float("nan")
    torch.save(feats, path)


NAMES = "synth / {kind} / seed 0 / round 0"


def run_until_error(store: Path, kind: str, poison: str) -> tuple[DivergedError, Path]:
    """Run ``kind``'s round 0 with the classifier or its features poisoned; return the error
    and the path of the output the failing step was writing."""
    d, recipe = trained_round(store, kind)
    files = {"classifier": d / "classifier.pt"}
    if poison == "classifier":
        poison_classifier(d / "classifier.pt")
    steps = [*REGISTRY[kind].steps, "select"]
    for step in steps:
        out = d / FILES.get(step, "selection.parquet")
        ctx = context(store, d, recipe, files)
        try:
            if step == "select":
                rounds.select(kind, PARAMS[kind], ctx, 12, out, files.get("score"))
            else:
                rounds.method_step(step, kind, PARAMS[kind], ctx, out, d / "diag.json")
        except DivergedError as exc:
            return exc, out
        files[step] = out
        if step == "extract_features" and poison == "features":
            poison_features(out)
    raise AssertionError(f"{kind}: no step noticed the {poison}")


FEATURE_READERS = sorted(k for k, i in REGISTRY.items() if "extract_features" in i.steps)


@pytest.mark.parametrize("kind", FEATURE_READERS)
def test_non_finite_features_stop_the_reader(store, kind):
    """Core-set, BADGE, TypiClust, BASE, margin, entropy and VaB-AL read features.pt: an
    infinite feature or a NaN logit there stops the first step that reads it."""
    exc, out = run_until_error(store, kind, "features")
    message = str(exc)
    assert NAMES.format(kind=kind) in message and "non-finite" in message, message
    assert "features" in message
    assert not out.exists()


@pytest.mark.parametrize("kind", sorted(set(REGISTRY) - {"random", "vaal"}))
def test_a_classifier_with_nan_weights_stops_its_readers(store, kind):
    """Every method step that loads the classifier refuses NaN weights (Random and VAAL
    read only the images: the training and VAAL's scores are checked instead, below)."""
    exc, out = run_until_error(store, kind, "classifier")
    assert NAMES.format(kind=kind) in str(exc) and "weights" in str(exc), str(exc)
    assert not out.exists()


@pytest.mark.parametrize("kind", sorted(k for k, i in REGISTRY.items() if "score" in i.steps))
def test_non_finite_scores_are_not_written(store, kind, monkeypatch):
    """A score step whose network diverged on its own (VaB-AL's or VAAL's VAE, BALD's
    passes) returns NaN: the scores file is not written, the message names the round."""
    d, recipe = trained_round(store, kind)
    cls = REGISTRY[kind].load()
    real = cls.score

    def nan_score(self, ctx):
        result = real(self, ctx)
        scores = result[0] if isinstance(result, tuple) else result
        scores = np.array(scores, dtype=np.float64)
        scores[0] = np.nan
        return scores

    files = {"classifier": d / "classifier.pt"}
    for step in REGISTRY[kind].steps:
        out = d / FILES[step]
        if step == "score":
            monkeypatch.setattr(cls, "score", nan_score)
            with pytest.raises(DivergedError, match="non-finite") as exc:
                rounds.method_step(step, kind, PARAMS[kind], context(store, d, recipe, files), out)
            assert NAMES.format(kind=kind) in str(exc.value)
            assert not out.exists()
            return
        rounds.method_step(step, kind, PARAMS[kind], context(store, d, recipe, files), out)
        files[step] = out


def test_a_diverging_training_stops_before_any_classifier_is_written(store):
    """Random reads nothing of the classifier: its round's training stops instead. A
    learning rate of 1e30 turns the loss to NaN within a few steps."""
    d = round_dir(store, "random")
    rounds.label(store / "split.parquet", d / "labelled.parquet", 0)
    recipe = {**recipe_for("random"), "lr": 1e30, "epochs": 3}
    with pytest.raises(DivergedError, match="training loss") as exc:
        rounds.train_classifier(
            store / "store", d / "labelled.parquet", recipe, 0, 0, d / "classifier.pt"
        )
    assert NAMES.format(kind="random") in str(exc.value)
    assert not (d / "classifier.pt").exists()


def test_the_message_names_a_shared_round_0():
    from vabal.learn.finite import require_finite

    path = "results/round0/neu/r0123456789/seed2/features.pt"
    with pytest.raises(DivergedError) as exc:
        require_finite("the features", torch.tensor([1.0, float("nan")]), path)
    assert str(exc.value).startswith("neu / round 0 of recipe r0123456789 / seed 2: the features")
    require_finite("the features", torch.tensor([1.0, 2.0]), path)  # finite: no error
