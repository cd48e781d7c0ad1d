r"""Size and cost accountant, per layer and per layer type (Chapter 1, §The phenomenon).

**Size** (bits of the deployed model):

* full-precision weights and biases: 32 bits each; BN folded to a scale and a shift per
  channel, 2 × 32 bits (layer type ``bn``);
* binary weights: 1 bit each, plus one FP32 :math:`\alpha` per output filter;
* pruned layers in relative-index format (Deep Compression): every stored entry carries a
  ``index_bits``-bit gap and its value (32 bits, or ``b`` bits with a :math:`2^b \times 32`-bit
  codebook when weights are shared); gaps beyond :math:`2^{\text{index\_bits}}` cost filler entries;
* shared weights without pruning: ``b`` bits per weight plus the codebook.

**Cost** (effective multiply-accumulates): a full-precision MAC counts 1; a binary MAC
(XNOR + popcount on 64-bit words) counts 1/64, XNOR-Net's estimate; a pruned layer performs
``density × dense`` MACs. Weight sharing does not change the MAC count. BN, ReLU and pooling are
not counted. Compression × and theoretical speed-up × are the full-precision network's size and MACs
divided by the variant's. Wall-clock time of PyTorch on a CPU shows none of this (binary layers
are simulated in floating point), so only these theoretical numbers are reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from reprobook.tac.compress import sparse_entries
from reprobook.tac.model import Layer, TACNet

FP_BITS = 32
BINARY_MAC = 1.0 / 64
TYPES = ("first", "conv", "fc", "classifier", "bn")


@dataclass(frozen=True)
class LayerCost:
    name: str
    type: str  # first | conv | fc | classifier | bn
    treatment: str  # fp | binary | pruned | shared | pruned+shared | bn
    params: int
    bits: float
    macs: int  # dense MACs per image
    eff_macs: float


def output_sizes(net: TACNet) -> dict[str, int]:
    """Spatial side of each conv layer's output (before its pool), from the layer shapes."""
    size, out = net.in_size, {}
    for lay in net.features:
        s = lay.spec
        size = (size + 2 * s.padding - s.kernel_size) // s.stride + 1
        out[s.name] = size
        if s.pool:
            size = (size - s.pool) // s.pool_stride + 1
    return out


def layer_cost(lay: Layer, side: int = 1, *, index_bits: int = 4) -> list[LayerCost]:
    """The weight layer's cost and its BN's cost."""
    s = lay.spec
    n_w = lay.op.weight.numel()
    bias = lay.op.bias.numel() if lay.op.bias is not None else 0
    macs = n_w * side * side  # conv: c_out·c_in·k²·H_out·W_out; linear: c_out·c_in
    if lay.binary:
        treatment, bits, eff = "binary", n_w * 1 + FP_BITS * (s.c_out + bias), macs * BINARY_MAC
    elif lay.mask is not None:
        nnz = int(lay.mask.sum().item())
        entries = sparse_entries(lay.mask, index_bits)
        value_bits = lay.quant_bits if lay.codebook is not None else FP_BITS
        codebook = FP_BITS * 2**lay.quant_bits if lay.codebook is not None else 0
        treatment = "pruned+shared" if lay.codebook is not None else "pruned"
        bits, eff = entries * (value_bits + index_bits) + codebook + FP_BITS * bias, macs * nnz / n_w
    elif lay.codebook is not None:
        treatment = "shared"
        bits, eff = n_w * lay.quant_bits + FP_BITS * (2**lay.quant_bits + bias), float(macs)
    else:
        treatment, bits, eff = "fp", FP_BITS * (n_w + bias), float(macs)
    bn = lay.bn.weight.numel()
    return [LayerCost(s.name, s.group, treatment, n_w + bias, float(bits), macs, float(eff)),
            LayerCost(f"{s.name}.bn", "bn", "bn", 2 * bn, float(FP_BITS * 2 * bn), 0, 0.0)]


@dataclass(frozen=True)
class Accounting:
    rows: list[LayerCost]
    fp_bits: float  # the same network in full precision
    fp_macs: float

    @property
    def bits(self) -> float:
        return sum(r.bits for r in self.rows)

    @property
    def eff_macs(self) -> float:
        return sum(r.eff_macs for r in self.rows)

    @property
    def size_mb(self) -> float:
        return self.bits / 8 / 2**20

    @property
    def compression(self) -> float:
        return self.fp_bits / self.bits

    @property
    def speedup(self) -> float:
        return self.fp_macs / self.eff_macs

    def share(self, what: str = "bits") -> dict[str, float]:
        """Each layer type's share of the total ``bits`` or ``eff_macs`` (fractions summing to 1)."""
        total = sum(getattr(r, what) for r in self.rows)
        return {t: sum(getattr(r, what) for r in self.rows if r.type == t) / total for t in TYPES}


def account(net: TACNet, *, index_bits: int = 4) -> Accounting:
    """Per-layer size and cost of ``net`` as it is now (variant, masks and codebooks included)."""
    sides = output_sizes(net)
    rows = [c for lay in net.layers() for c in layer_cost(lay, sides.get(lay.spec.name, 1), index_bits=index_bits)]
    fp_bits = sum(FP_BITS * r.params for r in rows)
    fp_macs = float(sum(r.macs for r in rows))
    return Accounting(rows, fp_bits, fp_macs)
