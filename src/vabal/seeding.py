"""Every random choice flows from the configured seed through :func:`derive`.

A stream is named by the run seed and a tuple of tags (``derive(seed, "split", "initial")``,
``derive(seed, "train", round)``), hashed with SHA-256, so streams are independent of one
another and of the order in which they are created, and the same seed always gives the
same numbers.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive(seed: int, *tags: object) -> int:
    """A 63-bit integer seed for the stream named ``(seed, *tags)``."""
    text = "/".join([str(int(seed)), *map(str, tags)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def rng(seed: int, *tags: object) -> np.random.Generator:
    """A NumPy generator for the stream named ``(seed, *tags)``."""
    return np.random.default_rng(derive(seed, *tags))
