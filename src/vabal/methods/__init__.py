"""The registry of acquisition methods.

Each method is one module with one class implementing :class:`vabal.methods.base.Method`.
The registry records, without importing torch, which optional steps of the round chain a
method uses, so the workflow builds exactly the rules it needs (a method without a VAE has
no ``train_vae`` job and no ``vae.pt``):

``train_classifier -> [extract_features] -> [train_vae] -> [score] -> select``
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field

from vabal.errors import ConfigError

STEPS = ("extract_features", "train_vae", "score")


@dataclass(frozen=True)
class MethodInfo:
    """What the workflow needs to know about a method kind before running it."""

    kind: str
    target: str  #: "module:Class" of the implementation
    steps: tuple[str, ...]  #: optional steps it uses, a subset of STEPS
    params: dict = field(default_factory=dict)  #: parameter names and defaults
    #: keys added to the classifier's training recipe for this method (MC-Dropout: dropout)
    classifier: dict = field(default_factory=dict)
    #: JSON schema of each parameter (checked at start-up, before any job runs)
    schema: dict = field(default_factory=dict)

    def check_params(self, cfg: dict, where: str) -> None:
        """Reject unknown parameters and values outside their schema, naming the key."""
        import json

        import jsonschema

        unknown = sorted(set(cfg) - {"kind"} - set(self.params))
        if unknown:
            allowed = ", ".join(sorted(self.params)) or "none"
            raise ConfigError(
                f"config error at {where}: unknown parameter(s) {unknown} for method kind "
                f"{self.kind!r} (allowed: {allowed})"
            )
        for name, value in cfg.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"config error at {where}.{name}: {value} is not a finite number")
            if name in self.schema:
                try:
                    jsonschema.validate(value, self.schema[name])
                except jsonschema.ValidationError as exc:
                    raise ConfigError(
                        f"config error at {where}.{name}: {json.dumps(value)} is invalid: "
                        f"{exc.message}"
                    ) from None

    def resolve(self, cfg: dict) -> dict:
        """Parameters with defaults filled."""
        return {**self.params, **{k: v for k, v in cfg.items() if k != "kind"}}

    def load(self):
        module, cls = self.target.split(":")
        return getattr(importlib.import_module(module), cls)


REGISTRY: dict[str, MethodInfo] = {}


def register(info: MethodInfo) -> None:
    assert set(info.steps) <= set(STEPS), info.steps
    REGISTRY[info.kind] = info


register(MethodInfo(kind="random", target="vabal.methods.random:RandomSampling", steps=()))
POS_INT = {"type": "integer", "minimum": 1}
NON_NEG = {"type": "number", "minimum": 0}
POSITIVE = {"type": "number", "exclusiveMinimum": 0}
BOOL = {"type": "boolean"}

register(
    MethodInfo(
        kind="bald",
        target="vabal.methods.bald:MCDropoutBALD",
        steps=("score",),
        params={"mc_samples": 100, "batch_size": 1024, "subset": 0},
        classifier={"dropout": 0.25},
        schema={
            "mc_samples": POS_INT,
            "batch_size": POS_INT,
            "subset": {"type": "integer", "minimum": 0},
        },
    )
)
register(
    MethodInfo(
        kind="coreset",
        target="vabal.methods.coreset:CoreSet",
        steps=("extract_features",),
        params={"chunk_size": 4096},
        schema={"chunk_size": POS_INT},
    )
)
register(
    MethodInfo(
        kind="vaal",
        target="vabal.methods.vaal:VAAL",
        steps=("train_vae", "score"),
        params={
            "latent_dim": 32,
            "beta": 1.0,
            "adversary_param": 1.0,
            "lr": 5e-4,
            "epochs": 100,
            "batch_size": 128,
            "width": 128,
            "vae_steps": 2,
            "adv_steps": 1,
        },
        schema={
            **dict.fromkeys(
                ("latent_dim", "epochs", "batch_size", "width", "vae_steps", "adv_steps"),
                POS_INT,
            ),
            "beta": NON_NEG,
            "adversary_param": NON_NEG,
            "lr": POSITIVE,
        },
    )
)
register(
    MethodInfo(
        kind="vabal",
        target="vabal.methods.vabal:VaBAL",
        steps=("extract_features", "train_vae", "score"),
        params={
            "lambda": 0.005,
            "mc_samples": 100,
            "latent_per_class": 10,
            "epochs": 20,
            "lr": 1e-4,
            "batch_size": 64,
            "w_type": "z2",
            "likelihood": "predicted",
            "reading": "standardised",
            "prior": True,
            "difficulty": True,
            "smoothing": 1.0,
        },
        schema={
            "lambda": NON_NEG,
            "mc_samples": POS_INT,
            "latent_per_class": POS_INT,
            "epochs": POS_INT,
            "lr": POSITIVE,
            "batch_size": {"type": "integer", "minimum": 2},
            "w_type": {"enum": ["z2", "abs", "sigmoid"]},
            "likelihood": {"enum": ["predicted", "all"]},
            "reading": {"enum": ["standardised", "per_feature", "literal", "authors"]},
            "prior": BOOL,
            "difficulty": BOOL,
            "smoothing": POSITIVE,
        },
    )
)
