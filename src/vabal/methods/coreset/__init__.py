"""Core-set (Sener and Savarese 2018): greedy k-center on the classifier's penultimate
features (docs/methods/coreset.md)."""

from vabal.methods.registry import MethodInfo

SPEC = MethodInfo(
    kind="coreset",
    target="vabal.methods.coreset.method:CoreSet",
    steps=("extract_features",),
    label="Core-set",
    device_steps=("extract_features", "select"),  # k-center distances on the device
)
