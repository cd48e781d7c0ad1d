r"""The three training objectives of StrDiffusion (networks trained separately, as the official code).

For a pair :math:`(z_0, \mu)` and :math:`t\sim\mathcal U\{2..T\}`, :math:`z_t` is drawn from the
marginal and the network's reverse mean :math:`\hat z_{t-1} = z_t - [\theta_t(\mu-z_t) +
\sigma_t^2\hat\epsilon/\bar\sigma_t]dt` is matched to the posterior mean :math:`z^*_{t-1}` with

.. math:: \mathcal L = \overline{|\hat z_{t-1}-z^*_{t-1}|\odot m} + 10\,\overline{|\hat z_{t-1}-z^*_{t-1}|\odot(1-m)}

(means over all pixels, then over the batch; the hole weight is 10).

- structure net :math:`\epsilon_\phi`: :math:`z_0 = G`, :math:`\mu = E\odot m`;
- texture net :math:`\tilde\epsilon_\varphi`: :math:`z_0 = I`, :math:`\mu = I\odot m`, guided by the
  **ideal** structure posterior mean :math:`S = x^*_{t-1}(x_t, G, t)` at the same t (teacher forcing:
  the structure net is not used);
- IR-SDE baseline: the texture objective without :math:`S`;
- discriminator: :math:`\mathrm{softplus}(-D_{real}) + \mathrm{softplus}(D_{fake}) +
  \mathrm{TripletMargin}(D_{anchor}, D_{real}, D_{fake})` with :math:`D_{real} = D(t, y^*_{t-1}, S)`,
  :math:`D_{fake} = D(t, y_t, S)`, :math:`D_{anchor} = D(t, y^*_{t-1}\odot m + y_t\odot(1-m), S)`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reprobook.strdiffusion.sde import IRSDE

HOLE_WEIGHT = 10.0


def matching_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, *,
                  hole_weight: float = HOLE_WEIGHT) -> torch.Tensor:
    """:math:`\\overline{|e|\\odot m} + w\\,\\overline{|e|\\odot(1-m)}`, ``e = pred − target``."""
    err = (pred - target).abs()  # [B, C, H, W]
    return (err * mask).mean() + hole_weight * (err * (1 - mask)).mean()


def structure_pair(G: torch.Tensor, E: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x_0, μ_x) = (G, E⊙m)``: the gray→edge structure process."""
    return G, E * mask


def texture_pair(img: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(y_0, μ_y) = (I, I⊙m)``."""
    return img, img * mask


def ideal_structure(sde: IRSDE, G, E, mask, t, *, generator=None) -> torch.Tensor:
    """Teacher-forced guidance :math:`S = x^*_{t-1}(x_t, G, t)` with :math:`x_t\\sim q(x_t\\mid G, E\\odot m)`."""
    x0, mu_x = structure_pair(G, E, mask)
    x_t = sde.marginal(x0, mu_x, t, generator=generator)
    return sde.optimum(x_t, x0, mu_x, t)


def structure_loss(net, sde: IRSDE, G, E, mask, *, generator=None) -> torch.Tensor:
    x0, mu = structure_pair(G, E, mask)
    t = sde.random_t(len(x0), generator=generator)
    x_t = sde.marginal(x0, mu, t, generator=generator)
    target = sde.optimum(x_t, x0, mu, t)
    pred = sde.reverse_mean(x_t, mu, net(x_t, mu, t), t)
    return matching_loss(pred, target, mask)


def texture_loss(net, sde: IRSDE, img, G, E, mask, *, guided: bool = True, generator=None) -> torch.Tensor:
    """Texture objective; with ``guided`` the net gets the ideal structure at the same t."""
    y0, mu = texture_pair(img, mask)
    t = sde.random_t(len(y0), generator=generator)
    y_t = sde.marginal(y0, mu, t, generator=generator)
    target = sde.optimum(y_t, y0, mu, t)
    S = ideal_structure(sde, G, E, mask, t, generator=generator) if guided else None
    eps_hat = net(y_t, mu, t, S) if guided else net(y_t, mu, t)
    return matching_loss(sde.reverse_mean(y_t, mu, eps_hat, t), target, mask)


def discriminator_inputs(sde: IRSDE, img, G, E, mask, t, *, generator=None):
    """``(real, fake, anchor, S)`` textures for D at step ``t`` (all analytic, no network)."""
    y0, mu = texture_pair(img, mask)
    y_t = sde.marginal(y0, mu, t, generator=generator)
    y_opt = sde.optimum(y_t, y0, mu, t)  # y*_{t-1}
    S = ideal_structure(sde, G, E, mask, t, generator=generator)
    anchor = y_opt * mask + y_t * (1 - mask)
    return y_opt, y_t, anchor, S


def discriminator_loss(D, sde: IRSDE, img, G, E, mask, *, generator=None) -> tuple[torch.Tensor, dict]:
    """The official D objective (higher D = real/consistent); returns the loss and D's mean outputs."""
    t = sde.random_t(len(img), generator=generator)
    real, fake, anchor, S = discriminator_inputs(sde, img, G, E, mask, t, generator=generator)
    d_real, d_fake, d_anchor = D(t, real, S), D(t, fake, S), D(t, anchor, S)  # [B, 1] each
    loss = (F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
            + F.triplet_margin_loss(d_anchor, d_real, d_fake, margin=1.0, p=2))
    return loss, {"d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()}
