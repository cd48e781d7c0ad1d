r"""Inpainting by reverse diffusion: IR-SDE, structure-guided, and with adaptive resampling.

Start (code-exact): :math:`y_T = I\odot m + \lambda\epsilon`, :math:`x_T = E\odot m + \lambda\epsilon'`.

**Early stage**, :math:`t = T \dots \lfloor\text{split}\cdot T\rfloor` (``split = 0.4`` in the paper):

1. known structure :math:`x^k \sim q(x_{t-1}\mid G\odot m, E\odot m)`; paste it, then one reverse
   step of the structure net: :math:`x \leftarrow \mathrm{RS}_x(x^k\odot m + x\odot(1-m), t)`;
2. texture step guided by that structure: :math:`y' = \mathrm{RS}_y(y_t, \tilde\epsilon_\varphi(y_t,\mu_y,t,x), t)`;
3. adaptive resampling (every ``jump``-th step, at most ``u_max − 1`` rounds): re-noise the
   structure ``re`` forward steps, denoise it back (pasting :math:`x^k`), redo the texture
   step **from the same** :math:`y_t`, score the pair with the discriminator
   :math:`D_p = D(t, \tilde y\odot m, \tilde x)` and compare with the first score :math:`D_n`:

   - official code (``criterion="code"``): the candidate is *better* if :math:`D_p < D_n`;
   - paper text (``criterion="paper"``): *better* if :math:`D_p > D_n` (higher D = more
     consistent, which is how D is trained);

   a better candidate replaces :math:`(y', x)`; a worse one is averaged in before round
   ``u_min`` and ends the resampling from round ``u_min`` on. :math:`D_n` is never updated.
4. :math:`y_{t-1} = y'`, :math:`x_{t-1} = x^k\odot m + x\odot(1-m)`.

**Late stage**, :math:`t < \lfloor\text{split}\cdot T\rfloor`: the texture's own grayscale guides,
:math:`S = \mathrm{mean}_c(y_t)`. **End**: :math:`\hat I = I\odot m + y_0\odot(1-m)`.

The IR-SDE baseline runs the unguided texture net for all T steps. The diagnostic ``mode="ideal"``
runs the texture net for all T steps guided by the **ideal** structure it was trained with,
:math:`S_t = x^*_{t-1}(x_t, G, t)` with :math:`x_t\sim q(x_t\mid G, E\odot m)` (the ground-truth
grayscale of the hole enters through :math:`G`): what the texture network can do with a perfect
structure network. Acceptance is decided per
image (the official sampler runs one image at a time); D is evaluated with minibatch-stddev
group 1, which is what it computes on one image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from reprobook.strdiffusion.metrics import psnr as _psnr
from reprobook.strdiffusion.sde import IRSDE

Mode = Literal["irsde", "guided", "full"]
MODES = ("irsde", "guided", "full", "ideal")
CRITERIA = ("code", "paper")


@dataclass(frozen=True)
class Resampling:
    """Adaptive-resampling constants (official T=400: 6, 3, 5, 5; T=100 comment: 25, 4, 2, 2)."""

    u_max: int = 4
    u_min: int = 2
    jump: int = 5
    re: int = 2
    criterion: str = "code"

    def __post_init__(self):
        if not (1 <= self.u_min <= self.u_max and self.jump >= 1 and self.re >= 1):
            raise ValueError("need 1 <= u_min <= u_max, jump >= 1, re >= 1")
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}; got {self.criterion!r}")


@dataclass
class SampleStats:
    """Resampling log: per resampled step, rounds tried / accepted / averaged (summed over images).

    ``rounds_img`` and ``agree_img`` (``[B]``, summed over calls on the same images) count, per
    image, the rounds and those where the acceptance rule's verdict ("the candidate is better")
    agrees with the truth: the candidate texture :math:`\tilde y` is closer (squared error over the
    hole) to the ground-truth image than the first candidate :math:`y'` it is compared with.
    """

    rounds: int = 0
    accepted: int = 0
    averaged: int = 0
    d_n: list = field(default_factory=list)
    d_p: list = field(default_factory=list)
    rounds_img: torch.Tensor | None = None
    agree_img: torch.Tensor | None = None

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / max(self.rounds, 1)

    def agreement(self) -> list[float]:
        """Per image with at least one round: the fraction of rounds where the rule picked right."""
        if self.rounds_img is None:
            return []
        keep = self.rounds_img > 0
        return (self.agree_img[keep] / self.rounds_img[keep]).tolist()


def early_end(T: int, split: float) -> int:
    """Last step of the early stage: :math:`\\max(\\lfloor \\text{split}\\cdot T\\rfloor, 1)`."""
    return max(int(split * T), 1)


@torch.no_grad()
def inpaint(*, sde: IRSDE, img: torch.Tensor, mask: torch.Tensor, G: torch.Tensor, E: torch.Tensor,
            mode: str = "full", tex_net=None, str_net=None, D=None, split: float = 0.4,
            resampling: Resampling = Resampling(), generator: torch.Generator | None = None,
            trace: dict | None = None, stats: SampleStats | None = None) -> torch.Tensor:
    """Inpaint ``img [B,3,H,W]`` with ``mask [B,1,H,W]`` (1 known); ``G, E [B,1,H,W]`` its structure.

    ``trace`` (a dict) receives per-step region PSNRs of the texture state vs ``img`` and of the
    structure state vs ``G``: ``trace[t] = (psnr_y_known, psnr_y_hole, psnr_x_known, psnr_x_hole)``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if not 0.0 <= split <= 1.0:
        raise ValueError(f"split must be in [0, 1], got {split}")
    T, m = sde.T, mask
    hole = 1 - m
    dev = img.device

    def randn(like):
        return torch.randn(like.shape, generator=generator, device=dev) if generator is not None \
            else torch.randn_like(like)

    mu_y, mu_x = img * m, E * m  # terminal means
    y = mu_y + sde.lam * randn(img)  # y_T  [B, 3, H, W]
    xs = mu_x + sde.lam * randn(G)  # x_T  [B, 1, H, W]

    def log(t, y_state, x_state):
        if trace is not None:
            trace[t] = tuple(v.cpu() for v in (_psnr(y_state, img, m), _psnr(y_state, img, hole),
                                               _psnr(x_state, G, m) if x_state is not None else torch.full((len(img),), float("nan")),
                                               _psnr(x_state, G, hole) if x_state is not None else torch.full((len(img),), float("nan"))))

    log(T, y, xs if mode != "irsde" else None)
    if mode == "ideal":  # diagnostic: the teacher-forced structure of training at every step
        for t in range(T, 0, -1):
            x_t = sde.marginal(G, mu_x, t, generator=generator)
            S = sde.optimum(x_t, G, mu_x, t)  # x*_{t-1}  [B, 1, H, W]
            y = sde.reverse_step(y, mu_y, tex_net(y, mu_y, t, S), t, generator=generator)
            log(t - 1, y, S)
        return img * m + y * hole
    if mode == "irsde":
        for t in range(T, 0, -1):
            y = sde.reverse_step(y, mu_y, tex_net(y, mu_y, t), t, generator=generator)
            log(t - 1, y, None)
        return img * m + y * hole

    rs_x = lambda z, t: sde.reverse_step(z, mu_x, str_net(z, mu_x, t), t, generator=generator)  # noqa: E731
    rs_y = lambda z, t, S: sde.reverse_step(z, mu_y, tex_net(z, mu_y, t, S), t, generator=generator)  # noqa: E731
    t_end = early_end(T, split)
    B = len(img)
    for t in range(T, t_end - 1, -1):  # EARLY stage: structure denoising guides the texture
        xk = sde.marginal(G * m, mu_x, t - 1, generator=generator)  # known structure at t-1
        xs = rs_x(xk * m + xs * hole, t)
        xs_t = xs
        y_new = rs_y(y, t, xs)
        step = (resampling.re if t % resampling.jump == 0 else 0) if mode == "full" else 0
        if step + t > T:
            step = T - t + 1
        if step > 0:
            d_n = D(t, y_new * m, xs, stddev_group=1).view(-1)  # [B]
            active = torch.ones(B, dtype=torch.bool, device=dev)
            err_first = ((y_new - img) ** 2 * hole).flatten(1).sum(1)  # [B], the first candidate's hole error
            for i in range(1, resampling.u_max):
                xs1 = xs_t
                for j in range(step):  # re-noise the structure step levels
                    xs1 = sde.forward_step(xs1, mu_x, t - 1 + j, generator=generator)
                for z in range(step - 1, -1, -1):  # and denoise it back, pasting the known part
                    xs1 = rs_x(xk * m + xs1 * hole, t + z)
                y_tmp = rs_y(y, t, xs1)  # from the same y_t
                d_p = D(t, y_tmp * m, xs1, stddev_group=1).view(-1)
                better = d_p < d_n if resampling.criterion == "code" else d_p > d_n
                acc, worse = active & better, active & ~better
                avg = worse & (i < resampling.u_min)
                stop = worse & (i >= resampling.u_min)
                a4, v4 = acc.view(-1, 1, 1, 1), avg.view(-1, 1, 1, 1)
                y_new = torch.where(a4, y_tmp, torch.where(v4, (y_new + y_tmp) / 2, y_new))
                xs_t = torch.where(a4, xs1, torch.where(v4, (xs_t + xs1) / 2, xs_t))
                if stats is not None:
                    truly = ((y_tmp - img) ** 2 * hole).flatten(1).sum(1) < err_first  # [B]
                    if stats.rounds_img is None:
                        stats.rounds_img, stats.agree_img = torch.zeros(B), torch.zeros(B)
                    stats.rounds_img += active.float().cpu()
                    stats.agree_img += (active & (better == truly)).float().cpu()
                    stats.rounds += int(active.sum())
                    stats.accepted += int(acc.sum())
                    stats.averaged += int(avg.sum())
                    stats.d_n.append(d_n[active].mean().item())
                    stats.d_p.append(d_p[active].mean().item())
                active = active & ~stop
                if not active.any():
                    break
        y = y_new
        xs = xk * m + xs_t * hole
        log(t - 1, y, xs)
    for t in range(t_end - 1, 0, -1):  # LATE stage: the texture's own grayscale guides
        y = rs_y(y, t, y.mean(dim=1, keepdim=True))
        log(t - 1, y, None)
    return img * m + y * hole
