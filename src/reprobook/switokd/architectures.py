"""The official networks of the ``paper_*`` presets (Chapter 3, §Deviations), built from their
layer shapes so that parameter counts match the official code.

- ``wrn16_k``: pre-activation Wide-ResNet-16-k for 32×32 inputs, 3×3 convolutions **with bias**,
  1×1 projection shortcuts with bias, final BatchNorm with ``momentum=0.9`` (as built by the
  official code), Xavier-uniform (gain √2) initialisation, no dropout in the forward pass.
- ``mobile_half``: the CRD-style MobileNetV2 (expansion 6, width 0.5, stride-2 stem for 32×32,
  every block with its 1×1 expansion conv, even when the expansion is 1; 1280 last channels).
- ``mobilenetv2_1.4``: the standard MobileNetV2 (torchvision layout) at width 1.4.
- ``resnet34_cifar``: ResNet-34 with a 3×3 stride-1 stem and no max-pool (Tiny-ImageNet script).
- ``resnet18`` / ``resnet34``: the torchvision ImageNet ResNets.
- ``mobilenet_v1``: MobileNet (v1) for 32×32 inputs, final width 1024 (multi-network scripts).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ARCHS = ("wrn16_1", "wrn16_2", "wrn16_8", "wrn16_10", "mobile_half", "mobilenetv2_1.4",
         "resnet34_cifar", "resnet18", "resnet34", "mobilenet_v1")


# ---------------------------------------------------------------- Wide-ResNet (pre-activation)
class WideBlock(nn.Module):
    """BN-ReLU-conv3×3 (stride 1) → BN-ReLU-conv3×3 (stride s), plus a 1×1 shortcut when the shape changes."""

    def __init__(self, *, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(c_in), nn.Conv2d(c_in, c_out, 3, padding=1, bias=True)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=stride, padding=1, bias=True)
        self.shortcut = (nn.Conv2d(c_in, c_out, 1, stride=stride, bias=True)
                         if stride != 1 or c_in != c_out else nn.Identity())

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return out + self.shortcut(x)


class WideResNet(nn.Module):
    """WRN-depth-k: stages of 16k, 32k, 64k channels, (depth − 4)/6 blocks each; 32×32 → 8×8."""

    def __init__(self, *, depth: int = 16, k: int = 1, classes: int = 10):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"Wide-ResNet depth must be 6n+4, got {depth}")
        n = (depth - 4) // 6
        widths = [16, 16 * k, 32 * k, 64 * k]
        self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1, bias=True)
        stages, c = [], widths[0]
        for w, stride in zip(widths[1:], (1, 2, 2)):
            blocks = []
            for i in range(n):
                blocks.append(WideBlock(c_in=c, c_out=w, stride=stride if i == 0 else 1))
                c = w
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.bn = nn.BatchNorm2d(c, momentum=0.9)
        self.linear = nn.Linear(c, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight, gain=math.sqrt(2))
                nn.init.zeros_(m.bias)

    def forward(self, x):
        out = self.layer3(self.layer2(self.layer1(self.conv1(x))))  # [B, 64k, 8, 8]
        out = F.relu(self.bn(out)).mean((2, 3))  # [B, 64k]
        return self.linear(out)


# ---------------------------------------------------------------- MobileNetV2, CRD variant
def _conv_bn_relu(c_in, c_out, k, stride=1, groups=1, act=nn.ReLU):
    return [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out),
            act(inplace=True)]


class InvertedResidual(nn.Module):
    """1×1 expand (skipped only if ``always_expand=False`` and t = 1) → 3×3 depthwise → 1×1 linear."""

    def __init__(self, *, c_in: int, c_out: int, stride: int, t: int, always_expand: bool, act=nn.ReLU):
        super().__init__()
        hidden = int(round(c_in * t))
        layers = _conv_bn_relu(c_in, hidden, 1, act=act) if (always_expand or t != 1) else []
        layers += _conv_bn_relu(hidden, hidden, 3, stride, groups=hidden, act=act)
        layers += [nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


# (expansion t, channels c, blocks n, first stride s); CIFAR variant: stride 1 in the second stage
MBV2_SETTING = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))


class MobileNetV2Half(nn.Module):
    """CRD's ``mobile_half``: widths ×0.5 (int-truncated), stride-2 stem, 32×32 → 2×2 → pooled."""

    def __init__(self, *, classes: int = 100, width: float = 0.5, t: int = 6):
        super().__init__()
        c = int(32 * width)
        layers = _conv_bn_relu(3, c, 3, 2)
        for tt, ch, n, s in MBV2_SETTING:
            tt = tt if tt == 1 else t
            for i in range(n):
                layers.append(InvertedResidual(c_in=c, c_out=int(ch * width), stride=s if i == 0 else 1, t=tt,
                                               always_expand=True))
                c = int(ch * width)
        last = int(1280 * width) if width > 1.0 else 1280
        layers += _conv_bn_relu(c, last, 1)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(last, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.data.normal_(0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)))
            elif isinstance(m, nn.Linear):
                m.weight.data.normal_(0, 0.01)
                m.bias.data.zero_()

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))  # [B, 1280] -> [B, classes]


# ---------------------------------------------------------------- ResNet-34, 3×3 stem
class BasicBlock(nn.Module):
    def __init__(self, *, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.left = nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                                  nn.ReLU(inplace=True),
                                  nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.shortcut = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
                         if stride != 1 or c_in != c_out else nn.Identity())

    def forward(self, x):
        return F.relu(self.left(x) + self.shortcut(x))


class ResNetCifarStem(nn.Module):
    """ResNet with blocks ``layers`` of widths 64-128-256-512, 3×3 stride-1 stem, global average pool."""

    def __init__(self, *, layers: tuple[int, ...] = (3, 4, 6, 3), classes: int = 200):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        stages, c = [], 64
        for w, n, s in zip((64, 128, 256, 512), layers, (1, 2, 2, 2)):
            for i in range(n):
                stages.append(BasicBlock(c_in=c, c_out=w, stride=s if i == 0 else 1))
                c = w
        self.layers = nn.Sequential(*stages)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        return self.fc(self.layers(self.stem(x)).mean((2, 3)))  # [B, 512] -> [B, classes]


# ---------------------------------------------------------------- MobileNet v1 for 32×32
MBV1_CFG = (64, (128, 2), 128, (256, 2), 256, (512, 2), 512, 512, 512, 512, 512, (1024, 2), 1024)


class MobileNetV1(nn.Module):
    """3×3 conv (32) then 13 depthwise-separable blocks (depthwise 3×3 + pointwise 1×1, BN-ReLU each)."""

    def __init__(self, *, classes: int = 100):
        super().__init__()
        layers, c = _conv_bn_relu(3, 32, 3, 1), 32
        for item in MBV1_CFG:
            w, s = (item, 1) if isinstance(item, int) else item
            layers += _conv_bn_relu(c, c, 3, s, groups=c) + _conv_bn_relu(c, w, 1)
            c = w
        self.features = nn.Sequential(*layers)
        self.linear = nn.Linear(1024, classes)

    def forward(self, x):
        return self.linear(self.features(x).mean((2, 3)))


def build(arch: str, *, classes: int) -> nn.Module:
    """One of :data:`ARCHS` with ``classes`` outputs."""
    import torchvision

    if arch.startswith("wrn16_") and arch in ARCHS:
        return WideResNet(depth=16, k=int(arch.split("_")[1]), classes=classes)
    if arch == "mobile_half":
        return MobileNetV2Half(classes=classes)
    if arch == "mobilenetv2_1.4":
        return torchvision.models.mobilenet_v2(width_mult=1.4, num_classes=classes)
    if arch == "resnet34_cifar":
        return ResNetCifarStem(layers=(3, 4, 6, 3), classes=classes)
    if arch in ("resnet18", "resnet34"):
        return getattr(torchvision.models, arch)(num_classes=classes)
    if arch == "mobilenet_v1":
        return MobileNetV1(classes=classes)
    raise ValueError(f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHS)}")


@torch.no_grad()
def official_reinit(net: nn.Module) -> nn.Module:
    """The re-initialisation in the official Tiny-ImageNet and multi-network ``main.py``: every
    convolution and linear weight drawn from N(0, std = 1/fan_in) with fan_in =
    ``weight[0].nelement()`` (in-channels × kernel area), every BatchNorm γ set to 1; biases and
    BatchNorm β keep their module init. Uses the global RNG (seeded before the build)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.weight.normal_(0.0, 1.0 / float(m.weight[0].nelement()))
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.fill_(1.0)
    return net
