"""What the workflow knows of an acquisition method before running it, without torch.

Each method package (``vabal/methods/<name>/``) declares its :class:`MethodInfo` once, in its
``__init__``: the optional steps of the round chain it uses, its label, the steps that need
a GPU, how their time grows (:class:`Cost`), what it adds to the classifier's recipe, and
the class that implements it (in ``<name>/method.py``, the only module of the package that
imports torch). Its parameters, their defaults and their JSON schemas are the kind's
definition in ``workflow/schemas/methods.schema.yaml`` (or, for a package outside this
library, its ``parameters``); the config's ``methods`` section is checked against them.
``vabal.methods.REGISTRY`` gathers the packages, those of this library and those that
``VABAL_METHODS`` names.

``train_classifier -> [extract_features] -> [train_vae] -> [score] -> select``
"""

from __future__ import annotations

import functools
import importlib
import math
from dataclasses import dataclass, field
from pathlib import Path

from vabal.errors import ConfigError

STEPS = ("extract_features", "train_vae", "score")
SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "methods.schema.yaml"


@functools.cache
def definitions() -> dict:
    """Each kind's parameter definition (JSON schema) from ``methods.schema.yaml``."""
    import yaml

    return yaml.safe_load(SCHEMA.read_text())["$defs"]


@dataclass(frozen=True)
class Cost:
    """How the time of one of a method's steps grows (``vabal estimate``): seconds = a rate
    measured by ``vabal bench speed`` x the step's units of work, the samples it visits (the
    unlabelled pool, or the whole ``pool``; at most the parameter ``cap`` where that is
    above 0) times each parameter of ``per`` (epochs, Monte Carlo samples; ``budget`` is
    the dataset's), times the image's pixels and the classifier's depth relative to the
    benchmark's where the step runs on images or through the classifier."""

    samples: str = "unlabelled"  #: "unlabelled" or "pool"
    per: tuple[str, ...] = ()
    cap: str | None = None
    pixels: bool = False
    depth: bool = False

    def units(
        self, pool: int, unlabelled: int, params: dict, pixels: float = 1.0, depth: float = 1.0
    ) -> float:
        n = float(pool if self.samples == "pool" else unlabelled)
        if self.cap and params.get(self.cap, 0) > 0:
            n = min(n, float(params[self.cap]))
        for name in self.per:
            n *= params[name]
        return n * (pixels if self.pixels else 1.0) * (depth if self.depth else 1.0)


@dataclass(frozen=True)
class MethodInfo:
    """What the workflow needs to know about a method kind before running it."""

    kind: str
    target: str  #: "module:Class" of the implementation
    steps: tuple[str, ...]  #: optional steps it uses, a subset of STEPS
    #: its name in legends and tables (the paper's name where it has one)
    label: str = ""
    #: keys added to the classifier's training recipe for this method (MC-Dropout: dropout)
    classifier: dict = field(default_factory=dict)
    #: its steps that run a network, so ask a cluster for a GPU (default: its optional steps;
    #: ``select`` too where it computes on the device, as Core-set's k-center does)
    device_steps: tuple[str, ...] | None = None
    #: JSON schema of each parameter, by name (with its default): a method package outside
    #: this library gives them here; the built-in kinds' are their definitions in
    #: ``methods.schema.yaml``
    parameters: dict | None = None
    #: how the time of its method steps grows (:class:`Cost`), by step; ``score`` (where it
    #: has one) per unlabelled sample and ``select`` per unlabelled sample and budget unless
    #: given. ``extract_features`` is the classifier's and costed with it.
    costs: dict = field(default_factory=dict)

    def __post_init__(self):
        assert set(self.steps) <= set(STEPS), self.steps
        assert self.device_steps is None or set(self.device_steps) <= {*STEPS, "select"}
        if not self.label:
            object.__setattr__(self, "label", self.kind)
        defaults = {"select": Cost(per=("budget",))}
        if "score" in self.steps:
            defaults["score"] = Cost()
        costs = {**defaults, **self.costs}
        assert set(costs) <= {"train_vae", "score", "select"} & {*self.steps, "select"}, costs
        object.__setattr__(self, "costs", costs)

    def uses_device(self, step: str) -> bool:
        """Whether this method's ``step`` runs on the device (``train_classifier`` and the
        evaluation always do)."""
        steps = self.steps if self.device_steps is None else self.device_steps
        return step in steps

    @property
    def module(self) -> str:
        """The module of the implementation (what a fork server imports ahead)."""
        return self.target.split(":")[0]

    @property
    def schema(self) -> dict:
        """JSON schema of each parameter, by name."""
        if self.parameters is not None:
            return dict(self.parameters)
        return {k: v for k, v in definitions()[self.kind]["properties"].items() if k != "kind"}

    @property
    def params(self) -> dict:
        """Parameter names and their defaults."""
        return {k: v["default"] for k, v in self.schema.items()}

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

    def fill_defaults(self, cfg: dict) -> dict:
        """``cfg`` (a config's method entry) checked, its missing parameters added with
        their defaults after the given ones (in place, as a JSON schema's defaults fill)."""
        for name, default in self.params.items():
            cfg.setdefault(name, default)
        return cfg

    def load(self):
        return getattr(importlib.import_module(self.module), self.target.split(":")[1])
