"""Class-imbalance variants of a training pool (Section 4.1 of the paper).

Every variant is a per-class *keep fraction*; the paper's notations are sugar for it:

* ``+[k]``   dominant: every class except the k-th loses 90 % (CIFAR-10+[1]: 5000 + 9 x 500);
* ``-[k]``   rare: the k-th class loses 90 % (CIFAR-10-[1]: 500 + 9 x 5000);
* ``+[a:b]`` dominant range: every class outside a..b loses 40 % (CIFAR-100+[45:55]).
  The paper says "from 45-th class to 55-th class"; we read the range as inclusive (11
  dominant classes) by default, and ``inclusive: false`` gives a..b-1.

Classes are 1-indexed in the paper's order (the dataset's label order). The number kept
of class c is ``round(keep_c * n_c)`` (half up), and which samples are kept is drawn by a
seeded permutation per class, so the counts are exact and the draw is reproducible.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import numpy as np

from vabal.errors import ConfigError

_SUGAR = re.compile(r"^\s*([+\-\u2212])\s*\[\s*(\d+)\s*(?::\s*(\d+)\s*)?\]\s*$")
DEFAULT_REMOVE = {"dominant": 0.9, "rare": 0.9, "range": 0.4}


def parse_imbalance(spec, num_classes: int, where: str = "imbalance") -> np.ndarray:
    """Return the keep fraction of each class (length ``num_classes``) for a variant spec.

    ``spec`` is ``None`` (keep all), a sugar string (``"+[1]"``, ``"-[5]"``, ``"+[45:55]"``),
    or a mapping: ``{keep: {<class>: fraction, default: fraction}}``, ``{keep: [f1, ..., fK]}``
    or ``{spec: "+[1]", remove: 0.9, inclusive: true}``. Bad specs raise ConfigError naming
    ``where``.
    """
    if spec is None:
        return np.ones(num_classes)
    if isinstance(spec, str):
        return _parse_sugar(spec, num_classes, where, remove=None, inclusive=True)
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a string like '+[1]' or a mapping, got {spec!r}")
    unknown = set(spec) - {"keep", "spec", "remove", "inclusive"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
    if "keep" in spec:
        if set(spec) != {"keep"}:
            raise ConfigError(f"{where}: 'keep' cannot be combined with other keys")
        return _parse_keep(spec["keep"], num_classes, f"{where}.keep")
    if "spec" not in spec:
        raise ConfigError(f"{where}: a mapping needs 'keep' or 'spec'")
    remove = spec.get("remove")
    if remove is not None and not (isinstance(remove, int | float) and 0 <= remove <= 1):
        raise ConfigError(f"{where}.remove: must be a fraction in [0, 1], got {remove!r}")
    inclusive = spec.get("inclusive", True)
    if not isinstance(inclusive, bool):
        raise ConfigError(f"{where}.inclusive: must be true or false, got {inclusive!r}")
    return _parse_sugar(spec["spec"], num_classes, f"{where}.spec", remove, inclusive)


def _parse_sugar(text, num_classes, where, remove, inclusive) -> np.ndarray:
    match = _SUGAR.match(str(text))
    if not match:
        raise ConfigError(
            f"{where}: cannot read {text!r}; expected '+[k]', '-[k]' or '+[a:b]' (1-indexed)"
        )
    sign, first, last = match.group(1), int(match.group(2)), match.group(3)
    keep = np.ones(num_classes)
    if last is None:
        _check_class(first, num_classes, where)
        kind = "dominant" if sign == "+" else "rare"
        frac = round(1.0 - (DEFAULT_REMOVE[kind] if remove is None else remove), 12)
        if kind == "dominant":
            keep[:] = frac
            keep[first - 1] = 1.0
        else:
            keep[first - 1] = frac
        return keep
    if sign != "+":
        raise ConfigError(f"{where}: a class range is only defined for dominant variants '+[a:b]'")
    last = int(last)
    _check_class(first, num_classes, where)
    _check_class(last, num_classes, where)
    stop = last if inclusive else last - 1
    if stop < first:
        raise ConfigError(f"{where}: empty class range in {text!r}")
    keep[:] = round(1.0 - (DEFAULT_REMOVE["range"] if remove is None else remove), 12)
    keep[first - 1 : stop] = 1.0
    return keep


def _parse_keep(keep, num_classes, where) -> np.ndarray:
    if isinstance(keep, list | tuple):
        if len(keep) != num_classes:
            raise ConfigError(f"{where}: {len(keep)} fractions for {num_classes} classes")
        out = np.array([_fraction(v, f"{where}[{i}]") for i, v in enumerate(keep)], dtype=float)
        return out
    if not isinstance(keep, Mapping):
        raise ConfigError(f"{where}: expected a list or a mapping, got {keep!r}")
    out = np.full(num_classes, _fraction(keep.get("default", 1.0), f"{where}.default"))
    for key, value in keep.items():
        if key == "default":
            continue
        try:
            cls = int(key)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: class key {key!r} is not an integer") from None
        _check_class(cls, num_classes, where)
        out[cls - 1] = _fraction(value, f"{where}.{key}")
    return out


def _fraction(value, where) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"{where}: must be a fraction in [0, 1], got {value!r}")
    return float(value)


def _check_class(cls: int, num_classes: int, where: str) -> None:
    if not 1 <= cls <= num_classes:
        raise ConfigError(
            f"{where}: class index {cls} is out of range; classes are numbered 1..{num_classes}"
        )


def kept_count(n: int, fraction: float) -> int:
    """Samples kept of a class of ``n`` at keep ``fraction``: round half up, exact."""
    return min(n, int(math.floor(n * fraction + 0.5 + 1e-9)))


def apply_keep(labels: np.ndarray, keep: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask over ``labels`` of the samples a variant keeps, drawn per class by ``rng``."""
    labels = np.asarray(labels)
    mask = np.zeros(len(labels), dtype=bool)
    for cls in range(len(keep)):
        idx = np.flatnonzero(labels == cls)
        n_keep = kept_count(len(idx), keep[cls])
        mask[rng.permutation(idx)[:n_keep]] = True
    return mask


def kept_counts(class_counts, keep: np.ndarray) -> list[int]:
    """Per-class counts after a variant, without drawing (for up-front budget checks)."""
    return [kept_count(int(n), float(f)) for n, f in zip(class_counts, keep, strict=True)]


def class_roles(imbalance, num_classes: int) -> tuple[list[int], list[int]]:
    """(dominant, rare) class indices (0-based) of an imbalance variant: the classes kept at
    the highest fraction, and all others. A balanced dataset has neither."""
    keep = parse_imbalance(imbalance, num_classes)
    top = keep.max()
    if np.allclose(keep, top):
        return [], []
    dominant = [int(i) for i in np.flatnonzero(np.isclose(keep, top))]
    rare = [int(i) for i in np.flatnonzero(~np.isclose(keep, top))]
    return dominant, rare
