"""VaB-AL (Choi, Yi et al., CVPR 2021): a class-conditional VAE on the classifier's features
and the score of Eq. 6, the prior, likelihood and difficulty terms (docs/method.md).

``vae.py`` holds the model and the paper's equations, one function each; ``method.py`` the
round steps."""

from vabal.methods.registry import BOOL, NON_NEG, POS_INT, POSITIVE, MethodInfo

SPEC = MethodInfo(
    kind="vabal",
    target="vabal.methods.vabal.method:VaBAL",
    steps=("extract_features", "train_vae", "score"),
    params={
        "lambda": 0.005,
        "mc_samples": 100,
        "latent_per_class": 10,
        "epochs": 20,
        "lr": 1e-4,
        "batch_size": 64,
        "w_type": "z2",
        "likelihood": "predicted",
        "reading": "standardised",
        "prior": True,
        "difficulty": True,
        "smoothing": 1.0,
    },
    schema={
        "lambda": NON_NEG,
        "mc_samples": POS_INT,
        "latent_per_class": POS_INT,
        "epochs": POS_INT,
        "lr": POSITIVE,
        "batch_size": {"type": "integer", "minimum": 2},
        "w_type": {"enum": ["z2", "abs", "sigmoid"]},
        "likelihood": {"enum": ["predicted", "all"]},
        "reading": {"enum": ["standardised", "per_feature", "literal", "authors"]},
        "prior": BOOL,
        "difficulty": BOOL,
        "smoothing": POSITIVE,
    },
)
