"""VaB-AL (Choi, Yi et al., CVPR 2021): a class-conditional VAE on the classifier's features
and the score of Eq. 6, the prior, likelihood and difficulty terms (docs/method.md).

``vae.py`` holds the model and the paper's equations, one function each; ``method.py`` the
round steps."""

from vabal.methods.registry import Cost, MethodInfo

SPEC = MethodInfo(
    kind="vabal",
    target="vabal.methods.vabal.method:VaBAL",
    steps=("extract_features", "train_vae", "score"),
    label="VaB-AL",
    costs={"train_vae": Cost(per=("epochs",)), "score": Cost(per=("mc_samples",))},
)
