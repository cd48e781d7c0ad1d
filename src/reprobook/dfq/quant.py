r"""The quantizer Q(·) that both papers put on top of a full-precision network (Chapters 4 and 5, §Quantizer).

Both official codes use the same fake-quantizer (from ZeroQ, by way of GDFQ):

* **Weights** of every ``Conv2d`` and ``Linear`` (first conv, 1×1 shortcut convs and the final
  classifier included) are quantized *per output channel*, asymmetric and uniform with
  :math:`k_w` bits, recomputed from the current weights at every forward. With
  :math:`[m, M]` the range of one output channel's weights,

  .. math::
     s = \frac{2^k - 1}{\max(M - m, 10^{-8})},\quad
     z = \mathrm{round}(s\,m) + 2^{k-1},\quad
     q = \mathrm{clamp}\big(\mathrm{round}(s\,w - z),\, -2^{k-1},\, 2^{k-1} - 1\big),\quad
     \hat w = (q + z)/s,

  i.e. :math:`2^k` levels spanning :math:`[m, M]`.
* **Activations**: a :class:`QuantAct` with :math:`k_a` bits follows every ``ReLU``/``ReLU6``
  module; it uses the same formula with one scalar range :math:`[x_{\min}, x_{\max}]` per tensor,
  tracked by an exponential moving average (β = 0.9) of the batch min and max while
  ``running_stat`` is on (the first epochs of training), frozen afterwards. Under data-parallel
  training the batch min and max are those of the global batch, so every rank quantizes alike.
* **Gradients** pass straight through (STE, :math:`\partial \hat w/\partial w = 1`, no clipping
  mask); no gradient reaches the ranges.
* BatchNorm stays in full precision and is not folded; the input image, residual sums before
  their ReLU, pooling and logits are not quantized.

The official QuantAct applies a *recursive* bias correction,
:math:`x \leftarrow (\beta x + (1-\beta) m)/(1-\beta^t)`, storing the corrected value back; it
inflates the range by up to ~4000× during the first ~75 updates. ``ema="bias_corrected"``
reproduces it; the default ``ema="plain"`` starts from the first batch's value and then runs
:math:`x \leftarrow \beta x + (1-\beta) m` (our fix, stated in the chapter).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn import functional as F

from reprobook.engine import distributed

BITS = tuple(range(2, 9))  # W2A2 ... W8A8
EMA_MODES = ("plain", "bias_corrected")


def check_bits(bits: int, what: str = "bits") -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in BITS:
        raise ValueError(f"{what} must be an integer from {BITS[0]} to {BITS[-1]} (W{BITS[0]}A{BITS[0]} to "
                         f"W{BITS[-1]}A{BITS[-1]}); got {bits!r}")
    return bits


def fake_quantize(x: torch.Tensor, x_min: torch.Tensor, x_max: torch.Tensor, bits: int) -> torch.Tensor:
    """Asymmetric uniform quantize-dequantize of ``x`` with range ``[x_min, x_max]`` (broadcastable).

    No STE here: the result carries no useful gradient; see :func:`ste`.
    """
    n = 2 ** (bits - 1)
    s = (2**bits - 1) / (x_max - x_min).clamp_min(1e-8)  # scale
    z = torch.round(s * x_min) + n  # zero point
    q = torch.clamp(torch.round(s * x - z), -n, n - 1)  # integer code in [-2^(k-1), 2^(k-1)-1]
    return (q + z) / s


def ste(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Value of ``x_hat``, gradient of the identity with respect to ``x`` (straight-through)."""
    return x + (x_hat - x).detach()


def quantize_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-output-channel asymmetric fake quantization of ``w [out, ...]`` with an identity STE."""
    flat = w.detach().reshape(w.shape[0], -1)  # [out, in·kh·kw]
    shape = (-1,) + (1,) * (w.dim() - 1)
    w_hat = fake_quantize(w.detach(), flat.min(1).values.view(shape), flat.max(1).values.view(shape), bits)
    return ste(w, w_hat)


def _from_float(cls, layer: nn.Module, bits: int):
    """A copy of ``layer`` turned into its fake-quantized subclass ``cls`` (same parameters)."""
    q = copy.deepcopy(layer)
    q.__class__ = cls
    q.weight_bits = check_bits(bits, "weight bits")
    return q


class QuantConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose weight is fake-quantized per output channel at every forward."""

    weight_bits: int

    @classmethod
    def from_float(cls, conv: nn.Conv2d, *, bits: int) -> QuantConv2d:
        return _from_float(cls, conv, bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, quantize_weight(self.weight, self.weight_bits), self.bias)


class QuantLinear(nn.Linear):
    """``nn.Linear`` whose weight is fake-quantized per output row at every forward."""

    weight_bits: int

    @classmethod
    def from_float(cls, linear: nn.Linear, *, bits: int) -> QuantLinear:
        return _from_float(cls, linear, bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, quantize_weight(self.weight, self.weight_bits), self.bias)


class QuantAct(nn.Module):
    """Per-tensor activation fake-quantizer with an EMA range (β = 0.9) and an identity STE.

    The range is updated at every forward while ``running_stat`` is True, in train *and* eval
    mode (the official Q stays in eval mode while it calibrates), and frozen otherwise.
    """

    def __init__(self, *, bits: int, beta: float = 0.9, ema: str = "plain"):
        super().__init__()
        if ema not in EMA_MODES:
            raise ValueError(f"ema must be one of {', '.join(EMA_MODES)}; got {ema!r}")
        self.bits, self.beta, self.ema = check_bits(bits, "activation bits"), beta, ema
        self.running_stat = True
        self.register_buffer("x_min", torch.zeros(()))
        self.register_buffer("x_max", torch.zeros(()))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))  # t, number of range updates

    @torch.no_grad()
    def update_range(self, x: torch.Tensor) -> None:
        # batch range (scalars) of the global batch: one all-reduce of (-min, max) with max
        neg_m, M = distributed.all_reduce(torch.stack([-x.min(), x.max()]), "max")
        m = -neg_m
        self.updates += 1
        b = self.beta
        if self.ema == "plain":
            if self.updates == 1:
                self.x_min.copy_(m), self.x_max.copy_(M)
            else:
                self.x_min.mul_(b).add_((1 - b) * m), self.x_max.mul_(b).add_((1 - b) * M)
        else:  # official: the corrected value is stored back and corrected again next time
            corr = 1 - b ** self.updates.item()
            self.x_min.copy_((b * self.x_min + (1 - b) * m) / corr)
            self.x_max.copy_((b * self.x_max + (1 - b) * M) / corr)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.running_stat:
            self.update_range(x)
        return ste(x, fake_quantize(x.detach(), self.x_min, self.x_max, self.bits))

    def extra_repr(self) -> str:
        return f"bits={self.bits}, ema={self.ema}, range=[{self.x_min.item():.3g}, {self.x_max.item():.3g}]"


def quantize_model(model: nn.Module, *, w_bits: int, a_bits: int, ema: str = "plain") -> nn.Module:
    """A quantized deep copy of ``model``: Conv2d/Linear → Quant*, each ReLU/ReLU6 → (act, QuantAct).

    Activation modules must not be shared between call sites (each gets its own range).
    """
    check_bits(w_bits, "weight bits"), check_bits(a_bits, "activation bits")
    q = copy.deepcopy(model)
    _swap(q, w_bits, a_bits, ema)
    return q


def _swap(module: nn.Module, w_bits: int, a_bits: int, ema: str) -> None:
    for name, child in module.named_children():
        if type(child) is nn.Conv2d:
            setattr(module, name, QuantConv2d.from_float(child, bits=w_bits))
        elif type(child) is nn.Linear:
            setattr(module, name, QuantLinear.from_float(child, bits=w_bits))
        elif type(child) in (nn.ReLU, nn.ReLU6):
            setattr(module, name, nn.Sequential(child, QuantAct(bits=a_bits, ema=ema)))
        else:
            _swap(child, w_bits, a_bits, ema)


def quant_acts(model: nn.Module) -> list[QuantAct]:
    return [m for m in model.modules() if isinstance(m, QuantAct)]


def set_running_stat(model: nn.Module, on: bool) -> None:
    """Unfreeze (``on=True``) or freeze the activation ranges of every QuantAct in ``model``."""
    for m in quant_acts(model):
        m.running_stat = on


@contextlib.contextmanager
def frozen_ranges(model: nn.Module) -> Iterator[None]:
    """Temporarily freeze the ranges (probing Q must not calibrate it)."""
    acts = quant_acts(model)
    old = [m.running_stat for m in acts]
    for m in acts:
        m.running_stat = False
    try:
        yield
    finally:
        for m, o in zip(acts, old):
            m.running_stat = o
