r"""FF-GAN's adversarial losses (unchanged from DM-GAN), per stage :math:`i`.

With :math:`D^u` the unconditional and :math:`D^c` the conditional head, :math:`x` real,
:math:`\hat x` fake (detached for D), :math:`s` the matching sentence and :math:`s^+` the next
sentence of the batch (the mismatched pair is ``x[:B-1]`` with ``s[1:B]``):

.. math::
   L_{D_i} = \tfrac12\big[\mathrm{BCE}(D^u(x),1) + \mathrm{BCE}(D^c(x,s),1)\big]
           + \tfrac13\big[\mathrm{BCE}(D^u(\hat x),0) + \mathrm{BCE}(D^c(\hat x,s),0) + \mathrm{BCE}(D^c(x,s^+),0)\big]

.. math::
   L_G = \sum_i \big[\mathrm{BCE}(D^u(\hat x_i),1) + \mathrm{BCE}(D^c(\hat x_i,s),1)\big]
       + \lambda\,(L^w_1 + L^w_2 + L^s_1 + L^s_2)(\hat x_{\text{last}}) + L_{KL}
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reprobook.ffgan.model import Discriminator


def discriminator_loss(D: Discriminator, x: torch.Tensor, x_fake: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """:math:`L_{D_i}` (``x_fake`` is detached here, so no gradient reaches G)."""
    real, fake = D(x), D(x_fake.detach())  # [B, C, 4, 4]
    ones, zeros = torch.ones(len(x), device=x.device), torch.zeros(len(x), device=x.device)
    real_c = F.binary_cross_entropy(D.cond(real, s), ones)
    fake_c = F.binary_cross_entropy(D.cond(fake, s), zeros)
    wrong_c = F.binary_cross_entropy(D.cond(real[:-1], s[1:]), zeros[1:])
    real_u = F.binary_cross_entropy(D.uncond(real), ones)
    fake_u = F.binary_cross_entropy(D.uncond(fake), zeros)
    return (real_u + real_c) / 2 + (fake_u + fake_c + wrong_c) / 3


def generator_adv_loss(D: Discriminator, x_fake: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """:math:`\\mathrm{BCE}(D^u(\\hat x),1) + \\mathrm{BCE}(D^c(\\hat x,s),1)` for one stage."""
    code = D(x_fake)
    ones = torch.ones(len(x_fake), device=x_fake.device)
    return F.binary_cross_entropy(D.uncond(code), ones) + F.binary_cross_entropy(D.cond(code, s), ones)
