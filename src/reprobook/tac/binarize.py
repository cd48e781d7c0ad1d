r"""XNOR-Net binarization of weights and activations (Chapter 1, §The idea).

TAC keeps the conv layers of a 1-bit network binary, as XNOR-Net does (Rastegari et al., 2016);
the details below follow the public XNOR-Net code lineage the authors' group used.

**Activations.** A binary layer sees ``BN → sign → conv/linear → ReLU``. The forward pass is
:math:`\mathrm{sign}(x)`; the backward pass is the clipped straight-through estimator

.. math:: \frac{\partial C}{\partial x} = \frac{\partial C}{\partial\,\mathrm{sign}(x)}\,\mathbf 1[|x| < 1].

(XNOR-Net's activation scaling map :math:`K` is omitted, as in that code.)

**Weights.** Each binary layer keeps latent real weights :math:`W` (shape ``[c_out, c_in, k, k]`` or
``[c_out, c_in]``). Before every forward pass they are mean-centred over the input-channel axis and
clamped to :math:`[-1, 1]`; the layer then uses

.. math:: \tilde W = \alpha\,\mathrm{sign}(W), \qquad \alpha_o = \tfrac1n \lVert W_o\rVert_1,\quad n = c_\mathrm{in}k^2,

one :math:`\alpha` per output filter :math:`o`. The gradient reaching the latent weights is the
corrected XNOR-Net rule

.. math:: \frac{\partial C}{\partial W_i} = \Big(\alpha\,\frac{\partial C}{\partial\tilde W_i}\,\mathbf 1[|W_i|\le 1]
   + \frac1n\,\mathrm{sign}(W_i)\sum_j \frac{\partial C}{\partial\tilde W_j}\,\mathrm{sign}(W_j)\Big)
   \cdot\big(1-\tfrac1{c_\mathrm{in}}\big)\,n,

the sums running over the weights of one output filter; the last factor is the code's rescaling
(``grad_rescale``). The code also multiplies by :math:`10^9`; Adam is invariant to a constant
gradient scale up to its :math:`\epsilon`, so that factor is left out here.

The public code overwrites the weights with :math:`\tilde W` for the forward pass and restores the
real ones before the optimizer step; here :math:`\tilde W` is computed out of place, so the latent
weights are never overwritten and the optimizer always updates the real ones (the same update).
"""

from __future__ import annotations

import torch


class BinActive(torch.autograd.Function):
    """``sign(x)`` forward, gradient passed where ``|x| < 1`` (clipped straight-through)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.sign()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * (x.abs() < 1).to(grad.dtype)


def bin_active(x: torch.Tensor) -> torch.Tensor:
    return BinActive.apply(x)


def alpha(W: torch.Tensor) -> torch.Tensor:
    """Per-output-filter scale :math:`\\alpha_o = \\lVert W_o\\rVert_1 / n`, shape ``[c_out, 1, ...]``."""
    return W.abs().flatten(1).mean(1).view(-1, *([1] * (W.dim() - 1)))


class XNORWeight(torch.autograd.Function):
    """:math:`\\tilde W = \\alpha\\,\\mathrm{sign}(W)` with the corrected XNOR-Net weight gradient."""

    @staticmethod
    def forward(ctx, W: torch.Tensor, rescale: bool) -> torch.Tensor:
        ctx.save_for_backward(W)
        ctx.rescale = rescale
        return alpha(W) * W.sign()

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        (W,) = ctx.saved_tensors
        return xnor_weight_grad(W, g, rescale=ctx.rescale), None


def xnor_weight_grad(W: torch.Tensor, g: torch.Tensor, *, rescale: bool = True) -> torch.Tensor:
    """The corrected gradient :math:`\\partial C/\\partial W` from :math:`g = \\partial C/\\partial\\tilde W`."""
    n = W[0].numel()
    c_in = W.shape[1]
    shape = (-1, *([1] * (W.dim() - 1)))
    s = W.sign()
    term1 = alpha(W) * g * (W.abs() <= 1).to(g.dtype)  # [c_out, c_in, ...]
    term2 = s * (g * s).flatten(1).sum(1).view(shape) / n
    grad = term1 + term2
    return grad * ((1.0 - 1.0 / c_in) * n) if rescale else grad


def xnor_weight(W: torch.Tensor, *, rescale: bool = True) -> torch.Tensor:
    return XNORWeight.apply(W, rescale)


@torch.no_grad()
def center_and_clamp_(W: torch.Tensor) -> torch.Tensor:
    """In place: subtract the mean over the input-channel axis (dim 1), then clamp to [-1, 1]."""
    W.sub_(W.mean(1, keepdim=True)).clamp_(-1.0, 1.0)
    return W
