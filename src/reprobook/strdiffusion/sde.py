r"""The mean-reverting SDE of IR-SDE, used by StrDiffusion for both texture and structure (Chapter 7, §The idea).

A state :math:`z` (the texture :math:`y` or the structure :math:`x`) diffuses towards a mean
:math:`\mu` (the degraded image) by the forward SDE

.. math:: dz = \theta_t(\mu - z)\,dt + \sigma_t\,dw, \qquad \sigma_t^2 = 2\lambda^2\theta_t ,

with :math:`\lambda = 30/255`. Its marginal is Gaussian in closed form,

.. math:: z_t = \mu + (z_0-\mu)e^{-\bar\theta_t\,dt} + \bar\sigma_t\,\epsilon,
          \qquad \bar\sigma_t = \lambda\sqrt{1-e^{-2\bar\theta_t dt}},

and the posterior mean of one reverse step (the training target, IR-SDE's "optimum") is

.. math:: z^*_{t-1} = \mu + \frac{A(1-C^2)}{1-B^2}(z_t-\mu) + \frac{C(1-A^2)}{1-B^2}(z_0-\mu),

with :math:`A = e^{-\theta_t dt}`, :math:`B = e^{-\bar\theta_t dt}`, :math:`C = e^{-\bar\theta_{t-1} dt}`.
A network predicts the noise :math:`\hat\epsilon`; the score is :math:`-\hat\epsilon/\bar\sigma_t` and
the reverse Euler–Maruyama step is

.. math:: z_{t-1} = z_t - [\theta_t(\mu - z_t) - \sigma_t^2 s]\,dt - \sigma_t\sqrt{dt}\,\xi .

Schedule ("cosine", :math:`s = 0.008`): with :math:`n = T+2`,
:math:`\bar\alpha_k = \cos^2\!\big(\tfrac{k/n + s}{1+s}\tfrac{\pi}{2}\big)/\bar\alpha_0`,
:math:`\theta = 1 - \bar\alpha_{1..n-1}` (``T+1`` values, indices 0..T),
:math:`\bar\theta_t = \sum_{k\le t}\theta_k - \theta_0`, and :math:`dt = -\ln(\text{eps})/\bar\theta_T`
so that :math:`e^{-\bar\theta_T dt} = \text{eps} = 0.005`.
"""

from __future__ import annotations

import math

import torch

T_like = torch.Tensor | int


class IRSDE:
    """Schedule and closed forms of the mean-reverting SDE; ``t`` is an int or a ``[B]`` long tensor.

    Tensors of time-indexed quantities have shape ``[T+1]``; ``_at(v, t)`` broadcasts them to
    ``[B,1,1,1]`` for a batch of per-sample steps.
    """

    def __init__(self, *, T: int = 100, max_sigma: float = 30.0, eps: float = 0.005, s: float = 0.008):
        if T < 2:
            raise ValueError(f"T must be >= 2, got {T}")
        if not 0 < eps < 1:
            raise ValueError(f"eps must be in (0, 1), got {eps}")
        self.T = T
        self.lam = max_sigma / 255 if max_sigma >= 1 else max_sigma  # λ
        n = T + 2
        k = torch.linspace(0, n, n + 1, dtype=torch.float64)
        alpha_bar = torch.cos(((k / n) + s) / (1 + s) * math.pi * 0.5) ** 2
        alpha_bar = alpha_bar / alpha_bar[0]
        self.thetas = (1 - alpha_bar[1:-1])  # θ_t, [T+1]
        self.thetas_cumsum = torch.cumsum(self.thetas, 0) - self.thetas[0]  # θ̄_t, [T+1]
        self.dt = -math.log(eps) / self.thetas_cumsum[-1].item()
        self.sigmas = torch.sqrt(2 * self.lam ** 2 * self.thetas)  # σ_t
        self.sigma_bars = self.lam * torch.sqrt(1 - torch.exp(-2 * self.thetas_cumsum * self.dt))  # σ̄_t
        for name in ("thetas", "thetas_cumsum", "sigmas", "sigma_bars"):
            setattr(self, name, getattr(self, name).float())

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _at(v: torch.Tensor, t: T_like, like: torch.Tensor) -> torch.Tensor:
        if isinstance(t, int):
            return v[t].to(like.device)
        return v.to(like.device)[t.long().to(like.device)].view(-1, *([1] * (like.dim() - 1)))

    def decay(self, t: T_like, like: torch.Tensor) -> torch.Tensor:
        """:math:`e^{-\\bar\\theta_t dt}`: how much of :math:`z_0-\\mu` survives at step t."""
        return torch.exp(-self._at(self.thetas_cumsum, t, like) * self.dt)

    # -- forward process ---------------------------------------------------------------------
    def mu_bar(self, z0: torch.Tensor, mu: torch.Tensor, t: T_like) -> torch.Tensor:
        """Mean of the marginal :math:`\\mu + (z_0-\\mu)e^{-\\bar\\theta_t dt}`."""
        return mu + (z0 - mu) * self.decay(t, z0)

    def sigma_bar(self, t: T_like, like: torch.Tensor) -> torch.Tensor:
        return self._at(self.sigma_bars, t, like)

    def marginal(self, z0: torch.Tensor, mu: torch.Tensor, t: T_like, *,
                 generator: torch.Generator | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Sample :math:`z_t \\sim q(z_t\\mid z_0, \\mu)`; ``noise`` is :math:`\\epsilon` when drawn by the caller."""
        eps = noise if noise is not None else \
            torch.randn(z0.shape, generator=generator, device=z0.device) if generator is not None else torch.randn_like(z0)
        return self.mu_bar(z0, mu, t) + self.sigma_bar(t, z0) * eps

    def forward_step(self, z: torch.Tensor, mu: torch.Tensor, t: T_like, *,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """One Euler step of the forward SDE from step t to t+1 with :math:`\\theta_t` (as the code does)."""
        xi = torch.randn(z.shape, generator=generator, device=z.device) if generator is not None \
            else torch.randn_like(z)
        th, sg = self._at(self.thetas, t, z), self._at(self.sigmas, t, z)
        return z + th * (mu - z) * self.dt + sg * math.sqrt(self.dt) * xi

    def random_t(self, batch: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Training steps :math:`t \\sim \\mathcal U\\{2,\\dots,T\\}` (the official sampler): ``[B]`` long."""
        return torch.randint(2, self.T + 1, (batch,), generator=generator)

    # -- reverse process ---------------------------------------------------------------------
    def score_from_noise(self, eps_hat: torch.Tensor, t: T_like) -> torch.Tensor:
        """:math:`s = -\\hat\\epsilon / \\bar\\sigma_t`."""
        return -eps_hat / self.sigma_bar(t, eps_hat)

    def reverse_mean(self, z: torch.Tensor, mu: torch.Tensor, eps_hat: torch.Tensor, t: T_like) -> torch.Tensor:
        """Drift-only reverse step :math:`z_t - [\\theta_t(\\mu-z_t) - \\sigma_t^2 s]dt`."""
        score = self.score_from_noise(eps_hat, t)
        th, sg = self._at(self.thetas, t, z), self._at(self.sigmas, t, z)
        return z - (th * (mu - z) - sg ** 2 * score) * self.dt

    def reverse_step(self, z: torch.Tensor, mu: torch.Tensor, eps_hat: torch.Tensor, t: T_like, *,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """Stochastic reverse step: :meth:`reverse_mean` minus :math:`\\sigma_t\\sqrt{dt}\\,\\xi`."""
        xi = torch.randn(z.shape, generator=generator, device=z.device) if generator is not None \
            else torch.randn_like(z)
        return self.reverse_mean(z, mu, eps_hat, t) - self._at(self.sigmas, t, z) * math.sqrt(self.dt) * xi

    def optimum(self, zt: torch.Tensor, z0: torch.Tensor, mu: torch.Tensor, t: T_like) -> torch.Tensor:
        """Posterior mean :math:`z^*_{t-1}` of :math:`q(z_{t-1}\\mid z_t, z_0)` (the training target)."""
        A = torch.exp(-self._at(self.thetas, t, zt) * self.dt)
        B = self.decay(t, zt)
        C = self.decay(t - 1, zt)
        return mu + A * (1 - C ** 2) / (1 - B ** 2) * (zt - mu) + C * (1 - A ** 2) / (1 - B ** 2) * (z0 - mu)

    def predict_z0(self, z: torch.Tensor, mu: torch.Tensor, eps_hat: torch.Tensor, t: T_like) -> torch.Tensor:
        """:math:`\\hat z_0 = \\mu + (z_t - \\mu - \\bar\\sigma_t\\hat\\epsilon)/e^{-\\bar\\theta_t dt}`."""
        return mu + (z - mu - self.sigma_bar(t, z) * eps_hat) / self.decay(t, z)
