"""BASE, balanced selection (Emam et al. 2021, "Active Learning at the ImageNet Scale"): an
equal share of the budget per class, each class taking the samples nearest to its decision
boundary in the classifier's feature space (docs/methods/balanced.md)."""

from vabal.methods.registry import MethodInfo

SPEC = MethodInfo(
    kind="balanced",
    target="vabal.methods.balanced.method:Balanced",
    steps=("extract_features",),
    label="BASE (balanced)",
)
