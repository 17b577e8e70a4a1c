"""The one interface every acquisition method implements.

A method is built from its resolved parameters and called once per step of a round with a
:class:`RoundContext`. Steps it does not list in the registry are never called. The
runner (:mod:`vabal.run.rounds`) loads inputs, writes outputs atomically and checks the
selection's invariants, so a method only computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vabal import seeding


@dataclass
class RoundContext:
    """Everything one step of one round may read."""

    store: Any  #: vabal.data.store.Store
    split: Any  #: the split table (pandas)
    labelled: np.ndarray  #: sample ids labelled at this round, sorted
    unlabelled: np.ndarray  #: pool sample ids not labelled yet, sorted
    seed: int
    round: int
    recipe: dict  #: the classifier's training recipe
    #: inputs of earlier steps: "classifier" (classifier.pt), "extract_features"
    #: (features.pt), "train_vae" (vae.pt), when the method uses those steps
    files: dict[str, Path] = field(default_factory=dict)
    #: samples this round selects (the dataset's budget), where the step is told it
    budget: int | None = None

    @property
    def device(self):
        """The torch device of the recipe (torch is imported only by methods that use it)."""
        from vabal.learn.training import resolve_device

        return resolve_device(self.recipe["device"])

    def rng(self, *tags: object) -> np.random.Generator:
        """A generator for this run, round and purpose."""
        return seeding.rng(self.seed, "round", self.round, *tags)

    def labels(self, ids: np.ndarray) -> np.ndarray:
        return self.split["label"].to_numpy()[ids]

    def load_classifier(self):
        from vabal.learn.training import load_classifier

        return load_classifier(self.files["classifier"], self.device)


class Method:
    """Base class: override the steps the method lists in the registry.

    ``spec`` is the method's :class:`~vabal.methods.registry.MethodInfo` (its package's
    ``SPEC``): the constructor checks the parameters against the kind's definition in
    ``workflow/schemas/methods.schema.yaml`` (or its own ``parameters``) and fills its defaults.
    """

    spec = None

    def __init__(self, params: dict):
        if self.spec is not None:
            self.spec.check_params(params, f"methods.(kind {self.spec.kind})")
            params = self.spec.resolve(params)
        self.params = params

    def extract_features(self, ctx: RoundContext) -> dict:
        """A dict of tensors saved as features.pt (see :mod:`vabal.learn.features`)."""
        raise NotImplementedError

    def train_vae(self, ctx: RoundContext) -> dict:
        """A dict of tensors and plain values saved as vae.pt (weights, loss curve...)."""
        raise NotImplementedError

    def score(self, ctx: RoundContext) -> np.ndarray | tuple[np.ndarray, dict]:
        """One score per ``ctx.unlabelled`` sample: higher means select first; optionally
        with a JSON-able dict of diagnostics written beside the scores."""
        raise NotImplementedError

    def select(self, ctx: RoundContext, budget: int, scores: np.ndarray | None) -> np.ndarray:
        """Sample ids to label next; by default the ``budget`` highest scores."""
        return top_k(ctx.unlabelled, scores, budget, ctx.rng("tie-break"))


class FeaturesMethod(Method):
    """A method that reads the classifier's features: its ``extract_features`` step is the
    shared one (:func:`vabal.learn.features.extract_round`: pooled stage features and logits
    of every labelled and unlabelled pool sample)."""

    def extract_features(self, ctx: RoundContext) -> dict:
        from vabal.learn.features import extract_round

        return extract_round(ctx)


def top_k(ids: np.ndarray, scores: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """The ``k`` ids of highest score; ties broken by a seeded random key (deterministic)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != ids.shape:
        raise ValueError(f"{len(scores)} scores for {len(ids)} samples")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    order = np.lexsort((rng.random(len(ids)), -scores))
    return ids[order[:k]]
