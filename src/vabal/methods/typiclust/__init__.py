"""TypiClust (Hacohen, Dekel and Weinshall, ICML 2022): the most typical sample of each of
the largest uncovered k-means clusters (docs/methods/typiclust.md)."""

from vabal.methods.registry import MethodInfo

SPEC = MethodInfo(
    kind="typiclust",
    target="vabal.methods.typiclust.method:TypiClust",
    steps=("extract_features",),
    label="TypiClust",
)
