r"""The three data-free methods as pairs of (G loss, Q loss) (Chapters 4-5, §Objectives).

All three share one loop (:mod:`reprobook.dfq.train`); they differ only in the losses:

* **GDFQ** (baseline): :math:`L_G = \mathrm{CE}(z_p, y) + 0.1 L_{BNS}`;
  :math:`L_Q = T^2\,\mathrm{KL}(\cdot) + \mathrm{CE}(z_q, y)`.
* **AdaSG / AdaDFQ**: G minimises (the "max" step: G raises the adaptability, within the band)

  .. math:: L_G = \mathrm{mean}\,\mathrm{relu}(\lambda_l - H') + \mathrm{mean}\,\mathrm{relu}(H' - \lambda_u)
            + \beta(\alpha_{ds} L_{ds} + \alpha_{as} L_{as}) + \gamma L_{BNS},

  and Q minimises :math:`-T^2 H(\mathrm{softmax}((z_p - z_q)/T))` (the "min" step: Q lowers the
  adaptability). AdaSG fixes :math:`\lambda = (0.3, 0.8)`, :math:`\alpha = (0.1, 0.1)`; AdaDFQ
  makes them bit-width dependent (:mod:`reprobook.dfq.adadfq`). The authors call AdaSG "a
  special case of AdaDFQ".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from reprobook.dfq.adaptability import balance_loss, check_band, margin_loss, normalized_entropy
from reprobook.dfq.losses import g_loss_gdfq, q_loss_adaptive, q_loss_gdfq

KINDS = ("gdfq", "adaptive")


@dataclass(frozen=True)
class Method:
    """One data-free quantization method: which losses G and Q minimise, with their weights."""

    name: str
    kind: str = "adaptive"  # "gdfq" or "adaptive" (AdaSG/AdaDFQ)
    alpha_ds: float = 0.1  # weight of L_ds = CE(z_p - z_q, y)
    alpha_as: float = 0.1  # weight of L_as = CE(z_p + z_q, y)
    lambda_l: float = 0.3  # lower bound of the band on H'
    lambda_u: float = 0.8  # upper bound of the band on H'
    beta: float = 1.0  # weight of L_bal
    gamma: float = 1.0  # weight of L_BNS
    hinge: bool = True  # False drops the band (ablation)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        check_band(self.lambda_l, self.lambda_u)
        for k in ("alpha_ds", "alpha_as", "beta", "gamma"):
            if getattr(self, k) < 0:
                raise ValueError(f"{k} must be >= 0, got {getattr(self, k)}")

    def g_loss(self, z_p: torch.Tensor, z_q: torch.Tensor, y: torch.Tensor, bns: torch.Tensor,
               h: torch.Tensor) -> dict[str, torch.Tensor]:
        """G's loss and its parts; ``h`` = H' of the batch (``[B]``), ``bns`` = L_BNS (scalar)."""
        if self.kind == "gdfq":
            return {"loss_G": g_loss_gdfq(z_p, y, bns)}
        parts = {"bal": balance_loss(z_p, z_q, y, alpha_ds=self.alpha_ds, alpha_as=self.alpha_as),
                 "bns": bns}
        loss = self.beta * parts["bal"] + self.gamma * bns
        if self.hinge:
            parts["margin"] = margin_loss(h, lambda_l=self.lambda_l, lambda_u=self.lambda_u)
            loss = loss + parts["margin"]
        return {"loss_G": loss, **parts}

    def q_loss(self, z_p: torch.Tensor, z_q: torch.Tensor, y: torch.Tensor, *, T: float) -> torch.Tensor:
        if self.kind == "gdfq":
            return q_loss_gdfq(z_p, z_q, y, T=T)
        return q_loss_adaptive(z_p, z_q, T=T)


GDFQ = Method("GDFQ", kind="gdfq")


def h_prime(z_p: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """H' of a batch (re-exported for the loop)."""
    return normalized_entropy(z_p, z_q)
