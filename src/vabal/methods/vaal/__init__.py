"""VAAL (Sinha et al. 2019): a β-VAE on the images and a discriminator between labelled and
unlabelled latents; the least "labelled-looking" samples are taken (docs/methods/vaal.md)."""

from vabal.methods.registry import Cost, MethodInfo

SPEC = MethodInfo(
    kind="vaal",
    target="vabal.methods.vaal.method:VAAL",
    steps=("train_vae", "score"),
    label="VAAL",
    # its VAE and discriminator train on images of the whole pool, then score the unlabelled
    costs={
        "train_vae": Cost(samples="pool", per=("epochs",), pixels=True),
        "score": Cost(pixels=True),
    },
)
