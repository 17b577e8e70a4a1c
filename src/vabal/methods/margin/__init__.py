"""Margin sampling (Scheffer et al. 2001): the smallest gap between the classifier's two most
probable classes is selected first (docs/methods/margin.md)."""

from vabal.methods.registry import MethodInfo

SPEC = MethodInfo(
    kind="margin",
    target="vabal.methods.margin.method:Margin",
    steps=("extract_features", "score"),
    label="Margin",
)
