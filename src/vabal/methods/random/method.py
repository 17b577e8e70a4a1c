"""Random: uniform sampling from the unlabelled pool (the paper's baseline)."""

from __future__ import annotations

import numpy as np

from vabal.methods.base import Method, RoundContext


class RandomSampling(Method):
    """Select ``budget`` samples uniformly at random, seeded by run seed and round."""

    def select(self, ctx: RoundContext, budget: int, scores=None) -> np.ndarray:
        return ctx.rng("random").choice(ctx.unlabelled, size=budget, replace=False)
