r"""The conditional generator G(z | y) of GDFQ, used unchanged by AdaSG and AdaDFQ (Chapters 4-5, §Generator).

CIFAR form (:class:`Generator`), for ``z ~ N(0, I_100)`` and a label ``y``:

1. :math:`h = \mathrm{Emb}(y) \odot z` (label embedding times noise), ``[B, 100]``;
2. ``Linear(100 → 128·s²)`` with :math:`s = S/4`, reshaped to ``[B, 128, s, s]``, BN(128);
3. 2× nearest upsample, Conv3×3(128→128), **BN(128, eps=0.8)**, LeakyReLU(0.2);
4. 2× upsample, Conv3×3(128→64), **BN(64, eps=0.8)**, LeakyReLU(0.2);
5. Conv3×3(64→C), tanh, and a final affine-free BN(C) that standardizes each batch.

The ``eps = 0.8`` is a quirk of the official code (``nn.BatchNorm2d(128, 0.8)`` passes eps as the
second positional argument) and is kept. G always runs in train mode, so its BNs use batch
statistics.

ImageNet form (:class:`ImageNetGenerator`): no embedding product (z goes straight into the
Linear); each hidden BN is a :class:`CategoricalConditionalBatchNorm2d` (affine-free BN followed
by per-class γ_y, β_y initialised to 1 and 0), 224×224 output.
"""

from __future__ import annotations

import torch
from torch import nn


class Generator(nn.Module):
    """GDFQ's CIFAR generator; ``img_size`` must be divisible by 4."""

    def __init__(self, *, classes: int, latent_dim: int = 100, img_size: int = 32, channels: int = 3,
                 width: int = 128):
        super().__init__()
        if img_size % 4 or img_size < 4:
            raise ValueError(f"img_size must be a positive multiple of 4, got {img_size}")
        self.classes, self.latent_dim, self.init_size = classes, latent_dim, img_size // 4
        self.label_emb = nn.Embedding(classes, latent_dim)
        self.l1 = nn.Linear(latent_dim, width * self.init_size**2)
        self.conv_blocks0 = nn.BatchNorm2d(width)
        self.conv_blocks1 = nn.Sequential(nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width, 0.8),
                                          nn.LeakyReLU(0.2))
        self.conv_blocks2 = nn.Sequential(nn.Conv2d(width, width // 2, 3, 1, 1), nn.BatchNorm2d(width // 2, 0.8),
                                          nn.LeakyReLU(0.2), nn.Conv2d(width // 2, channels, 3, 1, 1), nn.Tanh(),
                                          nn.BatchNorm2d(channels, affine=False))
        self.width = width

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.label_emb(y) * z  # [B, latent]
        h = self.l1(h).view(len(z), self.width, self.init_size, self.init_size)  # [B, 128, S/4, S/4]
        h = nn.functional.interpolate(self.conv_blocks0(h), scale_factor=2)  # [B, 128, S/2, S/2]
        h = nn.functional.interpolate(self.conv_blocks1(h), scale_factor=2)  # [B, 128, S, S]
        return self.conv_blocks2(h)  # [B, C, S, S], each channel standardized over the batch


class CategoricalConditionalBatchNorm2d(nn.Module):
    """Affine-free BN followed by a per-class affine map: :math:`\\gamma_y \\hat x + \\beta_y`."""

    def __init__(self, classes: int, features: int, eps: float = 1e-5):
        super().__init__()
        self.bn = nn.BatchNorm2d(features, eps=eps, affine=False)
        self.weights = nn.Embedding(classes, features)
        self.biases = nn.Embedding(classes, features)
        nn.init.ones_(self.weights.weight), nn.init.zeros_(self.biases.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = self.bn(x)  # [B, F, H, W]
        return self.weights(y)[:, :, None, None] * out + self.biases(y)[:, :, None, None]


class ImageNetGenerator(nn.Module):
    """GDFQ's ImageNet generator with categorical conditional BN."""

    def __init__(self, *, classes: int = 1000, latent_dim: int = 100, img_size: int = 224, channels: int = 3,
                 width: int = 128):
        super().__init__()
        if img_size % 4:
            raise ValueError(f"img_size must be a multiple of 4, got {img_size}")
        self.classes, self.latent_dim, self.init_size, self.width = classes, latent_dim, img_size // 4, width
        self.l1 = nn.Linear(latent_dim, width * self.init_size**2)
        self.bn0 = CategoricalConditionalBatchNorm2d(classes, width)
        self.conv1 = nn.Conv2d(width, width, 3, 1, 1)
        self.bn1 = CategoricalConditionalBatchNorm2d(classes, width, eps=0.8)
        self.conv2 = nn.Conv2d(width, width // 2, 3, 1, 1)
        self.bn2 = CategoricalConditionalBatchNorm2d(classes, width // 2, eps=0.8)
        self.conv3 = nn.Conv2d(width // 2, channels, 3, 1, 1)
        self.bn3 = nn.BatchNorm2d(channels, affine=False)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.l1(z).view(len(z), self.width, self.init_size, self.init_size)  # [B, 128, 56, 56]
        h = nn.functional.interpolate(self.bn0(h, y), scale_factor=2)  # [B, 128, 112, 112]
        h = nn.functional.interpolate(self.act(self.bn1(self.conv1(h), y)), scale_factor=2)  # [B, 128, 224, 224]
        h = self.act(self.bn2(self.conv2(h), y))  # [B, 64, 224, 224]
        return self.bn3(torch.tanh(self.conv3(h)))  # [B, 3, 224, 224]
