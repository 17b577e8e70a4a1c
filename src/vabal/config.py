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
from collections.abc import Iterator
from pathlib import Path

from vabal.errors import ConfigError

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"

#: The classifier recipe of Section 4.2 of the paper; ``training`` keys in the config override it.
TRAINING_DEFAULTS = {
    "classifier": "resnet18",
    "width": 64,
    "epochs": 200,
    "batch_size": 128,
    "lr": 0.1,
    "dropout": 0.0,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "lr_milestones": [160],
    "lr_gamma": 0.1,
    "augment": {"crop_padding": "auto", "hflip": True},
    "amp": "auto",
    "device": "auto",
    "eval_batch_size": 1024,
    "deterministic": False,
    "fast": "auto",
    "compile": False,
}

#: Published per-class counts of sources with a fixed content, for budget checks before any
#: data is read (the store's own counts take over once it is prepared).
KNOWN_CLASS_COUNTS = {
    "digits": [178, 182, 177, 183, 181, 182, 181, 179, 174, 180],
    "neu": [1210, 296, 775, 1148, 797, 200, 1589, 773, 438],
    "cifar10": [5000] * 10,
    "cifar100": [500] * 100,
}
HAS_OFFICIAL_TEST = {"cifar10", "cifar100"}


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
    _check_references(config)
    return config


def _normalise_cli_values(config: dict) -> None:
    """``--config only_seeds=[0,1]`` arrives as strings: read digit strings as integers."""
    for key in ("seeds", "only_seeds", "skip_seeds"):
        values = config.get(key)
        if isinstance(values, list):
            config[key] = [
                int(v) if isinstance(v, str) and v.strip().isdigit() else v for v in values
            ]


def _check_schema(config: dict, schema_path: str | Path) -> None:
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = _with_defaults(validator_cls)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(_describe(errors[0]))


def _with_defaults(validator_cls):
    """A validator class that also fills ``default`` values of object properties."""
    validate_properties = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return __import__("jsonschema").validators.extend(validator_cls, {"properties": set_defaults})


def _describe(error) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
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


def _check_references(config: dict) -> None:
    from vabal.methods import REGISTRY

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
        if bad:
            raise ConfigError(
                f"config error at datasets.{name}: lr_milestones {bad} exceed epochs "
                f"{recipe['epochs']}"
            )
    for name, method in methods.items():
        if method["kind"] not in REGISTRY:
            raise ConfigError(
                f"config error at methods.{name}.kind: unknown method {method['kind']!r} "
                f"(known: {', '.join(sorted(REGISTRY))})"
            )
        REGISTRY[method["kind"]].check_params(method, f"methods.{name}")
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
    from vabal import targets

    targets.check(config)


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
    for layer in (config.get("training") or {}, config["datasets"][dataset].get("training") or {}):
        for key, value in layer.items():
            if key == "augment":
                recipe["augment"] = {**recipe["augment"], **value}
            else:
                recipe[key] = value
    if method is not None:
        recipe.update(REGISTRY[config["methods"][method]["kind"]].classifier)
    return recipe


def class_counts(config: dict, source: str, results: str | Path | None = None) -> list | None:
    """Per-class training counts of a source: from its store if prepared, else published ones."""
    from vabal import io

    meta_path = Path(results or config["results"]) / "data" / source / "meta.json"
    if meta_path.exists():
        return io.read_json(meta_path).get("train_class_counts")
    src = config["sources"][source]
    counts = KNOWN_CLASS_COUNTS.get(src["kind"])
    if counts is None or src["kind"] in HAS_OFFICIAL_TEST:
        return counts
    return [n - math.ceil(src["test_fraction"] * n - 1e-9) for n in counts]


def check_budgets(config: dict) -> None:
    """Fail before any job runs when a protocol needs more labels than its pool holds."""
    from vabal.data.splits import check_budget, expected_pool_size

    for name in selected_datasets(config):
        ds = config["datasets"][name]
        counts = class_counts(config, ds["source"])
        if counts is None:  # a user image folder: checked when its split is made
            continue
        check_budget(expected_pool_size(counts, len(counts), ds, name), ds, name)


def runs(config: dict, filtered: bool = True) -> Iterator[tuple[str, str, int]]:
    """Every (dataset, method, seed) the config asks for, without repeats; with ``filtered``
    only those the run filters select (``only_*`` keep, ``skip_*`` leave out)."""
    groups = config.get("runs") or [
        {"datasets": list(config["datasets"]), "methods": list(config["methods"])}
    ]
    seen = set()
    for group in groups:
        for d in group["datasets"]:
            for m in group["methods"]:
                for s in group.get("seeds") or config["seeds"]:
                    key = (d, m, int(s))
                    if key in seen or (filtered and not is_selected(config, *key)):
                        continue
                    seen.add(key)
                    yield key


def is_selected(config: dict, dataset: str, method: str, seed: int) -> bool:
    """Whether the run filters keep the run (dataset, method, seed)."""
    for value, key in ((dataset, "datasets"), (method, "methods"), (seed, "seeds")):
        only, skip = config.get(f"only_{key}"), config.get(f"skip_{key}")
        if (only and value not in only) or (skip and value in skip):
            return False
    return True


def selected_datasets(config: dict) -> list[str]:
    return sorted({d for d, _, _ in runs(config)})
