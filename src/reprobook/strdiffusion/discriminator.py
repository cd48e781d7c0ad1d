r"""The time-conditioned discriminator :math:`D(t, y, x)` that scores texture–structure consistency.

It is DDGAN's small discriminator with 4 input channels (texture :math:`y`, 3 ch, concatenated
with structure :math:`x`, 1 ch). A higher output means "real / consistent": it is trained with

.. math:: \mathcal L_D = \mathrm{softplus}(-D(t, y^*_{t-1}, S)) + \mathrm{softplus}(D(t, y_t, S))
          + \mathrm{Triplet}\big(D(t, y^*_{t-1}\odot m + y_t\odot(1-m), S),\ D(t,y^*_{t-1},S),\ D(t,y_t,S)\big)

(:mod:`reprobook.strdiffusion.losses`). Layout (``ngf = 64`` is the official width):
1×1 conv to ``2ngf`` → four DownConvBlocks (2ngf→2ngf, 2ngf→4ngf↓, 4ngf→8ngf↓, 8ngf→8ngf↓) →
minibatch-stddev feature (group 4) → 3×3 conv → LeakyReLU → spatial sum → linear → 1.
Each DownConvBlock computes ``(conv2(fir↓(lrelu(conv1(lrelu(x)) + dense(t_emb)))) + skip(fir↓(x))) / √2``.

The FIR downsampling (StyleGAN2's ``upfirdn2d`` with kernel ``[1,3,3,1]``, which needs a CUDA
build in the official code) is a depthwise stride-2 convolution with the normalised kernel
:math:`k k^\top/\sum` and zero padding 1 here.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from reprobook.engine import distributed


def variance_scaling_(w: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Uniform init with variance ``scale / fan_avg`` (DDGAN's ``variance_scaling_init_``)."""
    fan_in = w.shape[1] * (w[0, 0].numel() if w.dim() > 2 else 1)
    fan_out = w.shape[0] * (w[0, 0].numel() if w.dim() > 2 else 1)
    var = (1e-10 if scale == 0 else scale) / max(1.0, (fan_in + fan_out) / 2)
    with torch.no_grad():
        return w.uniform_(-math.sqrt(3 * var), math.sqrt(3 * var))


def dense(c_in: int, c_out: int, init_scale: float = 1.0) -> nn.Linear:
    lin = nn.Linear(c_in, c_out)
    variance_scaling_(lin.weight, init_scale)
    nn.init.zeros_(lin.bias)
    return lin


def conv2d(c_in: int, c_out: int, k: int, *, padding: int, bias: bool = True, init_scale: float = 1.0) -> nn.Conv2d:
    c = nn.Conv2d(c_in, c_out, k, padding=padding, bias=bias)
    variance_scaling_(c.weight, init_scale)
    if bias:
        nn.init.zeros_(c.bias)
    return c


def fir_downsample(x: torch.Tensor, k: tuple[float, ...] = (1, 3, 3, 1)) -> torch.Tensor:
    """FIR low-pass then ×2 decimation: ``[B,C,H,W] -> [B,C,H/2,W/2]`` (depthwise conv, pad 1)."""
    k1 = torch.tensor(k, dtype=x.dtype, device=x.device)
    k2 = torch.outer(k1, k1)
    k2 = k2 / k2.sum()  # [4, 4], sums to 1 so a constant image stays constant in the interior
    C = x.shape[1]
    pad = (len(k) - 2 + 1) // 2  # = 1 for a 4-tap kernel and factor 2
    return F.conv2d(F.pad(x, (pad, pad, pad, pad)), k2.expand(C, 1, *k2.shape), stride=2, groups=C)


def timestep_embedding(t: torch.Tensor, dim: int, max_positions: int = 10000) -> torch.Tensor:
    """Sinusoidal embedding ``[B] -> [B, dim]`` (DDPM form, sin half then cos half)."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=t.device) * -(math.log(max_positions) / (half - 1)))
    arg = t.float()[:, None] * freqs[None]
    return torch.cat([arg.sin(), arg.cos()], dim=1)


class DownConvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, *, t_emb_dim: int, downsample: bool = False):
        super().__init__()
        self.downsample = downsample
        self.conv1 = conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = conv2d(c_out, c_out, 3, padding=1, init_scale=0.0)
        self.dense_t1 = dense(t_emb_dim, c_out)
        self.skip = conv2d(c_in, c_out, 1, padding=0, bias=False)

    def forward(self, x, t_emb):
        out = self.conv1(F.leaky_relu(x, 0.2)) + self.dense_t1(t_emb)[..., None, None]
        out = F.leaky_relu(out, 0.2)
        if self.downsample:
            out, x = fir_downsample(out), fir_downsample(x)
        return (self.conv2(out) + self.skip(x)) / math.sqrt(2)


class Discriminator(nn.Module):
    """:math:`D(t, y, x)`: ``t [B]`` (or int), ``y [B,3,H,W]``, ``x [B,1,H,W]`` → ``[B, 1]``.

    ``stddev_group`` is the minibatch-stddev group (4 in training); the official sampler calls D
    on one image, where the feature becomes the constant :math:`\\sqrt{10^{-8}}`, which is what
    ``stddev_group=1`` reproduces for a batch of independent images.
    """

    def __init__(self, *, nc: int = 4, ngf: int = 64, t_emb_dim: int = 256, stddev_group: int = 4):
        super().__init__()
        self.t_emb_dim, self.stddev_group = t_emb_dim, stddev_group
        self.t_embed = nn.Sequential(dense(t_emb_dim, t_emb_dim), nn.LeakyReLU(0.2), dense(t_emb_dim, t_emb_dim))
        self.start_conv = conv2d(nc, ngf * 2, 1, padding=0)
        self.conv1 = DownConvBlock(ngf * 2, ngf * 2, t_emb_dim=t_emb_dim)
        self.conv2 = DownConvBlock(ngf * 2, ngf * 4, t_emb_dim=t_emb_dim, downsample=True)
        self.conv3 = DownConvBlock(ngf * 4, ngf * 8, t_emb_dim=t_emb_dim, downsample=True)
        self.conv4 = DownConvBlock(ngf * 8, ngf * 8, t_emb_dim=t_emb_dim, downsample=True)
        self.final_conv = conv2d(ngf * 8 + 1, ngf * 8, 3, padding=1, init_scale=0.0)
        self.end_linear = dense(ngf * 8, 1)

    def minibatch_stddev(self, h: torch.Tensor, group: int) -> torch.Tensor:
        """Append the mean (over features and pixels) std across a group of samples: ``C -> C+1``.

        Groups are strided over the batch (sample i with i + B/g, ...). In data-parallel training
        they are those of the *global* batch: the local features are gathered (differentiably),
        the feature is computed for all samples, and this process keeps its rows.
        """
        rows = slice(None)
        if self.training and group > 1 and distributed.current().enabled:
            from torch.distributed.nn.functional import all_gather

            rows = distributed.local_slice(len(h) * distributed.world_size())
            with warnings.catch_warnings():  # the autograd-aware gather is marked deprecated, not replaced
                warnings.simplefilter("ignore", FutureWarning)
                # the group is named: the function's default is bound to the group present at import
                h_all = torch.cat(all_gather(h, group=torch.distributed.group.WORLD))  # [B_global, C, H, W]
        else:
            h_all = h
        B, C, H, W = h_all.shape
        g = min(B, group)
        if B % g:
            raise ValueError(f"batch {B} is not divisible by the stddev group {g}")
        sd = torch.sqrt(h_all.view(g, -1, C, H, W).var(0, unbiased=False) + 1e-8)  # [B/g, C, H, W]
        sd = sd.mean(dim=(1, 2, 3)).view(-1, 1, 1, 1).repeat(g, 1, H, W)  # [B, 1, H, W]
        return torch.cat([h, sd[rows]], dim=1)

    def forward(self, t, y, x, *, stddev_group: int | None = None):
        B = y.shape[0]
        t = torch.full((B,), int(t), device=y.device) if isinstance(t, int) else t.reshape(-1).expand(B)
        t_emb = F.leaky_relu(self.t_embed(timestep_embedding(t, self.t_emb_dim)), 0.2)  # [B, t_emb]
        h = self.start_conv(torch.cat([y, x], dim=1))  # [B, 2ngf, H, W]
        h = self.conv1(h, t_emb)
        h = self.conv2(h, t_emb)  # H/2
        h = self.conv3(h, t_emb)  # H/4
        h = self.conv4(h, t_emb)  # H/8, [B, 8ngf, ., .]
        h = self.minibatch_stddev(h, stddev_group or self.stddev_group)
        h = F.leaky_relu(self.final_conv(h), 0.2)
        return self.end_linear(h.sum(dim=(2, 3)))  # [B, 1]


class ThreeScores(nn.Module):
    """``D`` on the real, fake and anchor textures in one forward pass: ``-> (d_real, d_fake, d_anchor)``.

    Data-parallel training wraps this module rather than ``D``, so that the three uses of D's
    weights belong to one forward and one backward, as DDP expects.
    """

    def __init__(self, D: Discriminator):
        super().__init__()
        self.D = D

    def forward(self, t, real, fake, anchor, S):
        return self.D(t, real, S), self.D(t, fake, S), self.D(t, anchor, S)
