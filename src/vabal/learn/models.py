"""Classifiers: torchvision's ResNet with the CIFAR stem.

The stem is a 3x3 convolution with stride 1 and no max-pool (He et al. for CIFAR), the
first convolution takes the dataset's channels (1 for digits and NEU, 3 for CIFAR). The
four residual stages are torchvision's ``layer1..layer4``; :meth:`CifarResNet.taps` returns
their globally average-pooled outputs, the features VaB-AL's VAE reads (Section 3.4).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import torch
from torch import nn


def _import_torchvision_resnet():
    """``torchvision.models.resnet``, imported without running torchvision's package set-up.

    ``import torchvision`` loads every model, dataset and operator, and its operators import
    ``torch._dynamo``: about 2 s per process, and every step of every round is a process.
    The ResNet module needs only a few of torchvision's plain modules, so its two packages
    stand in as bare namespaces while it loads. Afterwards every torchvision module loaded
    that way leaves ``sys.modules`` again (the returned module stays usable), so a later
    ``import torchvision`` is the ordinary, complete one. Where torchvision is already
    imported, or this fails, it is the plain import.
    """
    name = "torchvision.models.resnet"
    if "torchvision" in sys.modules:
        return importlib.import_module(name)
    before = set(sys.modules)
    try:
        root = importlib.util.find_spec("torchvision").submodule_search_locations[0]
        for package, path in (("torchvision", root), ("torchvision.models", f"{root}/models")):
            stub = types.ModuleType(package)
            stub.__path__ = [path]
            sys.modules[package] = stub
        module = importlib.import_module(name)
    except Exception:  # a torchvision laid out differently: the plain import below
        module = None
    for key in set(sys.modules) - before:
        if key == "torchvision" or key.startswith("torchvision."):
            del sys.modules[key]
    return module or importlib.import_module(name)


_resnet = _import_torchvision_resnet()
BasicBlock, ResNet = _resnet.BasicBlock, _resnet.ResNet

DEPTHS = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3]}


class CifarResNet(ResNet):
    """torchvision ``ResNet`` with a CIFAR stem, ``in_channels`` inputs and a stage width."""

    def __init__(
        self,
        arch: str,
        num_classes: int,
        in_channels: int = 3,
        width: int = 64,
        dropout: float = 0.0,
    ):
        super().__init__(BasicBlock, DEPTHS[arch], num_classes=num_classes)
        self.arch, self.width, self.in_channels = arch, width, in_channels
        self.inplanes = width
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.Identity()
        layers = DEPTHS[arch]
        self.layer1 = self._make_layer(BasicBlock, width, layers[0])
        self.layer2 = self._make_layer(BasicBlock, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(BasicBlock, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(BasicBlock, 8 * width, layers[3], stride=2)
        self.fc = nn.Linear(8 * width, num_classes)
        self.dropout = float(dropout)
        for m in self.modules():  # torchvision's initialisation, for the rebuilt layers
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    @property
    def stages(self) -> list[nn.Module]:
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def _stage(self, stage: nn.Module, x: torch.Tensor) -> torch.Tensor:
        for block in stage:
            if self.dropout > 0:  # MC-Dropout: dropout before each residual block
                x = nn.functional.dropout(x, self.dropout, training=self.training or self.mc)
            x = block(x)
        return x

    mc = False  #: keep dropout active in eval mode (MC-Dropout inference)

    def taps(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Pooled outputs of the four residual stages, and the logits."""
        x = self.relu(self.bn1(self.conv1(x)))
        pooled = []
        for stage in self.stages:
            x = self._stage(stage, x)
            pooled.append(torch.flatten(self.avgpool(x), 1))
        return pooled, self.fc(pooled[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.taps(x)[1]


def build_classifier(
    arch: str,
    num_classes: int,
    in_channels: int,
    width: int = 64,
    dropout: float = 0.0,
    seed: int | None = None,
) -> CifarResNet:
    """Build a classifier; with ``seed`` its initial weights depend on nothing else."""
    if arch not in DEPTHS:
        raise ValueError(f"unknown classifier {arch!r} (known: {', '.join(DEPTHS)})")
    if seed is None:
        return CifarResNet(arch, num_classes, in_channels, width, dropout)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CifarResNet(arch, num_classes, in_channels, width, dropout)
