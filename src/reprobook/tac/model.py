r"""The networks: one code path for all five variants (Chapter 1, §The idea).

Every network is a stack of :class:`Layer` blocks in XNOR-Net's layout:

* the first conv layer (group ``first``) is ``conv → BN → ReLU (→ pool)``, always full precision;
* every other conv layer (group ``conv``) and the hidden FC layers (group ``fc``) are
  ``BN → [sign] → (dropout) → conv/linear with weights W̃ → ReLU (→ pool)``, binary or not;
* the classifier (group ``classifier``) is ``BN → (dropout) → linear``, always full precision
  (it may be pruned and quantized when ``compress_classifier`` is set).

A *variant* says which groups are binary:

============  ================  ==========================================
variant       binary groups     FC layers
============  ================  ==========================================
``fp``        —                 full precision
``xnor_all``  conv, fc          binary (weights and activations)
``xnor_conv`` conv              full precision
``fc_binary`` fc                binary; conv full precision
``tac``       conv              pruned + low-bit weight sharing, FP activations
============  ================  ==========================================

Architectures (``ARCHS``): ``digits`` (the book's net, AlexNet-like proportions on 8×8 inputs),
``alexnet`` (XNOR-Net's ImageNet AlexNet: 227×227 input, ungrouped conv2) and ``cifar_bnn``
(the CIFAR-10 network with FC layers of Courbariaux/Hubara et al.'s BNN; TAC's CIFAR network is
not known, this is a reconstruction).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from reprobook.tac.binarize import bin_active, center_and_clamp_, xnor_weight
from reprobook.tac.compress import magnitude_mask, weight_sharing

VARIANTS = ("fp", "xnor_all", "xnor_conv", "fc_binary", "tac")
BINARY_GROUPS = {"fp": (), "xnor_all": ("conv", "fc"), "xnor_conv": ("conv",), "fc_binary": ("fc",),
                 "tac": ("conv",)}
GROUPS = ("first", "conv", "fc", "classifier")


@dataclass(frozen=True)
class LayerSpec:
    name: str
    group: str  # one of GROUPS
    c_in: int
    c_out: int
    kernel_size: int = 0  # 0: fully connected
    stride: int = 1
    padding: int = 0
    pool: int = 0  # max-pool kernel after the layer (0: none)
    pool_stride: int = 2
    dropout: float = 0.0
    bn_eps: float = 1e-4


def _digits_arch(c1: int = 32, k1: int = 7, c2: int = 32, c3: int = 32, fc: int = 192, classes: int = 10):
    # AlexNet's proportions on 8×8 digits: a wide full-precision conv1 (7×7, like AlexNet's 11×11 it
    # sees most of the image) and FC layers sized so that, once conv2-3 are binary, conv1 and the FC
    # layers split the remaining MACs about as AlexNet's do (chapter table "per-layer-type shares").
    # input [B, 1, 8, 8] -> conv1 [B, c1, 8, 8] -> conv2 [B, c2, 4, 4] -> conv3 [B, c3, 2, 2] -> [B, 4·c3]
    return (1, 8), [
        LayerSpec("conv1", "first", 1, c1, k1, 1, k1 // 2),
        LayerSpec("conv2", "conv", c1, c2, 3, 1, 1, pool=2),
        LayerSpec("conv3", "conv", c2, c3, 3, 1, 1, pool=2),
        LayerSpec("fc6", "fc", 4 * c3, fc),
        LayerSpec("fc7", "fc", fc, fc),
        LayerSpec("fc8", "classifier", fc, classes, bn_eps=1e-3),
    ]


def _alexnet_arch(classes: int = 1000):
    # XNOR-Net's ImageNet AlexNet: [B,3,227,227] -> conv1 [B,96,55,55] -> pool 27 -> conv2 [B,256,27,27]
    # -> pool 13 -> conv3..5 [B,·,13,13] -> pool 6 -> [B, 256·6·6 = 9216] -> 4096 -> 4096 -> classes
    return (3, 227), [
        LayerSpec("conv1", "first", 3, 96, 11, 4, 0, pool=3),
        LayerSpec("conv2", "conv", 96, 256, 5, 1, 2, pool=3),
        LayerSpec("conv3", "conv", 256, 384, 3, 1, 1),
        LayerSpec("conv4", "conv", 384, 384, 3, 1, 1),
        LayerSpec("conv5", "conv", 384, 256, 3, 1, 1, pool=3),
        LayerSpec("fc6", "fc", 256 * 6 * 6, 4096),
        LayerSpec("fc7", "fc", 4096, 4096, dropout=0.5),
        LayerSpec("fc8", "classifier", 4096, classes, dropout=0.5, bn_eps=1e-3),
    ]


def _cifar_bnn_arch(classes: int = 10):
    # BNN's CIFAR-10 net: 2×128C3 – MP2 – 2×256C3 – MP2 – 2×512C3 – MP2 – 1024FC – 1024FC – classes
    # [B,3,32,32] -> [B,128,16,16] -> [B,256,8,8] -> [B,512,4,4] -> [B, 8192]
    return (3, 32), [
        LayerSpec("conv1", "first", 3, 128, 3, 1, 1),
        LayerSpec("conv2", "conv", 128, 128, 3, 1, 1, pool=2),
        LayerSpec("conv3", "conv", 128, 256, 3, 1, 1),
        LayerSpec("conv4", "conv", 256, 256, 3, 1, 1, pool=2),
        LayerSpec("conv5", "conv", 256, 512, 3, 1, 1),
        LayerSpec("conv6", "conv", 512, 512, 3, 1, 1, pool=2),
        LayerSpec("fc7", "fc", 512 * 4 * 4, 1024),
        LayerSpec("fc8", "fc", 1024, 1024),
        LayerSpec("fc9", "classifier", 1024, classes, bn_eps=1e-3),
    ]


ARCHS = {"digits": _digits_arch, "alexnet": _alexnet_arch, "cifar_bnn": _cifar_bnn_arch}


class Layer(nn.Module):
    """One block; its weight is FP, binary (W̃ = α·sign W), or pruned/shared (W = M ⊙ c[I])."""

    def __init__(self, spec: LayerSpec, *, binary: bool = False, grad_rescale: bool = True):
        super().__init__()
        self.spec, self.binary, self.grad_rescale = spec, binary, grad_rescale
        conv = spec.kernel_size > 0
        if spec.group == "first":
            self.op = nn.Conv2d(spec.c_in, spec.c_out, spec.kernel_size, spec.stride, spec.padding)
            self.bn = nn.BatchNorm2d(spec.c_out, eps=spec.bn_eps)
            # BN follows, so this bias (kept, as in XNOR-Net's code) has gradient zero; Adam would turn
            # the rounding noise of that zero into full-size steps, so it is not trained
            self.op.bias.requires_grad_(False)
        else:
            self.bn = (nn.BatchNorm2d if conv else nn.BatchNorm1d)(spec.c_in, eps=spec.bn_eps)
            self.op = (nn.Conv2d(spec.c_in, spec.c_out, spec.kernel_size, spec.stride, spec.padding) if conv
                       else nn.Linear(spec.c_in, spec.c_out))
        self.drop = nn.Dropout(spec.dropout) if spec.dropout > 0 else nn.Identity()
        self.pool = nn.MaxPool2d(spec.pool, spec.pool_stride) if spec.pool else nn.Identity()
        self.register_buffer("mask", None)  # bool, shape of W: pruning mask M
        self.register_buffer("index", None)  # long, shape of W: codebook index I
        self.register_parameter("codebook", None)  # nn.Parameter [2^b] once quantized
        self.quant_bits = 0

    @property
    def is_conv(self) -> bool:
        return self.spec.kernel_size > 0

    def effective_weight(self) -> torch.Tensor:
        """The weight the layer computes with: W̃ = α·sign(W) | M ⊙ c[I] | M ⊙ W | W."""
        W = self.op.weight
        if self.binary:
            return xnor_weight(W, rescale=self.grad_rescale)
        if self.codebook is not None:
            W = self.codebook[self.index]  # gather: ∂L/∂c_k sums the member gradients
        if self.mask is not None:
            W = W * self.mask
        return W

    def _apply_op(self, x: torch.Tensor) -> torch.Tensor:
        W = self.effective_weight()
        if self.is_conv:
            return F.conv2d(x, W, self.op.bias, self.spec.stride, self.spec.padding)
        return F.linear(x, W, self.op.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spec.group == "first":
            return self.pool(F.relu(self.bn(self._apply_op(x))))
        x = self.bn(x)
        if self.binary:
            x = bin_active(x)  # activations ∈ {−1, 0, +1} (0 only where BN output is exactly 0)
        x = self._apply_op(self.drop(x))
        if self.spec.group == "classifier":
            return x
        return self.pool(F.relu(x))

    # --- compression of this layer's weights -------------------------------------------------
    @torch.no_grad()
    def prune_(self, rate: float) -> None:
        """Fix the mask M to the largest-magnitude (1 − rate) of the current weights."""
        if self.binary:
            raise ValueError(f"{self.spec.name} is binary; only FP layers are pruned")
        W = self.effective_weight().detach()
        # rank by |effective weight|; shared values tie, so ties go to the larger latent weight
        self.mask = magnitude_mask(W, rate, tiebreak=self.op.weight.detach())
        if self.codebook is None:
            self.op.weight.mul_(self.mask)

    @torch.no_grad()
    def quantize_(self, bits: int, *, method: str = "kmeans", iters: int = 20) -> None:
        """Share the (surviving) weights: W = c[I] with a b-bit codebook c trained from now on."""
        if self.binary:
            raise ValueError(f"{self.spec.name} is binary; only FP layers are quantized")
        W = self.effective_weight().detach()
        codebook, index = weight_sharing(W, self.mask, bits, method=method, iters=iters)
        self.index = index
        self.codebook = nn.Parameter(codebook.to(W.device))
        self.quant_bits = bits
        self.op.weight.requires_grad_(False)  # the latent weights are replaced by the codebook

    def clear_compression(self) -> None:
        self.mask, self.index, self.codebook, self.quant_bits = None, None, None, 0
        self.op.weight.requires_grad_(True)


class TACNet(nn.Module):
    """A network of :class:`Layer` blocks; ``features`` = conv layers, ``head`` = FC layers."""

    def __init__(self, *, arch: str = "digits", variant: str = "fp", grad_rescale: bool = True, **arch_kw):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown arch {arch!r}; choose one of: {', '.join(ARCHS)}")
        (self.in_channels, self.in_size), specs = ARCHS[arch](**arch_kw)
        self.arch = arch
        layers = [Layer(s, grad_rescale=grad_rescale) for s in specs]
        self.features = nn.Sequential(*[lay for lay in layers if lay.is_conv])
        self.head = nn.Sequential(*[lay for lay in layers if not lay.is_conv])
        self.set_variant(variant)

    def set_variant(self, variant: str) -> TACNet:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose one of: {', '.join(VARIANTS)}")
        self.variant = variant
        for lay in self.layers():
            lay.binary = lay.spec.group in BINARY_GROUPS[variant]
        return self

    def layers(self) -> list[Layer]:
        return [*self.features, *self.head]

    def layer(self, name: str) -> Layer:
        for lay in self.layers():
            if lay.spec.name == name:
                return lay
        raise KeyError(name)

    @torch.no_grad()
    def prepare_binary_(self, layers=None) -> None:
        """Step 1 of every forward in training and test: mean-centre and clamp latent binary weights.

        Frozen layers (weights not requiring grad) are final and left alone.
        """
        for lay in self.layers() if layers is None else layers:
            if lay.binary and lay.op.weight.requires_grad:
                center_and_clamp_(lay.op.weight)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(1)  # [B, C, H, W] -> [B, C·H·W]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))  # logits [B, classes]
