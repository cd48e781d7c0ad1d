r"""The denoisers: IR-SDE's conditional U-Net, and the same U-Net with SPADE structure injection.

Both predict the noise :math:`\hat\epsilon` from the state :math:`z_t`, the mean :math:`\mu` and
the step :math:`t`. The input is :math:`[z_t-\mu,\ \mu]` (``2·in_nc`` channels), reflect-padded
to a multiple of :math:`2^{\text{depth}}`:

- encoder level :math:`i = 0..\text{depth}-1` at width :math:`d_i = nf\cdot 2^i`: two time-FiLM
  ResBlocks, residual pre-norm linear attention (4 heads × 32), then a 4×4 stride-2 conv to
  :math:`2d_i` (a 3×3 conv on the last level, which keeps the resolution);
- **structure-guided texture net only**: after each downsample,
  :math:`h \leftarrow \text{SPADEBlock}(h, S)` where
  :math:`\text{SPADE}(h,S) = \text{PN}(h)\odot(1+\gamma(S)) + \beta(S)` with positional
  (per-pixel, across-channel) normalisation PN, and the block is
  :math:`h + \text{conv}(\text{lrelu}(\text{SPADE}(\text{conv}(\text{lrelu}(\text{SPADE}(h,S))),S)))`
  with spectral-normed 3×3 convs (:class:`SNConv2d`, which divides the conv output by σ rather than the weight);
- a middle ResBlock–attention–ResBlock at :math:`nf\cdot 2^{\text{depth}}`, a mirrored decoder
  with skip concatenations, a final ResBlock on :math:`[h, h_{\text{init}}]` and a 3×3 conv.

The structure network :math:`\epsilon_\phi(x_t,\mu_x,t)` is ``ConditionalUNet(in_nc=1, spade=False)``;
the texture network :math:`\tilde\epsilon_\varphi(y_t,\mu_y,t,S)` is ``ConditionalUNet(in_nc=3,
spade=True)``; the IR-SDE baseline is ``ConditionalUNet(in_nc=3, spade=False)``. With
``nf=64, depth=4`` these are the official networks (137,133,825 and 163,333,763 parameters).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def conv(c_in: int, c_out: int, k: int = 3, bias: bool = False) -> nn.Conv2d:
    """'Same' convolution; bias-free like IR-SDE's ``default_conv``."""
    return nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=bias)


class SinusoidalEmbedding(nn.Module):
    """Sinusoidal embedding of the integer step: ``[B] -> [B, dim]`` (sin half, then cos half)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half, device=t.device) * -(math.log(10000) / (half - 1)))
        arg = t.float()[:, None] * freqs[None]  # [B, half]
        return torch.cat([arg.sin(), arg.cos()], dim=-1)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over channels at each pixel with a learned gain only: ``[B,C,H,W]``."""

    def __init__(self, dim: int):
        super().__init__()
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))

    def forward(self, x):
        var, mean = torch.var_mean(x, dim=1, unbiased=False, keepdim=True)
        return (x - mean) * (var + 1e-5).rsqrt() * self.g


class LinearAttention(nn.Module):
    """Linear attention: softmax over features for q, over positions for k; ``[B,C,H,W]`` in and out."""

    def __init__(self, dim: int, *, heads: int = 4, dim_head: int = 32):
        super().__init__()
        self.heads, self.scale = heads, dim_head ** -0.5
        hidden = heads * dim_head
        self.to_qkv = nn.Conv2d(dim, hidden * 3, 1, bias=False)
        self.to_out = nn.Sequential(nn.Conv2d(hidden, dim, 1), ChannelLayerNorm(dim))

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = (t.reshape(b, self.heads, -1, h * w) for t in self.to_qkv(x).chunk(3, dim=1))  # [B,h,d,N]
        q = q.softmax(dim=-2) * self.scale
        k = k.softmax(dim=-1)
        v = v / (h * w)
        context = torch.einsum("bhdn,bhen->bhde", k, v)  # [B, h, d, d]
        out = torch.einsum("bhde,bhdn->bhen", context, q).reshape(b, -1, h, w)  # [B, h·d, H, W]
        return self.to_out(out)


class PreNormAttention(nn.Module):
    """``x + LinearAttention(LayerNorm(x))``."""

    def __init__(self, dim: int, *, heads: int = 4, dim_head: int = 32):
        super().__init__()
        self.norm, self.fn = ChannelLayerNorm(dim), LinearAttention(dim, heads=heads, dim_head=dim_head)

    def forward(self, x):
        return x + self.fn(self.norm(x))


class ResBlock(nn.Module):
    """conv3 → FiLM (1+scale, shift from t) → SiLU → conv3 → SiLU, plus a 1×1 skip if widths differ."""

    def __init__(self, dim_in: int, dim_out: int, *, time_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_dim, dim_out * 2))
        self.conv1, self.conv2 = conv(dim_in, dim_out), conv(dim_out, dim_out)
        self.res_conv = conv(dim_in, dim_out, 1) if dim_in != dim_out else nn.Identity()

    def forward(self, x, t_emb):
        scale, shift = self.mlp(t_emb)[:, :, None, None].chunk(2, dim=1)  # [B, dim_out, 1, 1] each
        h = F.silu(self.conv1(x) * (scale + 1) + shift)
        h = F.silu(self.conv2(h))
        return h + self.res_conv(x)


def positional_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Normalise across channels at each pixel (unbiased variance, as the official code).

    :math:`(x-\\bar x)/\\sqrt{s^2+\\epsilon}`, computed as one ``var_mean`` pass and a product with
    :math:`(s^2+\\epsilon)^{-1/2}` (cheaper forward and backward than a mean, a var and a division).
    """
    var, mean = torch.var_mean(x, dim=1, correction=1, keepdim=True)  # [B, 1, H, W] each
    return (x - mean) * (var + eps).rsqrt()


class SPADE(nn.Module):
    """:math:`\\text{PN}(h)\\odot(1+\\gamma(S)) + \\beta(S)`, S resized to h's size by nearest neighbour."""

    def __init__(self, channels: int, *, label_nc: int = 1, hidden: int = 16):
        super().__init__()
        self.shared = nn.Sequential(nn.Conv2d(label_nc, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, h, S):
        a = self.shared(F.interpolate(S, size=h.shape[2:], mode="nearest"))
        return positional_norm(h) * (1 + self.gamma(a)) + self.beta(a)


class SNConv2d(nn.Conv2d):
    r"""A convolution with spectrally normalised weight, :math:`\text{conv}(h, W/\sigma(W)) + b`
    (Miyato et al. 2018), one power iteration per training forward.

    :math:`\sigma(W) = u^\top W_{mat} v` with :math:`W_{mat}` the ``[C_out, C_in·k·k]`` matrix and
    the power iteration (no gradient) :math:`v \leftarrow W_{mat}^\top u/\lVert\cdot\rVert`,
    :math:`u \leftarrow W_{mat} v/\lVert\cdot\rVert`; the gradient flows through :math:`\sigma`, as in
    ``torch.nn.utils.spectral_norm`` (same parameters ``weight_orig``, buffers ``weight_u``,
    ``weight_v``, same initial draws). The convolution is linear in :math:`W`, so the division by
    :math:`\sigma` is applied to the output, :math:`\text{conv}(h, W)/\sigma + b`: the same
    function, computed on the ``[B, C_out, H, W]`` activation instead of the (much larger, at
    the paper's width and 64² crops) weight, in the forward and the backward pass.
    """

    def __init__(self, c_in: int, c_out: int, k: int = 3, *, padding: int = 1, eps: float = 1e-12):
        super().__init__(c_in, c_out, k, padding=padding)
        self.eps = eps
        w = self.weight.detach()
        del self.weight
        self.weight_orig = nn.Parameter(w)  # [C_out, C_in, k, k]
        h, width = w.shape[0], w[0].numel()
        self.register_buffer("weight_u", F.normalize(w.new_empty(h).normal_(0, 1), dim=0, eps=eps))
        self.register_buffer("weight_v", F.normalize(w.new_empty(width).normal_(0, 1), dim=0, eps=eps))

    def sigma(self, *, power_iteration: bool = False) -> torch.Tensor:
        """:math:`\\sigma = u^\\top W_{mat} v`, after one power-iteration update of u, v if asked."""
        W = self.weight_orig.flatten(1)  # [C_out, C_in·k·k]
        if power_iteration:
            with torch.no_grad():
                self.weight_v.copy_(F.normalize(W.t() @ self.weight_u, dim=0, eps=self.eps))
                self.weight_u.copy_(F.normalize(W @ self.weight_v, dim=0, eps=self.eps))
        u, v = self.weight_u.clone(), self.weight_v.clone()  # the buffers change in place next step
        return torch.dot(u, W @ v)

    @property
    def weight(self) -> torch.Tensor:
        """The normalised weight :math:`W/\\sigma` (for inspection; the forward never builds it)."""
        return self.weight_orig / self.sigma()

    def forward(self, h):
        out = F.conv2d(h, self.weight_orig, None, self.stride, self.padding)  # [B, C_out, H, W]
        return out / self.sigma(power_iteration=self.training) + self.bias[:, None, None]


class SPADEBlock(nn.Module):
    """Residual SPADE block: :math:`h + c_1(\\text{lrelu}(\\text{SPADE}(c_0(\\text{lrelu}(\\text{SPADE}(h,S))),S)))`."""

    def __init__(self, channels: int, *, label_nc: int = 1):
        super().__init__()
        self.conv_0 = SNConv2d(channels, channels, 3, padding=1)
        self.conv_1 = SNConv2d(channels, channels, 3, padding=1)
        self.norm_0 = SPADE(channels, label_nc=label_nc)
        self.norm_1 = SPADE(channels, label_nc=label_nc)

    def forward(self, h, S):
        dh = self.conv_0(F.leaky_relu(self.norm_0(h, S), 0.2))
        dh = self.conv_1(F.leaky_relu(self.norm_1(dh, S), 0.2))
        return h + dh


class ConditionalUNet(nn.Module):
    """:math:`\\hat\\epsilon = \\text{net}(z_t, \\mu, t[, S])`: ``[B,in_nc,H,W]`` → ``[B,out_nc,H,W]``."""

    def __init__(self, *, in_nc: int, out_nc: int | None = None, nf: int = 64, depth: int = 4,
                 spade: bool = False, struct_nc: int = 1, heads: int = 4, dim_head: int = 32):
        super().__init__()
        if nf < 2 or nf % 2 or depth < 1:
            raise ValueError(f"nf must be an even number >= 2 and depth >= 1; got nf={nf}, depth={depth}")
        out_nc = out_nc or in_nc
        self.depth, self.spade = depth, spade
        time_dim = 4 * nf
        self.init_conv = conv(2 * in_nc, nf, 7)
        self.time_mlp = nn.Sequential(SinusoidalEmbedding(nf), nn.Linear(nf, time_dim), nn.GELU(),
                                      nn.Linear(time_dim, time_dim))
        self.downs, self.ups = nn.ModuleList(), nn.ModuleList()
        self.guides = nn.ModuleList()
        for i in range(depth):
            d_in, d_out = nf * 2 ** i, nf * 2 ** (i + 1)
            last = i == depth - 1
            self.downs.append(nn.ModuleList([
                ResBlock(d_in, d_in, time_dim=time_dim), ResBlock(d_in, d_in, time_dim=time_dim),
                PreNormAttention(d_in, heads=heads, dim_head=dim_head),
                conv(d_in, d_out) if last else nn.Conv2d(d_in, d_out, 4, 2, 1),
            ]))
            if spade:
                self.guides.append(SPADEBlock(d_out, label_nc=struct_nc))
            self.ups.insert(0, nn.ModuleList([
                ResBlock(d_out + d_in, d_out, time_dim=time_dim), ResBlock(d_out + d_in, d_out, time_dim=time_dim),
                PreNormAttention(d_out, heads=heads, dim_head=dim_head),
                conv(d_out, d_in) if i == 0 else nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                               nn.Conv2d(d_out, d_in, 3, 1, 1)),
            ]))
        mid = nf * 2 ** depth
        self.mid_block1 = ResBlock(mid, mid, time_dim=time_dim)
        self.mid_attn = PreNormAttention(mid, heads=heads, dim_head=dim_head)
        self.mid_block2 = ResBlock(mid, mid, time_dim=time_dim)
        self.final_res_block = ResBlock(2 * nf, nf, time_dim=time_dim)
        self.final_conv = nn.Conv2d(nf, out_nc, 3, 1, 1)

    def forward(self, z_t: torch.Tensor, mu: torch.Tensor, t: torch.Tensor | int,
                S: torch.Tensor | None = None) -> torch.Tensor:
        if self.spade and S is None:
            raise ValueError("the structure-guided network needs the structure S")
        B, _, H, W = z_t.shape
        t = torch.full((B,), int(t), device=z_t.device) if isinstance(t, int) else t.reshape(-1).expand(B)
        x = torch.cat([z_t - mu, mu], dim=1)  # [B, 2·in_nc, H, W]
        s = 2 ** self.depth
        x = F.pad(x, (0, (s - W % s) % s, 0, (s - H % s) % s), mode="reflect")
        x = self.init_conv(x)  # [B, nf, H', W']
        x_init = x
        t_emb = self.time_mlp(t)  # [B, 4nf]
        skips = []
        for i, (b1, b2, attn, down) in enumerate(self.downs):
            x = b1(x, t_emb)
            skips.append(x)
            x = attn(b2(x, t_emb))
            skips.append(x)
            x = down(x)  # [B, 2·d_i, H/2^(i+1), ...] (the last level keeps its size)
            if self.spade:
                x = self.guides[i](x, S)
        x = self.mid_block2(self.mid_attn(self.mid_block1(x, t_emb)), t_emb)
        for b1, b2, attn, up in self.ups:
            x = b1(torch.cat([x, skips.pop()], dim=1), t_emb)
            x = b2(torch.cat([x, skips.pop()], dim=1), t_emb)
            x = up(attn(x))
        x = self.final_res_block(torch.cat([x, x_init], dim=1), t_emb)  # [B, nf, H', W']
        return self.final_conv(x)[..., :H, :W]
