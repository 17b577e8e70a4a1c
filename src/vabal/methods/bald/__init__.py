"""MC-Dropout with BALD (Gal et al. 2017): the mutual information between the prediction
and the dropout mask, over Monte Carlo passes (docs/methods/bald.md)."""

from vabal.methods.registry import POS_INT, MethodInfo

SPEC = MethodInfo(
    kind="bald",
    target="vabal.methods.bald.method:MCDropoutBALD",
    steps=("score",),
    params={"mc_samples": 100, "batch_size": 1024, "subset": 0},
    classifier={"dropout": 0.25},  # before each residual block (Section 4.2 of the paper)
    schema={
        "mc_samples": POS_INT,
        "batch_size": POS_INT,
        "subset": {"type": "integer", "minimum": 0},
    },
)
