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

**Several processes** (each rank holds a slice of the global batch). :class:`DiscriminatorLoss`
computes :math:`L_{D_i}` as one forward of one module, so a DDP wrapper sees exactly one forward
per backward although the trunk runs twice (real, fake) and the heads five times. The trunk is
not run once on the concatenated real and fake batch: that would leave the BCE terms unchanged
(no batch norm in D) but would make one spectral-norm power iteration per update instead of the
official code's two. The mismatched pairs are those of the global batch (image :math:`k` with
sentence :math:`k+1`, :math:`B-1` pairs): each rank takes the next sentences from the gathered
global batch, so the pair across a rank boundary is kept, and scales its sum so that DDP's
average over ranks is the global mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reprobook.engine import distributed
from reprobook.ffgan.model import Discriminator


def next_sentences(s: torch.Tensor) -> tuple[torch.Tensor, int]:
    """For this rank's items k of the global batch, the sentence of item k+1 (none for the last item).

    Returns ``s⁺ [b or b−1, n_e]`` and the global number of mismatched pairs ``B − 1``.
    """
    from reprobook.ffgan.damsm import gather

    s_all = gather(s.detach())  # [B, n_e]; D's step needs no gradient w.r.t. s
    sl = distributed.local_slice(len(s_all))
    return s_all[sl.start + 1: sl.stop + 1], len(s_all) - 1


class DiscriminatorLoss(nn.Module):
    """:math:`L_{D_i}` of the discriminator ``D`` as this module's forward (wrap *this* for DDP)."""

    def __init__(self, D: Discriminator):
        super().__init__()
        self.D = D

    def forward(self, x: torch.Tensor, x_fake: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        D = self.D
        real, fake = D(x), D(x_fake.detach())  # [b, C, 4, 4]; the fake batch is detached: no gradient to G
        ones, zeros = torch.ones(len(x), device=x.device), torch.zeros(len(x), device=x.device)
        s_next, n_wrong = next_sentences(s)
        real_c = F.binary_cross_entropy(D.cond(real, s), ones)
        fake_c = F.binary_cross_entropy(D.cond(fake, s), zeros)
        k = len(s_next)  # b, or b − 1 on the rank holding the global batch's last item
        wrong_c = F.binary_cross_entropy(D.cond(real[:k], s_next), zeros[:k]) * (k * distributed.world_size() / n_wrong)
        real_u = F.binary_cross_entropy(D.uncond(real), ones)
        fake_u = F.binary_cross_entropy(D.uncond(fake), zeros)
        return (real_u + real_c) / 2 + (fake_u + fake_c + wrong_c) / 3


def discriminator_loss(D: Discriminator, x: torch.Tensor, x_fake: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """:math:`L_{D_i}` (``x_fake`` is detached here, so no gradient reaches G)."""
    return DiscriminatorLoss(D)(x, x_fake, s)


def generator_adv_loss(D: Discriminator, x_fake: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """:math:`\\mathrm{BCE}(D^u(\\hat x),1) + \\mathrm{BCE}(D^c(\\hat x,s),1)` for one stage.

    ``D`` is the plain module (not its DDP wrapper), its parameters frozen by the caller: G's
    gradient passes through D to the fake images, and D's data-parallel gradient hooks never run.
    """
    code = D(x_fake)
    ones = torch.ones(len(x_fake), device=x_fake.device)
    return F.binary_cross_entropy(D.uncond(code), ones) + F.binary_cross_entropy(D.cond(code, s), ones)
