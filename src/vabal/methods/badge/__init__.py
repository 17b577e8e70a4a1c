"""BADGE (Ash et al., ICLR 2020): k-means++ seeding on hypothesised last-layer gradient
embeddings (docs/methods/badge.md)."""

from vabal.methods.registry import MethodInfo

SPEC = MethodInfo(
    kind="badge",
    target="vabal.methods.badge.method:Badge",
    steps=("extract_features",),
    label="BADGE",
)
