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

Every per-sample draw (t, the noises of :math:`y_t` and :math:`x_t`) goes through a :class:`Share`:
it is made for the whole *global* batch and sliced, so processes that each hold a slice of the
batch draw together exactly what one process holding all of it draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from reprobook.strdiffusion.sde import IRSDE

HOLE_WEIGHT = 10.0


@dataclass(frozen=True)
class Share:
    """This process's ``rows`` of a global batch of ``total`` samples (default: all of it)."""

    total: int
    rows: slice = field(default_factory=lambda: slice(None))

    def t(self, sde: IRSDE, generator=None) -> torch.Tensor:
        """Steps :math:`t\\sim\\mathcal U\\{2..T\\}` drawn for the global batch: ``[rows]``."""
        return sde.random_t(self.total, generator=generator)[self.rows]

    def randn(self, like: torch.Tensor, generator=None) -> torch.Tensor:
        """Standard normal noise for the global batch, this share's rows: shaped like ``like``."""
        shape = (self.total, *like.shape[1:])
        if generator is not None:
            return torch.randn(shape, generator=generator, device=like.device)[self.rows]
        # randn_like fills memory in the order of like's layout (flipped/transposed batches): keep
        # that order for the global batch, whose batch dimension is outermost in memory as like's
        proto = like if len(like) == self.total else torch.empty_strided(shape, like.stride(), device=like.device)
        return torch.randn_like(proto)[self.rows]


def _share(share: Share | None, n: int) -> Share:
    return share if share is not None else Share(n)


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


def ideal_structure(sde: IRSDE, G, E, mask, t, *, generator=None, share: Share | None = None) -> torch.Tensor:
    """Teacher-forced guidance :math:`S = x^*_{t-1}(x_t, G, t)` with :math:`x_t\\sim q(x_t\\mid G, E\\odot m)`."""
    x0, mu_x = structure_pair(G, E, mask)
    x_t = sde.marginal(x0, mu_x, t, noise=_share(share, len(x0)).randn(x0, generator))
    return sde.optimum(x_t, x0, mu_x, t)


def structure_loss(net, sde: IRSDE, G, E, mask, *, generator=None, share: Share | None = None) -> torch.Tensor:
    x0, mu = structure_pair(G, E, mask)
    share = _share(share, len(x0))
    t = share.t(sde, generator)
    x_t = sde.marginal(x0, mu, t, noise=share.randn(x0, generator))
    target = sde.optimum(x_t, x0, mu, t)
    pred = sde.reverse_mean(x_t, mu, net(x_t, mu, t), t)
    return matching_loss(pred, target, mask)


def texture_loss(net, sde: IRSDE, img, G, E, mask, *, guided: bool = True, generator=None,
                 share: Share | None = None) -> torch.Tensor:
    """Texture objective; with ``guided`` the net gets the ideal structure at the same t."""
    y0, mu = texture_pair(img, mask)
    share = _share(share, len(y0))
    t = share.t(sde, generator)
    y_t = sde.marginal(y0, mu, t, noise=share.randn(y0, generator))
    target = sde.optimum(y_t, y0, mu, t)
    S = ideal_structure(sde, G, E, mask, t, generator=generator, share=share) if guided else None
    eps_hat = net(y_t, mu, t, S) if guided else net(y_t, mu, t)
    return matching_loss(sde.reverse_mean(y_t, mu, eps_hat, t), target, mask)


def discriminator_inputs(sde: IRSDE, img, G, E, mask, t, *, generator=None, share: Share | None = None):
    """``(real, fake, anchor, S)`` textures for D at step ``t`` (all analytic, no network)."""
    y0, mu = texture_pair(img, mask)
    share = _share(share, len(y0))
    y_t = sde.marginal(y0, mu, t, noise=share.randn(y0, generator))
    y_opt = sde.optimum(y_t, y0, mu, t)  # y*_{t-1}
    S = ideal_structure(sde, G, E, mask, t, generator=generator, share=share)
    anchor = y_opt * mask + y_t * (1 - mask)
    return y_opt, y_t, anchor, S


def discriminator_loss(D, sde: IRSDE, img, G, E, mask, *, generator=None, share: Share | None = None,
                       masked: bool = False) -> tuple[torch.Tensor, dict]:
    r"""The official D objective (higher D = real/consistent); returns the loss and D's mean outputs.

    ``D`` is the discriminator, or a (data-parallel) :class:`~reprobook.strdiffusion.discriminator.ThreeScores`
    around it, which scores real, fake and anchor in one forward pass.

    ``masked``: D scores the textures times the mask, :math:`y\odot m`, which is what the sampler feeds
    it (:func:`~reprobook.strdiffusion.sampler.inpaint` calls :math:`D(t, y'\odot m, x)`); the
    official code trains on the full textures and queries the masked ones. With the mask the
    anchor equals the real texture, and the triplet term asks for :math:`|D_{real}-D_{fake}|\ge 1`.
    """
    from reprobook.engine.distributed import unwrap
    from reprobook.strdiffusion.discriminator import ThreeScores

    share = _share(share, len(img))
    t = share.t(sde, generator)
    real, fake, anchor, S = discriminator_inputs(sde, img, G, E, mask, t, generator=generator, share=share)
    if masked:
        real, fake, anchor = real * mask, fake * mask, anchor * mask  # [B, 3, H, W], hole zeroed
    if isinstance(unwrap(D), ThreeScores):
        d_real, d_fake, d_anchor = D(t, real, fake, anchor, S)
    else:
        d_real, d_fake, d_anchor = D(t, real, S), D(t, fake, S), D(t, anchor, S)  # [B, 1] each
    loss = (F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
            + F.triplet_margin_loss(d_anchor, d_real, d_fake, margin=1.0, p=2))
    return loss, {"d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()}
