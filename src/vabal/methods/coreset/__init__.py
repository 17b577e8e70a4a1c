"""Core-set (Sener and Savarese 2018): greedy k-center on the classifier's penultimate
features (docs/methods/coreset.md)."""

from vabal.methods.registry import POS_INT, MethodInfo

SPEC = MethodInfo(
    kind="coreset",
    target="vabal.methods.coreset.method:CoreSet",
    steps=("extract_features",),
    params={"chunk_size": 4096},
    schema={"chunk_size": POS_INT},
)
