"""Random sampling: a budget of pool samples drawn uniformly, from the run's seed."""

from vabal.methods.registry import MethodInfo

SPEC = MethodInfo(
    kind="random",
    target="vabal.methods.random.method:RandomSampling",
    steps=(),
    label="Random",
)
