r"""BNS loss and the Q-side losses (Chapters 4-5, §Objectives).

* :class:`BNSLoss`: batch-norm statistics matching on **every** ``BatchNorm2d`` of the
  full-precision net P (downsample-branch BNs included), through forward hooks that record the
  per-channel batch mean :math:`\mu_l(x)` and biased variance :math:`\sigma^2_l(x)` of each BN's
  input:

  .. math:: L_{BNS} = \frac1L \sum_{l=1}^{L} \big[\mathrm{MSE}(\mu_l(x), \mu_l^P) +
            \mathrm{MSE}(\sigma^2_l(x), \sigma^{2,P}_l)\big],

  MSE averaging over channels, :math:`\mu^P, \sigma^{2,P}` the running statistics of P. Under data-parallel
  training the batch moments are those of the global batch (reduced over ranks, differentiably).
* :func:`q_loss_adaptive`: Q's loss in both AdaSG and AdaDFQ (the "min" step, which lowers
  the adaptability), with the temperature hard-coded in the official code (T = 20 CIFAR, 5 ImageNet):

  .. math:: L_Q = -T^2 \cdot \mathrm{mean}_b\, H\big(\mathrm{softmax}((z_p^{\,\text{detached}} - z_q)/T)\big).

  For large T this is shift-invariant logit matching: :math:`-T^2 \log C + \tfrac12
  \mathrm{Var}_c(z_p - z_q)` to leading order.
* GDFQ's losses (the baseline): G minimises :math:`\mathrm{CE}(z_p, y) + 0.1\,L_{BNS}`; Q
  minimises :math:`\alpha T^2\,\mathrm{KLDiv}_{mean}(\log\mathrm{softmax}(z_q/T),
  \mathrm{softmax}(z_p/T)) + \mathrm{CE}(z_q, y)` with T = 20, α = 1 and ``nn.KLDivLoss``'s
  element-wise mean (divides by B·C).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from reprobook.dfq.adaptability import entropy
from reprobook.engine import distributed


class BNSLoss:
    """Hooks on every ``BatchNorm2d`` of ``P`` and :math:`L_{BNS}` over the last forward of P.

    ``loss()`` uses the statistics recorded by the most recent ``P(x)`` call (with gradients
    towards x); call :meth:`remove` to detach the hooks.
    """

    def __init__(self, P: nn.Module):
        self.bns = [m for m in P.modules() if isinstance(m, nn.BatchNorm2d)]
        if not self.bns:
            raise ValueError("the full-precision network has no BatchNorm2d layer; the BNS loss needs one")
        self.stats: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(self.bns)
        self.handles = [bn.register_forward_hook(self._hook(i)) for i, bn in enumerate(self.bns)]

    def _hook(self, i: int):
        def hook(module, inputs, output):
            x = inputs[0]  # [B, C, H, W]
            self.stats[i] = distributed.global_moments(x, (0, 2, 3))  # mean, biased variance: [C] each

        return hook

    def loss(self) -> torch.Tensor:
        if any(s is None for s in self.stats):
            raise RuntimeError("BNSLoss.loss() called before a forward pass of P")
        terms = [F.mse_loss(mu, bn.running_mean) + F.mse_loss(var, bn.running_var)
                 for (mu, var), bn in zip(self.stats, self.bns)]
        return torch.stack(terms).mean()

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


def q_loss_adaptive(z_p: torch.Tensor, z_q: torch.Tensor, *, T: float) -> torch.Tensor:
    """AdaSG/AdaDFQ Q loss :math:`-T^2\\,\\mathrm{mean}_b H(\\mathrm{softmax}((z_p - z_q)/T))`, z_p detached."""
    return -(T * T) * entropy(z_p.detach() - z_q, T).mean()


def q_loss_gdfq(z_p: torch.Tensor, z_q: torch.Tensor, y: torch.Tensor, *, T: float = 20.0,
                alpha: float = 1.0) -> torch.Tensor:
    """GDFQ Q loss: ``α·T²·KLDivLoss()(log_softmax(z_q/T), softmax(z_p/T)) + CE(z_q, y)``, z_p detached."""
    log_q, log_p = F.log_softmax(z_q / T, 1), F.log_softmax(z_p.detach() / T, 1)  # [B, C]
    kl = (log_p.exp() * (log_p - log_q)).mean()  # nn.KLDivLoss's element-wise mean: sum / (B·C)
    return alpha * T * T * kl + F.cross_entropy(z_q, y)


def g_loss_gdfq(z_p: torch.Tensor, y: torch.Tensor, bns: torch.Tensor, *, bns_weight: float = 0.1) -> torch.Tensor:
    """GDFQ G loss :math:`\\mathrm{CE}(z_p, y) + 0.1 L_{BNS}`."""
    return F.cross_entropy(z_p, y) + bns_weight * bns
