"""Load and check the pipeline configuration.

:func:`validate` checks a config against ``workflow/schemas/config.schema.yaml`` (filling
its defaults), then checks what a schema cannot: that names refer to each other, that
method kinds exist, and that every protocol fits its pool. Each problem raises one
:class:`~vabal.errors.ConfigError` whose message names the key. Nothing here imports torch,
so the Snakefile can call it cheaply in every job.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

from vabal.errors import ConfigError
from vabal.plan import catalogue, grid

SCHEMA = catalogue.SCHEMA  # workflow/schemas/config.schema.yaml

#: The classifier recipe of Section 4.2 of the paper; ``training`` keys in the config override it.
TRAINING_DEFAULTS = {
    "classifier": "resnet18",
    "width": 64,
    "epochs": 200,
    "images": None,  # a training length independent of the labelled set's size (see schema)
    "batch_size": 128,
    "lr": 0.1,
    "dropout": 0.0,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "lr_schedule": "multistep",
    "lr_milestones": [160],
    "lr_drops": [0.8],
    "lr_gamma": 0.1,
    "warmup": 0.0,
    "label_smoothing": 0.0,
    "augment": {"crop_padding": "auto", "hflip": True},
    "tta_flip": False,
    "amp": "auto",
    "channels_last": "auto",
    "device": "auto",
    "eval_batch_size": 1024,
    "deterministic": False,
    "fast": "auto",
    "compile": False,
}


def load(path: str | Path, schema: str | Path = SCHEMA) -> dict:
    """Read a YAML config file and validate it."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return validate(config, schema)


def validate(config: dict, schema: str | Path = SCHEMA) -> dict:
    """Validate ``config`` in place (defaults filled) and return it."""
    _normalise_cli_values(config)
    _check_schema(config, schema)
    _check_methods(config)
    _check_references(config)
    return config


def _normalise_cli_values(config: dict) -> None:
    """``--config only_seeds=[0,1]`` arrives as strings: read digit strings as integers (and,
    in ``labelling``, its numbers and its training's numbers and booleans as YAML would)."""
    import yaml

    for key in ("seeds", "only_seeds", "skip_seeds"):
        values = config.get(key)
        if isinstance(values, list):
            config[key] = [
                int(v) if isinstance(v, str) and v.strip().isdigit() else v for v in values
            ]
    spec = config.get("labelling")
    if isinstance(spec, dict):
        for key in ("budget", "seed", "size", "channels"):
            if isinstance(spec.get(key), str) and spec[key].strip().isdigit():
                spec[key] = int(spec[key])
        training = spec.get("training")
        if isinstance(training, dict):
            for key, value in training.items():
                if isinstance(value, str):
                    parsed = yaml.safe_load(value)
                    if isinstance(parsed, int | float | bool):
                        training[key] = parsed


def _check_schema(config: dict, schema_path: str | Path) -> None:
    """Snakemake's validation with defaults (``snakemake.utils.validate``); its error, if
    any, in one line naming the key (the ``methods`` entries: :func:`_check_methods`)."""
    from snakemake.utils import validate as snakemake_validate
    from snakemake_interface_common.exceptions import WorkflowError

    try:
        snakemake_validate(config, str(schema_path), set_default=True)
    except WorkflowError as exc:
        error = exc.__context__
        if error is None or not hasattr(error, "validator"):
            raise ConfigError(f"config error: {exc}") from None
        raise ConfigError(_describe(error)) from None
    _check_finite(config, [])


def _check_finite(value, where: list) -> None:
    """JSON schema lets NaN and infinity through every numeric bound: refuse them."""
    if isinstance(value, float) and not math.isfinite(value):
        key = ".".join(map(str, where))
        raise ConfigError(f"config error at {key}: {value} is not a finite number")
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for k, v in items:
        _check_finite(v, [*where, k])


def _describe(error) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))  # in the schema's order
        extra = sorted(set(error.instance) - set(allowed))
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        keys = ", ".join(repr(k) for k in extra)
        return f"config error at {where}: unknown key {keys}{hint}"
    if error.validator == "required":
        return f"config error at {where}: {error.message}"
    if error.validator == "propertyNames" or "propertyNames" in error.schema_path:
        return f"config error at {where}: bad name {error.instance!r}: {error.message}"
    value = json.dumps(error.instance, default=str)
    return f"config error at {where}: {value} is invalid: {error.message}"


def _check_methods(config: dict) -> None:
    """Each method entry against its kind's parameters (the registry: this library's kinds
    and those of ``VABAL_METHODS``), its defaults filled."""
    from vabal.methods import PLUGINS, REGISTRY

    for name, method in config["methods"].items():
        if method["kind"] not in REGISTRY:
            raise ConfigError(
                f"config error at methods.{name}.kind: unknown method {method['kind']!r} "
                f"(known: {', '.join(sorted(REGISTRY))}; a package of your own: {PLUGINS})"
            )
        spec = REGISTRY[method["kind"]]
        spec.check_params(method, f"methods.{name}")
        spec.fill_defaults(method)


def _check_references(config: dict) -> None:

    sources, datasets, methods = config["sources"], config["datasets"], config["methods"]
    for name, src in sources.items():
        if src["kind"] != "digits" and "path" not in src:
            raise ConfigError(f"config error at sources.{name}: kind {src['kind']} needs a path")
    for name, ds in datasets.items():
        if ds["source"] not in sources:
            raise ConfigError(
                f"config error at datasets.{name}.source: unknown source {ds['source']!r} "
                f"(defined: {', '.join(sources)})"
            )
        if ds["evaluate_on"] == "val" and ds["val_fraction"] <= 0:
            raise ConfigError(
                f"config error at datasets.{name}: evaluate_on: val needs val_fraction > 0"
            )
        recipe = training_recipe(config, name)
        bad = [m for m in recipe["lr_milestones"] if m > recipe["epochs"]]
        if bad and not recipe["images"] and recipe["lr_schedule"] == "multistep":
            raise ConfigError(
                f"config error at datasets.{name}: lr_milestones {bad} exceed epochs "
                f"{recipe['epochs']}"
            )
    if "labelling" in config and config["labelling"]["method"] not in methods:
        raise ConfigError(
            f"config error at labelling.method: unknown method "
            f"{config['labelling']['method']!r} (defined: {', '.join(methods)})"
        )
    for i, run in enumerate(config.get("runs", [])):
        _check_names(run["datasets"], datasets, f"runs[{i}].datasets")
        _check_names(run["methods"], methods, f"runs[{i}].methods")
    for key, known in (
        ("only_datasets", datasets),
        ("only_methods", methods),
        ("skip_datasets", datasets),
        ("skip_methods", methods),
    ):
        _check_names(config.get(key, []), known, key)
    from vabal.plan import target_checks

    target_checks.check(config)


def _check_names(names, known, where) -> None:
    for n in names:
        if n not in known:
            raise ConfigError(
                f"config error at {where}: unknown name {n!r} (defined: {', '.join(known)})"
            )


def training_recipe(config: dict, dataset: str, method: str | None = None) -> dict:
    """The classifier recipe of a run: paper defaults < config.training < dataset.training <
    what the method needs of its classifier (MC-Dropout's dropout)."""
    from vabal.methods import REGISTRY

    recipe = copy.deepcopy(TRAINING_DEFAULTS)
    layers = {
        "training": config.get("training") or {},
        f"datasets.{dataset}.training": config["datasets"][dataset].get("training") or {},
    }
    for where, layer in layers.items():
        if "epochs" in layer and layer.get("images"):
            raise ConfigError(
                f"config error at {where}: set the training's length once, in epochs or in "
                "images, not both"
            )
        if "epochs" in layer:  # a dataset's epochs replace the config's images
            recipe["images"] = None
        for key, value in layer.items():
            if key == "augment":
                recipe["augment"] = {**recipe["augment"], **value}
            else:
                recipe[key] = value
    if method is not None:
        recipe.update(REGISTRY[config["methods"][method]["kind"]].classifier)
    # the CPU kernels every job runs (vabal.kernels): part of what makes the result
    recipe["cpu_kernels"] = config.get("cpu_kernels", "native")
    return recipe


def recipe_id(recipe: dict) -> str:
    """A short name for a classifier recipe: ``r`` and 10 hex digits of the SHA-256 of its
    canonical JSON. Runs of a dataset and seed with the same id share round 0."""
    import hashlib

    text = json.dumps(recipe, sort_keys=True, default=str)
    return "r" + hashlib.sha256(text.encode()).hexdigest()[:10]


def training_images(recipe: dict, labelled: int) -> int:
    """How many images one training of ``recipe`` on ``labelled`` samples goes through."""
    if recipe.get("images"):
        return math.ceil(recipe["images"] / recipe["batch_size"]) * recipe["batch_size"]
    return labelled * recipe["epochs"]


def check_budgets(config: dict) -> None:
    """Fail before any job runs when a protocol needs more labels than its pool holds."""
    from vabal.data.splits import check_budget, expected_pool_size

    for name in grid.selected_datasets(config):
        ds = config["datasets"][name]
        counts = grid.class_counts(config, ds["source"])
        if counts is None:  # a user image folder: checked when its split is made
            continue
        check_budget(expected_pool_size(counts, len(counts), ds, name), ds, name)
