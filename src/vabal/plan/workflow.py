"""What the Snakefile asks of the library, without importing torch.

Path patterns, per-rule parameters and target lists are computed here from the validated
config, so the rules stay declarations and the logic is tested Python.
"""

from __future__ import annotations

from pathlib import Path

from vabal.errors import ConfigError, DataError
from vabal.layout import STORE, STORE_FILES, round_path
from vabal.methods import REGISTRY
from vabal.plan import config as cfg
from vabal.plan import grid, target_checks

#: What a source of each kind expects at its path, for the message when it is missing.
EXPECTED_LAYOUT = {
    "neu": "the NEU-CLS-64 archive (neu-cls-64.tar.xz) or a folder NEU-CLS-64/<class>/<n>.jpg",
    "cifar10": "cifar10-jpeg-q75.tar.xz, cifar-10-python.tar.gz, or their extracted folder "
    "(train/<class>/*.jpg + test/<class>/*.jpg, or cifar-10-batches-py/)",
    "cifar100": "cifar-100-python.tar.gz or its extracted folder cifar-100-python/ "
    "(train, test, meta)",
    "imagefolder": "a folder <class>/<image>, or train/<class>/<image> + test/<class>/<image>",
}


def check_sources(config: dict) -> None:
    """Fail up front when a source that a selected run needs has no data yet: a local path
    that does not exist, or a URL whose server cannot be reached or has no such file."""
    from vabal.data import download

    results = Path(config["results"])
    needed = {config["datasets"][d]["source"] for d in grid.selected_datasets(config)}
    for name in sorted(needed):
        src = config["sources"][name]
        if (
            src["kind"] == "digits"
            or (results / STORE.format(source=name) / STORE_FILES["meta"]).exists()
        ):
            continue
        if download.is_url(src["path"]):
            if not (results / download.download_path(name, src["path"])).exists():
                try:
                    download.check_reachable(src["path"])
                except DataError as exc:
                    raise ConfigError(f"config error at sources.{name}.path: {exc}") from None
            continue
        if not Path(src["path"]).exists():
            users = [
                d for d in grid.selected_datasets(config) if config["datasets"][d]["source"] == name
            ]
            raise ConfigError(
                f"config error at sources.{name}.path: {src['path']!r} does not exist; "
                f"expected {EXPECTED_LAYOUT[src['kind']]} (needed by {', '.join(users)}; "
                f"to leave them out: --config skip_datasets='[{','.join(users)}]')"
            )


def check_results_writable(config: dict) -> None:
    """Fail up front when the results folder cannot be written: a probe file is created and
    removed in it (or in its nearest existing parent, when it does not exist yet)."""
    import os
    import tempfile

    results = Path(config["results"])
    existing = results
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(
            f"config error at results: {str(results)!r} cannot be a folder: {existing} is not a "
            "folder; choose another results folder"
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=".vabal-write-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(
            f"config error at results: cannot write in {existing} ({exc.strerror or exc}); "
            "choose a writable results folder"
        ) from None


def startup(config: dict) -> dict:
    """Everything checked before any job runs; returns the config."""
    cfg.validate(config)
    check_sources(config)
    target_checks.check_stored(config)
    cfg.check_budgets(config)
    check_results_writable(config)
    return config


def methods_with(config: dict, step: str) -> list[str]:
    """The configured methods that run ``step`` (every method runs ``select``)."""
    return [
        m
        for m, c in config["methods"].items()
        if step == "select" or step in REGISTRY[c["kind"]].steps
    ]


def method_regex(config: dict, step: str) -> str:
    """Wildcard constraint matching the methods that use ``step`` (none: matches nothing)."""
    names = methods_with(config, step)
    return "|".join(names) if names else "(?!)"


def dataset_params(config: dict, dataset: str) -> dict:
    ds = config["datasets"][dataset]
    return {k: v for k, v in ds.items() if k != "training"}


def method_params(config: dict, method: str) -> dict:
    return dict(config["methods"][method])


def source_of(config: dict, dataset: str) -> str:
    return config["datasets"][dataset]["source"]


def rounds_of(config: dict, dataset: str) -> int:
    return config["datasets"][dataset]["rounds"]


def round0_id(config: dict, dataset: str, method: str) -> str:
    """The recipe id under which ``method``'s round 0 of ``dataset`` is computed."""
    return cfg.recipe_id(cfg.training_recipe(config, dataset, method))


def round0_recipe(config: dict, dataset: str, recipe_id: str) -> dict:
    """The classifier recipe of a shared round 0, found from its id among the methods."""
    for method in config["methods"]:
        recipe = cfg.training_recipe(config, dataset, method)
        if cfg.recipe_id(recipe) == recipe_id:
            return recipe
    raise ConfigError(f"no method of the config trains {dataset} with recipe {recipe_id}")


def round_targets(config: dict, filename: str) -> list[str]:
    """``filename`` of every round of every selected run, under the results folder."""
    out = []
    for d, m, s in grid.runs(config):
        for r in range(rounds_of(config, d)):
            out.append(
                round_path(filename, config["results"], dataset=d, method=m, seed=s, round=r)
            )
    return out
