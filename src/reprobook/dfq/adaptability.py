r"""Sample adaptability, the quantity both papers play with (Chapters 4-5, §Sample adaptability).

For a generated sample x with full-precision logits :math:`z_p = P(x)` and quantized logits
:math:`z_q = Q(x)` over C classes, the *disagreement* distribution is
:math:`p_{ds} = \mathrm{softmax}(z_p - z_q)` and the *agreement* distribution
:math:`p_{as} = \mathrm{softmax}(z_p + z_q)`. Its entropy

.. math:: H_{info}(p_{ds}) = -\sum_c p_{ds,c} \log p_{ds,c} \in [0, \log C]

is near :math:`\log C` when :math:`z_q = z_p + \text{const}` (Q agrees with P: nothing left to
learn) and small when P and Q disagree sharply. The official code normalises it per batch,

.. math:: H'_{info} = \frac{H_{info} - \min_{batch} H_{info}}{\log C - \min_{batch} H_{info}},

with the batch minimum *not* detached (so the lowest-entropy sample of every batch sits at
exactly 0), and the **sample adaptability** is :math:`1 - H'_{info}`. :func:`normalized_entropy`
is that training quantity (under data-parallel training the minimum is that of the global batch,
:func:`batch_min`); :func:`entropy_ratio` (:math:`H/\log C`) is the batch-independent one
the chapters plot.

The margin (AdaDFQ; AdaSG's balance band) keeps :math:`H'` inside :math:`[\lambda_l, \lambda_u]`
with the hinge :math:`\mathbb E[\max(\lambda_l - H', 0)] + \mathbb E[\max(H' - \lambda_u, 0)]`,
and the balance loss :math:`L_{bal} = \alpha_{ds} L_{ds} + \alpha_{as} L_{as}` with
:math:`L_{ds} = \mathrm{CE}(z_p - z_q, y)` (disagreement samples, pushing H' towards 0) and
:math:`L_{as} = \mathrm{CE}(z_p + z_q, y)` (agreement samples, pushing H' towards 1).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from reprobook.engine import distributed


def entropy(logits: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """:math:`H(\\mathrm{softmax}(\\text{logits}/T))` per row (natural log): ``[B, C] -> [B]``."""
    logp = F.log_softmax(logits / T, dim=1)
    return -(logp.exp() * logp).sum(1)


def batch_min(h: torch.Tensor) -> torch.Tensor:
    """``h.min()`` over the global batch, with the gradient of ``min`` (to the minimising sample).

    In a process group every rank holds a slice of the batch. The value is the all-reduced
    minimum; its gradient is summed over ranks (every rank's samples depend on it) and routed to
    the one rank that holds the minimum (the lowest such rank on ties), which is the gradient the
    single-process ``h.min()`` gets once the data-parallel average is taken.
    """
    local = h.min()
    ctx = distributed.current()
    if not ctx.enabled:
        return local
    m = distributed.all_reduce(local, "min")
    if not (torch.is_grad_enabled() and h.requires_grad):
        return m
    mine = torch.tensor(float(ctx.rank if local.item() == m.item() else ctx.world_size), device=h.device)
    owner = int(distributed.all_reduce(mine, "min").item())
    from torch.distributed.nn.functional import all_reduce  # differentiable sum over ranks

    return all_reduce(local * float(ctx.rank == owner))


def normalized_entropy(z_p: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """:math:`H'_{info}(p_{ds})` with the official per-batch normalisation: ``[B, C] x2 -> [B]`` in [0, 1]."""
    h = entropy(z_p - z_q)  # [B]
    h_max = math.log(z_p.shape[1])
    h_min = batch_min(h)  # not detached, as in the official code; global batch under data parallelism
    return (h - h_min) / (h_max - h_min)


def entropy_ratio(z_p: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """:math:`H_{info}(p_{ds}) / \\log C` per sample, independent of the batch (for plots): ``[B]``."""
    return entropy(z_p - z_q) / math.log(z_p.shape[1])


def adaptability(z_p: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """Sample adaptability :math:`1 - H'_{info}(p_{ds})` per sample: ``[B]``."""
    return 1 - normalized_entropy(z_p, z_q)


def margin_loss(h: torch.Tensor, *, lambda_l: float, lambda_u: float) -> torch.Tensor:
    """Hinge keeping H' in the band: :math:`\\mathrm{mean}(\\mathrm{relu}(\\lambda_l - H')) + \\mathrm{mean}(\\mathrm{relu}(H' - \\lambda_u))`."""
    return F.relu(lambda_l - h).mean() + F.relu(h - lambda_u).mean()


def disagreement_loss(z_p: torch.Tensor, z_q: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """:math:`L_{ds} = \\mathrm{CE}(z_p - z_q, y)`, batch mean."""
    return F.cross_entropy(z_p - z_q, y)


def agreement_loss(z_p: torch.Tensor, z_q: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """:math:`L_{as} = \\mathrm{CE}(z_p + z_q, y)`, batch mean."""
    return F.cross_entropy(z_p + z_q, y)


def balance_loss(z_p, z_q, y, *, alpha_ds: float, alpha_as: float) -> torch.Tensor:
    """:math:`L_{bal} = \\alpha_{ds} L_{ds} + \\alpha_{as} L_{as}`."""
    return alpha_ds * disagreement_loss(z_p, z_q, y) + alpha_as * agreement_loss(z_p, z_q, y)


def check_band(lambda_l: float, lambda_u: float) -> None:
    if not 0.0 <= lambda_l <= lambda_u <= 1.0:
        raise ValueError(f"the band needs 0 <= lambda_l <= lambda_u <= 1; got lambda_l={lambda_l}, "
                         f"lambda_u={lambda_u}")
