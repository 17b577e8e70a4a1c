"""Classifiers: torchvision's ResNet with the CIFAR stem.

The stem is a 3x3 convolution with stride 1 and no max-pool (He et al. for CIFAR), the
first convolution takes the dataset's channels (1 for digits and NEU, 3 for CIFAR). The
four residual stages are torchvision's ``layer1..layer4``; :meth:`CifarResNet.taps` returns
their globally average-pooled outputs, the features VaB-AL's VAE reads (Section 3.4).

``ResNet`` and ``BasicBlock`` below are torchvision's (``torchvision.models.resnet``, BSD
3-Clause licence), reduced to what is used here and built in the same order, so a seeded
build has exactly the weights and parameter names of torchvision's. They are copied rather
than imported because importing ``torchvision.models`` pulls in every torchvision model and
``torch._dynamo`` (about 2.5 s), which every job that builds or loads a classifier would pay.
"""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """torchvision's ``BasicBlock`` (groups 1, no dilation)."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """torchvision's ``ResNet`` with basic blocks: same modules, same order, same init."""

    def __init__(self, block, layers: list[int], num_classes: int = 1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


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
