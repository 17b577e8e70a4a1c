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
from vabal.methods.registry import STEPS, MethodInfo

REGISTRY: dict[str, MethodInfo] = {
    package.SPEC.kind: package.SPEC
    # the paper's methods, then today's baselines
    for package in (random, bald, coreset, vaal, vabal, margin, entropy, badge, typiclust, balanced)
}

__all__ = ["REGISTRY", "STEPS", "MethodInfo"]
