r"""FF-GAN generator and discriminators (Sun et al., 2023; code fork of DM-GAN).

**Conditioning augmentation** (CA): :math:`(\mu, \log\sigma^2) = \mathrm{GLU}(W s + b)`,
:math:`c = \mu + \varepsilon \odot \sigma`, with the KL term
:math:`L_{KL} = -\tfrac12\,\mathrm{mean}(1 + \log\sigma^2 - \mu^2 - \sigma^2)`.

**Stage 0**: :math:`h_0 = F_0([c; z])` (linear + BN + GLU to a 4×4 map, then nearest-upsampling
blocks), image :math:`\hat x_0 = \tanh(\mathrm{conv}(h_0))`.

**Refinement stage** :math:`i \ge 1` (input :math:`h \in \mathbb{R}^{C\times N}`, words
:math:`w \in \mathbb{R}^{n_e\times T}`, sentence :math:`s`):

- **FF-Block**, word attention: :math:`e' = U w`, :math:`\alpha_{n,t} = \operatorname{softmax}_t(h_n^\top e'_t)`
  (padded words masked or not: ``attn_mask``), word context :math:`c_n = \sum_t \alpha_{n,t} e'_t`;
  then conv fusion (ACM): :math:`a = \mathrm{conv}(c)`, :math:`h_f = h \odot \mathrm{conv}_W(a) + \mathrm{conv}_b(a)`.
- **GSR** (global sentence refinement, reconstructed from the code's ``SentenceAttention``):
  :math:`s' = V s`, :math:`\beta_{k,n} = \operatorname{softmax}_n(h_{k,n} s'_k)`, :math:`g_{k,n} = s'_k \beta_{k,n}`.
- :math:`[h_f; g]` → residual blocks → upsampling block → :math:`h_i` (twice the size) and :math:`\hat x_i`.

Ablations from the same code (``variant``): ``no_ff`` replaces the FF-Block by AttnGAN's plain
fusion, the concatenation :math:`[h; c; g]`, followed (``matched_ablation``, the default) by one
3×3 convolution :math:`3C \to 2C` so that the residual blocks keep FF-GAN's width :math:`2C`; its
:math:`6C^2\cdot 9` weights equal the ACM's :math:`3\,C\,H_{acm}\cdot 9` when the ACM's hidden
width is :math:`H_{acm} = 2C` (the book and paper presets), so both generators have exactly the same
number of parameters. Without it (``matched_ablation=False``, the chapter's earlier layout) the
residual blocks run at width :math:`3C`. ``no_gsr`` drops the GSR and duplicates
:math:`[h_f; h_f]` (DM-GAN's way of keeping the widths).

**Word features of a batch** (:func:`trim_words`): the official bi-LSTM returns
:math:`T` = the longest caption of the batch, and its word attention has no padding mask, so the
padded positions beyond a caption's end but within :math:`T` take softmax weight. Captions stored
padded to ``words_num`` are therefore cut to the batch's longest caption (the maximum over all
processes in data-parallel training) before they reach the generator.

**Discriminators** (one per stage): spectral-normalised stride-2 convs down to 4×4, an
unconditional logit and a conditional logit (sentence tiled 4×4, concatenated, SN conv3×3),
each a 4×4/4 conv + sigmoid. Chapter 6, §The idea.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

VARIANTS = ("full", "no_ff", "no_gsr")


class GLU(nn.Module):
    """First half of the channels gated by the sigmoid of the second half: ``[B,2C,...]`` → ``[B,C,...]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1] // 2
        return x[:, :c] * torch.sigmoid(x[:, c:])


def conv3x3(cin: int, cout: int, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, 1, 1, bias=bias)


def up_block(cin: int, cout: int) -> nn.Sequential:
    """Nearest ×2, conv3×3 to 2·cout, BN, GLU: ``[B,cin,H,W]`` → ``[B,cout,2H,2W]``."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv3x3(cin, 2 * cout),
                         nn.BatchNorm2d(2 * cout), GLU())


class ResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.block = nn.Sequential(conv3x3(channels, 2 * channels), nn.BatchNorm2d(2 * channels), GLU(),
                                   conv3x3(channels, channels), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class CANet(nn.Module):
    """Conditioning augmentation: ``s [B,n_e]`` → ``c, μ, log σ² [B,c_dim]``."""

    def __init__(self, *, nef: int, c_dim: int):
        super().__init__()
        self.fc = nn.Linear(nef, 4 * c_dim)
        self.glu, self.c_dim = GLU(), c_dim

    def forward(self, s: torch.Tensor, generator: torch.Generator | None = None, *, eps: torch.Tensor | None = None):
        x = self.glu(self.fc(s))  # [B, 2 c_dim]
        mu, logvar = x[:, : self.c_dim], x[:, self.c_dim:]
        if eps is None:  # ε may be given: a data-parallel step draws it for the global batch and slices it
            eps = torch.randn(mu.shape, generator=generator, device=mu.device) if generator is not None \
                else torch.randn_like(mu)
        return mu + eps.to(mu.device) * torch.exp(0.5 * logvar), mu, logvar


def kl_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """:math:`-\\tfrac12\\,\\mathrm{mean}(1 + \\log\\sigma^2 - \\mu^2 - \\sigma^2)` (mean over all elements)."""
    return -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())


class InitStage(nn.Module):
    """Stage 0: ``[c; z]`` → 4×4 map of ``ngf·2^k`` channels → ``k`` up-blocks → ``[B, ngf, 4·2^k, 4·2^k]``."""

    def __init__(self, *, ngf: int, in_dim: int, n_up: int):
        super().__init__()
        self.width = ngf * 2 ** n_up
        self.fc = nn.Sequential(nn.Linear(in_dim, self.width * 16 * 2, bias=False),
                                nn.BatchNorm1d(self.width * 16 * 2), GLU())
        self.ups = nn.Sequential(*[up_block(self.width // 2 ** i, self.width // 2 ** (i + 1)) for i in range(n_up)])

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([c, z], 1)).view(-1, self.width, 4, 4)  # [B, ngf·2^k, 4, 4]
        return self.ups(h)


class WordAttention(nn.Module):
    """FF-Block attention: every pixel attends over the words.

    ``h [B,C,H,W]``, ``w [B,n_e,T]``, ``mask [B,T]`` (True = padding) → word context
    ``c [B,C,H,W]`` and ``α [B,T,H,W]``.
    """

    def __init__(self, *, ngf: int, nef: int):
        super().__init__()
        self.U = nn.Conv1d(nef, ngf, 1, bias=False)

    def forward(self, h: torch.Tensor, w: torch.Tensor, mask: torch.Tensor | None = None):
        B, C, H, W = h.shape
        e = self.U(w)  # e' = U w: [B, C, T]
        logits = torch.bmm(h.flatten(2).transpose(1, 2), e)  # h_n^T e'_t: [B, N, T]
        if mask is not None:
            logits = logits.masked_fill(mask[:, None, :], float("-inf"))  # broadcast over pixels
        alpha = F.softmax(logits, dim=2)  # over words
        c = torch.bmm(e, alpha.transpose(1, 2)).view(B, C, H, W)  # c_n = Σ_t α_{n,t} e'_t
        return c, alpha.transpose(1, 2).reshape(B, -1, H, W)


class ACM(nn.Module):
    """FF-Block conv fusion: ``h_f = h ⊙ conv_W(a) + conv_b(a)``, ``a = conv(c)`` (all 3×3, no bias)."""

    def __init__(self, *, ngf: int, hidden: int):
        super().__init__()
        self.conv = conv3x3(ngf, hidden)
        self.conv_weight = conv3x3(hidden, ngf)
        self.conv_bias = conv3x3(hidden, ngf)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        a = self.conv(c)  # [B, hidden, H, W]
        return h * self.conv_weight(a) + self.conv_bias(a)


class SentenceAttention(nn.Module):
    """GSR: per channel, a sentence-weighted softmax over the pixels.

    ``h [B,C,H,W]``, ``s [B,n_e]`` → ``g [B,C,H,W]`` with ``g_{k,n} = s'_k β_{k,n}`` and ``β [B,C,H,W]``.
    """

    def __init__(self, *, ngf: int, nef: int):
        super().__init__()
        self.V = nn.Conv1d(nef, ngf, 1, bias=False)

    def forward(self, h: torch.Tensor, s: torch.Tensor):
        B, C, H, W = h.shape
        sp = self.V(s.unsqueeze(2))  # s' = V s: [B, C, 1]
        beta = F.softmax(h.flatten(2) * sp, dim=2)  # softmax over the N pixels: [B, C, N]
        return (sp * beta).view(B, C, H, W), beta.view(B, C, H, W)


def trim_words(w: torch.Tensor, cap_len: torch.Tensor, *, across_ranks: bool = True) -> torch.Tensor:
    """Word features ``w [B,n_e,T]`` cut to the batch's longest caption ``T' = max cap_len`` → ``[B,n_e,T']``.

    Under several processes ``T'`` is the maximum over all ranks (each rank holds a slice of the
    global batch, whose official RNN output has the global batch's longest caption as its length);
    ``across_ranks=False`` keeps this rank's own maximum (evaluation, where ranks hold different images).
    """
    from reprobook.engine import distributed

    t = cap_len.max().to(w.device).view(1).float()
    if across_ranks and distributed.world_size() > 1:
        t = distributed.all_reduce(t, "max")
    return w[:, :, : int(t.item())]


class NextStage(nn.Module):
    """One refinement stage: FF-Block and GSR, fusion, ``r_num`` residual blocks, ×2 upsampling."""

    def __init__(self, *, ngf: int, nef: int, acm_hidden: int, r_num: int, variant: str = "full",
                 matched_ablation: bool = True):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
        self.variant = variant
        self.w_att = WordAttention(ngf=ngf, nef=nef)
        if variant != "no_ff":
            self.affine = ACM(ngf=ngf, hidden=acm_hidden)
        if variant != "no_gsr":
            self.s_att = SentenceAttention(ngf=ngf, nef=nef)
        self.fuse = conv3x3(3 * ngf, 2 * ngf) if variant == "no_ff" and matched_ablation else None
        width = 3 * ngf if variant == "no_ff" and not matched_ablation else 2 * ngf
        self.residual = nn.Sequential(*[ResBlock(width) for _ in range(r_num)])
        self.upsample = up_block(width, ngf)

    def forward(self, h, w, s, mask=None):
        c, alpha = self.w_att(h, w, mask)  # [B, C, H, W], [B, T, H, W]
        if self.variant == "no_ff":
            g, _ = self.s_att(h, s)
            x = torch.cat([h, c, g], 1)  # AttnGAN-style concatenation + GSR: [B, 3C, H, W]
            if self.fuse is not None:
                x = self.fuse(x)  # parameter-matched: [B, 2C, H, W]
        else:
            h_f = self.affine(h, c)
            x = torch.cat([h_f, h_f if self.variant == "no_gsr" else self.s_att(h, s)[0]], 1)  # [B, 2C, H, W]
        return self.upsample(self.residual(x)), alpha  # [B, C, 2H, 2W]


class Generator(nn.Module):
    """``G(z, s, w)`` → images at every stage, word-attention maps per refinement stage, μ, log σ²."""

    def __init__(self, *, ngf: int, nef: int, z_dim: int, c_dim: int, base_size: int, branch_num: int,
                 acm_hidden: int, r_num: int, variant: str = "full", attn_mask: bool = True,
                 matched_ablation: bool = True):
        super().__init__()
        n_up = int(math.log2(base_size // 4))
        if base_size < 8 or 4 * 2 ** n_up != base_size:
            raise ValueError(f"base_size must be a power of two >= 8, got {base_size}")
        if branch_num < 1:
            raise ValueError(f"branch_num must be >= 1, got {branch_num}")
        self.z_dim, self.attn_mask, self.variant = z_dim, attn_mask, variant
        self.ca_net = CANet(nef=nef, c_dim=c_dim)
        self.h_net0 = InitStage(ngf=ngf, in_dim=z_dim + c_dim, n_up=n_up)
        self.next = nn.ModuleList([NextStage(ngf=ngf, nef=nef, acm_hidden=acm_hidden, r_num=r_num, variant=variant,
                                             matched_ablation=matched_ablation) for _ in range(branch_num - 1)])
        self.img = nn.ModuleList([nn.Sequential(conv3x3(ngf, 3), nn.Tanh()) for _ in range(branch_num)])

    def forward(self, z, s, w, cap_len=None, *, generator: torch.Generator | None = None,
                eps: torch.Tensor | None = None):
        mask = None
        if self.attn_mask and cap_len is not None:
            mask = torch.arange(w.shape[2], device=w.device)[None, :] >= cap_len.to(w.device)[:, None]  # [B, T]
        c, mu, logvar = self.ca_net(s, generator, eps=eps)  # eps: the CA noise ε [B, c_dim] if given
        h = self.h_net0(z, c)  # [B, ngf, base, base]
        images, attn = [self.img[0](h)], []
        for i, stage in enumerate(self.next):
            h, alpha = stage(h, w, s, mask)
            images.append(self.img[i + 1](h))
            attn.append(alpha)
        return images, attn, mu, logvar


class DLogits(nn.Module):
    """A discriminator head: optional sentence conditioning, then conv 4×4/4 + sigmoid → ``[B]``."""

    def __init__(self, *, channels: int, nef: int, condition: bool):
        super().__init__()
        self.joint = nn.Sequential(spectral_norm(conv3x3(channels + nef, channels, bias=True)),
                                   nn.LeakyReLU(0.2)) if condition else None
        self.outlogits = nn.Conv2d(channels, 1, 4, 4)

    def forward(self, h: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        if self.joint is not None:
            h = self.joint(torch.cat([h, s[:, :, None, None].expand(-1, -1, 4, 4)], 1))  # [B, C+n_e, 4, 4]
        return torch.sigmoid(self.outlogits(h)).view(-1)


class Discriminator(nn.Module):
    """Stage discriminator for ``size × size`` images: image code ``[B, C, 4, 4]`` and two heads.

    The official D64/D128/D256 are the cases ``size = 64·2^j``: four SN stride-2 convs (ndf → 8·ndf),
    ``j`` more (doubling), then ``j`` SN conv3×3 blocks halving back to 8·ndf. Smaller images use
    ``log2(size/4)`` stride-2 convs only.
    """

    def __init__(self, *, size: int, ndf: int, nef: int):
        super().__init__()
        n_down = int(math.log2(size // 4))
        if size < 8 or 4 * 2 ** n_down != size:
            raise ValueError(f"size must be a power of two >= 8, got {size}")
        layers, cin = [], 3
        for i in range(n_down):
            cout = ndf * 2 ** i
            layers += [spectral_norm(nn.Conv2d(cin, cout, 4, 2, 1, bias=True)), nn.LeakyReLU(0.2)]
            cin = cout
        for _ in range(n_down - 4):
            layers += [spectral_norm(conv3x3(cin, cin // 2, bias=True)), nn.LeakyReLU(0.2)]
            cin //= 2
        self.img_code = nn.Sequential(*layers)
        self.uncond = DLogits(channels=cin, nef=nef, condition=False)
        self.cond = DLogits(channels=cin, nef=nef, condition=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.img_code(x)  # [B, C, 4, 4]


def weights_init(m: nn.Module) -> None:
    """Official init: orthogonal (gain 1) conv/linear weights, BN γ ~ N(1, 0.02), β = 0, linear bias 0."""
    name = type(m).__name__
    if "Conv" in name:
        w = m.weight_orig if hasattr(m, "weight_orig") else m.weight  # SN convs: the raw weight
        nn.init.orthogonal_(w.data, 1.0)
    elif "BatchNorm" in name:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)
    elif name == "Linear":
        nn.init.orthogonal_(m.weight.data, 1.0)
        if m.bias is not None:
            m.bias.data.fill_(0.0)
