"""Acquisition methods: one package each, gathered in :data:`REGISTRY` by kind.

``<name>/__init__.py`` declares the method (its :class:`~vabal.methods.registry.MethodInfo`:
steps, parameters, defaults, schemas; no torch), ``<name>/method.py`` implements it as one
class of :class:`vabal.methods.base.Method`. The workflow builds exactly the rules a method
needs (a method without a VAE has no ``train_vae`` job and no ``vae.pt``).
"""

from __future__ import annotations

from vabal.methods import (
    badge,
    balanced,
    bald,
    coreset,
    entropy,
    margin,
    random,
    typiclust,
    vaal,
    vabal,
)
from vabal.methods.registry import STEPS, Cost, MethodInfo

#: a comma-separated list of importable modules, each with a ``SPEC`` (a MethodInfo): method
#: packages outside this library (every process of a run inherits it)
PLUGINS = "VABAL_METHODS"


def _plugins() -> list[MethodInfo]:
    import importlib
    import os

    from vabal.errors import ConfigError

    specs = []
    for name in filter(None, (n.strip() for n in os.environ.get(PLUGINS, "").split(","))):
        try:
            spec = importlib.import_module(name).SPEC
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"{PLUGINS}: cannot load method package {name!r} ({exc}); it must be "
                f"importable and define SPEC, a vabal.methods.MethodInfo"
            ) from None
        if not isinstance(spec, MethodInfo):
            raise ConfigError(f"{PLUGINS}: {name}.SPEC is not a vabal.methods.MethodInfo")
        specs.append(spec)
    return specs


REGISTRY: dict[str, MethodInfo] = {
    package.SPEC.kind: package.SPEC
    # the paper's methods, then today's baselines
    for package in (random, bald, coreset, vaal, vabal, margin, entropy, badge, typiclust, balanced)
}
for _spec in _plugins():
    if _spec.kind in REGISTRY:
        from vabal.errors import ConfigError

        raise ConfigError(f"{PLUGINS}: method kind {_spec.kind!r} is defined twice")
    REGISTRY[_spec.kind] = _spec

__all__ = ["PLUGINS", "REGISTRY", "STEPS", "Cost", "MethodInfo"]
