r"""The full-precision networks P (Chapters 4 and 5, §Networks), in the pytorchcv layout of the official code.

Both papers quantize pytorchcv's pre-trained models, so the module layout here follows
pytorchcv: every convolution is a ``ConvBlock`` (conv without bias → BatchNorm → optional
activation), a residual unit adds a body to an identity that is a 1×1 ``ConvBlock`` (no
activation) whenever the shape changes, and a ReLU follows the sum. Each activation is its own
module, so the quantizer gives every call site its own activation range.

* :func:`cifar_resnet`: ResNet-20 for CIFAR-10/100 (16-32-64 channels, 3 units per stage,
  1×1-conv shortcuts), and the small ResNet of the book run (1 unit per stage, 8×8 digits).
* :func:`imagenet_resnet`: ResNet-18 (basic blocks) and ResNet-50 (bottlenecks, stride in the
  first 1×1 conv as in pytorchcv's ``resnet50``, ``conv1_stride=True``), 7×7 stem and max-pool.
* :class:`MobileNetV2`: pytorchcv's ``mobilenetv2_w1`` (its first unit keeps a 1×1 expansion
  conv with expansion 1; the classifier is a 1×1 conv without bias).
"""

from __future__ import annotations

from torch import nn


class ConvBlock(nn.Module):
    """conv (no bias) → BN → activation (``"relu"``, ``"relu6"`` or ``None``)."""

    def __init__(self, c_in: int, c_out: int, *, k: int, stride: int = 1, groups: int = 1,
                 activation: str | None = "relu"):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.activ = {"relu": nn.ReLU(), "relu6": nn.ReLU6(), None: None}[activation]

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.activ(x) if self.activ is not None else x


class ResUnit(nn.Module):
    """``ReLU(body(x) + identity(x))``; body = two 3×3 blocks, or 1×1-3×3-1×1 with ``bottleneck`` (the stride
    in the first 1×1 conv, as in pytorchcv's ``resnet50``)."""

    def __init__(self, c_in: int, c_out: int, *, stride: int, bottleneck: bool = False):
        super().__init__()
        if bottleneck:
            mid = c_out // 4
            self.body = nn.Sequential(ConvBlock(c_in, mid, k=1, stride=stride), ConvBlock(mid, mid, k=3),
                                      ConvBlock(mid, c_out, k=1, activation=None))
        else:
            self.body = nn.Sequential(ConvBlock(c_in, c_out, k=3, stride=stride),
                                      ConvBlock(c_out, c_out, k=3, activation=None))
        self.identity_conv = (ConvBlock(c_in, c_out, k=1, stride=stride, activation=None)
                              if c_in != c_out or stride != 1 else None)
        self.activ = nn.ReLU()

    def forward(self, x):
        identity = self.identity_conv(x) if self.identity_conv is not None else x
        return self.activ(self.body(x) + identity)


class ResNet(nn.Module):
    """features (stem, stages of :class:`ResUnit`) → global average pool → Linear."""

    def __init__(self, *, stem: nn.Module, c_stem: int, stages: list[list[int]], classes: int,
                 bottleneck: bool = False):
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("init_block", stem)
        c = c_stem
        for i, stage in enumerate(stages):
            units = nn.Sequential()
            for j, c_out in enumerate(stage):
                units.add_module(f"unit{j + 1}", ResUnit(c, c_out, stride=2 if j == 0 and i != 0 else 1,
                                                         bottleneck=bottleneck))
                c = c_out
            self.features.add_module(f"stage{i + 1}", units)
        self.features.add_module("final_pool", nn.AdaptiveAvgPool2d(1))
        self.output = nn.Linear(c, classes)

    def forward(self, x):  # x [B, C_in, H, W]
        return self.output(self.features(x).flatten(1))  # [B, c, 1, 1] -> [B, c] -> logits [B, classes]


def cifar_resnet(*, classes: int = 10, in_channels: int = 3, units: int = 3,
                 widths: tuple[int, ...] = (16, 32, 64)) -> ResNet:
    """pytorchcv ``resnet20_cifar{10,100}`` for ``units=3``; the book's digits net uses ``units=1``."""
    if units < 1 or not widths or min(widths) < 1:
        raise ValueError(f"units and widths must be positive, got units={units}, widths={widths}")
    stages = [[w] * units for w in widths]
    return ResNet(stem=ConvBlock(in_channels, widths[0], k=3), c_stem=widths[0], stages=stages, classes=classes)


def imagenet_resnet(depth: int, *, classes: int = 1000) -> ResNet:
    """pytorchcv ``resnet18`` / ``resnet50`` (stride of a bottleneck in its first 1×1 conv)."""
    if depth not in (18, 50):
        raise ValueError(f"depth must be 18 or 50, got {depth}")
    stem = nn.Sequential(ConvBlock(3, 64, k=7, stride=2), nn.MaxPool2d(3, 2, 1))
    if depth == 18:
        stages = [[c] * 2 for c in (64, 128, 256, 512)]
        return ResNet(stem=stem, c_stem=64, stages=stages, classes=classes)
    stages = [[c] * n for c, n in zip((256, 512, 1024, 2048), (3, 4, 6, 3))]
    return ResNet(stem=stem, c_stem=64, stages=stages, classes=classes, bottleneck=True)


class LinearBottleneck(nn.Module):
    """1×1 expand (ReLU6) → 3×3 depthwise (ReLU6) → 1×1 project (linear), residual if shapes match."""

    def __init__(self, c_in: int, c_out: int, *, stride: int, expansion: bool):
        super().__init__()
        self.residual = c_in == c_out and stride == 1
        mid = c_in * 6 if expansion else c_in
        self.conv1 = ConvBlock(c_in, mid, k=1, activation="relu6")
        self.conv2 = ConvBlock(mid, mid, k=3, stride=stride, groups=mid, activation="relu6")
        self.conv3 = ConvBlock(mid, c_out, k=1, activation=None)

    def forward(self, x):
        y = self.conv3(self.conv2(self.conv1(x)))
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    """pytorchcv ``mobilenetv2_w1`` (width 1.0, 224×224 input)."""

    def __init__(self, *, classes: int = 1000):
        super().__init__()
        layers, downsample = (1, 2, 3, 4, 3, 3, 1), (0, 1, 1, 1, 0, 1, 0)
        widths = (16, 24, 32, 64, 96, 160, 320)
        self.features = nn.Sequential()
        self.features.add_module("init_block", ConvBlock(3, 32, k=3, stride=2, activation="relu6"))
        c = 32
        for i, (n, ds, w) in enumerate(zip(layers, downsample, widths)):
            stage = nn.Sequential()
            for j in range(n):
                stage.add_module(f"unit{j + 1}", LinearBottleneck(c, w, stride=2 if j == 0 and ds else 1,
                                                                  expansion=i != 0 or j != 0))
                c = w
            self.features.add_module(f"stage{i + 1}", stage)
        self.features.add_module("final_block", ConvBlock(c, 1280, k=1, activation="relu6"))
        self.features.add_module("final_pool", nn.AdaptiveAvgPool2d(1))
        self.output = nn.Conv2d(1280, classes, 1, bias=False)

    def forward(self, x):  # x [B, 3, 224, 224]
        return self.output(self.features(x)).flatten(1)  # [B, classes, 1, 1] -> [B, classes]


def build_model(name: str, *, classes: int, in_channels: int = 3, units: int = 1,
                widths: tuple[int, ...] = (16, 32, 64)) -> nn.Module:
    """P by name: ``"resnet20"``, ``"digits_resnet"``, ``"resnet18"``, ``"resnet50"``, ``"mobilenetv2"``."""
    if name == "resnet20":
        return cifar_resnet(classes=classes, in_channels=in_channels, units=3, widths=(16, 32, 64))
    if name == "digits_resnet":
        return cifar_resnet(classes=classes, in_channels=in_channels, units=units, widths=widths)
    if name in ("resnet18", "resnet50"):
        return imagenet_resnet(int(name[6:]), classes=classes)
    if name == "mobilenetv2":
        return MobileNetV2(classes=classes)
    raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")


MODELS = ("digits_resnet", "resnet20", "resnet18", "mobilenetv2", "resnet50")
