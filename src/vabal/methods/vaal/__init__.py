"""VAAL (Sinha et al. 2019): a β-VAE on the images and a discriminator between labelled and
unlabelled latents; the least "labelled-looking" samples are taken (docs/methods/vaal.md)."""

from vabal.methods.registry import NON_NEG, POS_INT, POSITIVE, MethodInfo

SPEC = MethodInfo(
    kind="vaal",
    target="vabal.methods.vaal.method:VAAL",
    steps=("train_vae", "score"),
    params={
        "latent_dim": 32,
        "beta": 1.0,
        "adversary_param": 1.0,
        "lr": 5e-4,
        "epochs": 100,
        "batch_size": 128,
        "width": 128,
        "vae_steps": 2,
        "adv_steps": 1,
    },
    schema={
        **dict.fromkeys(
            ("latent_dim", "epochs", "batch_size", "width", "vae_steps", "adv_steps"), POS_INT
        ),
        "beta": NON_NEG,
        "adversary_param": NON_NEG,
        "lr": POSITIVE,
    },
)
