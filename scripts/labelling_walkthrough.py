"""The walkthrough of docs/labelling.md: three labelling rounds on a folder of digits.

Makes a folder of scikit-learn's 1 797 handwritten digits as PNG files (``digits/``, the
classes hidden in the file names), a labels CSV with two images of each class, then runs
three rounds of ``vabal next`` (VaB-AL, 30 images a round). Between rounds it plays the
expert: it labels the 30 images the round asked for, from the digits' true classes, and
adds them to the CSV. After each round it prints how well the round's classifier guesses
the images still unlabelled (which a real user cannot know) and copies the contact sheet to
``docs/labelling/round<k>.png``.

    python scripts/labelling_walkthrough.py --work /tmp/walkthrough
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def make_folder(work: Path) -> dict[str, str]:
    """``work/digits/<n>.png`` and the true class of each."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    truth = {}
    for i, (pixels, target) in enumerate(zip(digits.images, digits.target, strict=True)):
        rel = f"{i:04d}.png"
        path = work / "digits" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((pixels * 16).clip(0, 255).astype(np.uint8)).save(path)
        truth[rel] = NAMES[target]
    return truth


def main(argv=None) -> int:
    from vabal.run.labelling import next_round

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, required=True, help="a new folder for the session")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--budget", type=int, default=30)
    p.add_argument("--figures", type=Path, default=REPO / "docs" / "labelling")
    args = p.parse_args(argv)
    truth = make_folder(args.work)
    rng = np.random.default_rng(0)
    first = [rng.choice([p for p, c in truth.items() if c == name], 2) for name in NAMES]
    rows = sorted((str(p), truth[str(p)]) for pair in first for p in pair)
    labels = args.work / "labels.csv"
    summary = []
    for k in range(1, args.rounds + 1):
        labels.write_text("path,label\n" + "".join(f"{p},{c}\n" for p, c in rows))
        out = next_round(args.work / "digits", labels, args.work / f"round{k}",
                         budget=args.budget, classes=",".join(NAMES))  # fmt: skip
        asked = pd.read_csv(out / "to_label.csv")
        record = guesses(out, truth, {p for p, _ in rows})
        record.update(
            round=k,
            labelled=len(rows),
            asked_right=float((asked["guess"] == asked["path"].map(truth)).mean()),
            asked_classes=int(asked["path"].map(truth).nunique()),
        )
        summary.append(record)
        print(json.dumps(record))
        args.figures.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "to_label.png", args.figures / f"round{k}.png")
        rows += [(p, truth[p]) for p in asked["path"]]  # the expert labels what was asked
    (args.figures / "walkthrough.json").write_text(json.dumps(summary, indent=1) + "\n")
    return 0


def guesses(out: Path, truth: dict, labelled: set) -> dict:
    """How often the round's classifier is right on the images still unlabelled."""
    import torch

    from vabal.data import store as store_mod
    from vabal.learn.training import load_classifier, predict_logits

    store = store_mod.load(out / "store")
    names = store.samples["name"].tolist()
    pool = [i for i, n in enumerate(names) if n not in labelled]
    model, ckpt = load_classifier(out / "classifier.pt", torch.device("cpu"))
    logits = predict_logits(model, np.asarray(store.images[pool]), ckpt["mean"], ckpt["std"], 256)
    right = [NAMES[g] == truth[names[i]] for g, i in zip(logits.argmax(1), pool, strict=True)]
    return {"unlabelled": len(pool), "classifier_right_on_unlabelled": float(np.mean(right))}


if __name__ == "__main__":
    sys.exit(main())
