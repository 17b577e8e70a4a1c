"""Entropy sampling (Shannon entropy of the softmax, Settles 2009 survey; Wang & Shang 2014):
the most uncertain predictions are selected first (docs/methods/entropy.md)."""

from vabal.methods.registry import MethodInfo

SPEC = MethodInfo(
    kind="entropy",
    target="vabal.methods.entropy.method:Entropy",
    steps=("extract_features", "score"),
    label="Entropy",
)
