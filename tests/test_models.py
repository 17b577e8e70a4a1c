"""The classifier: torchvision's ResNet construction, without importing torchvision."""

import subprocess
import sys

import pytest
import torch
from conftest import REPO
from torch import nn

from vabal import models


def torchvision_cifar_resnet(arch, num_classes, in_channels, width):
    """The classifier as built on torchvision's own ResNet (the reference)."""
    from torchvision.models.resnet import BasicBlock, ResNet

    net = ResNet(BasicBlock, models.DEPTHS[arch], num_classes=num_classes)
    net.inplanes = width
    net.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
    net.bn1 = nn.BatchNorm2d(width)
    net.maxpool = nn.Identity()
    depths = models.DEPTHS[arch]
    for i, depth in enumerate(depths):
        stage = net._make_layer(BasicBlock, width * 2**i, depth, stride=1 if i == 0 else 2)
        setattr(net, f"layer{i + 1}", stage)
    net.fc = nn.Linear(8 * width, num_classes)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    return net


@pytest.mark.parametrize(("arch", "channels", "width"), [("resnet18", 1, 8), ("resnet34", 3, 16)])
def test_same_weights_and_outputs_as_torchvision(arch, channels, width):
    torch.manual_seed(3)
    ref = torchvision_cifar_resnet(arch, 10, channels, width).eval()
    torch.manual_seed(3)
    ours = models.CifarResNet(arch, 10, channels, width).eval()
    a, b = ref.state_dict(), ours.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(3, channels, 8, 8)
    assert torch.equal(ref(x), ours(x))
    # a checkpoint of one loads into the other
    ours.load_state_dict(ref.state_dict())


def test_no_torchvision_import():
    code = (
        "import sys, vabal.training, vabal.models; "
        "print(sorted(m for m in sys.modules if m.startswith(('torchvision', 'torch._dynamo'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert out.stdout.strip() == "[]"
