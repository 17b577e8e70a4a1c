"""MC-Dropout with BALD (Gal et al. 2017): the mutual information between the prediction
and the dropout mask, over Monte Carlo passes (docs/methods/bald.md)."""

from vabal.methods.registry import Cost, MethodInfo

SPEC = MethodInfo(
    kind="bald",
    target="vabal.methods.bald.method:MCDropoutBALD",
    steps=("score",),
    label="MC-Dropout (BALD)",
    classifier={"dropout": 0.25},  # before each residual block (Section 4.2 of the paper)
    # passes through the classifier over (a subset of) the unlabelled pool
    costs={"score": Cost(per=("mc_samples",), cap="subset", pixels=True, depth=True)},
)
