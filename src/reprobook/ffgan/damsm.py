r"""DAMSM: the text and image encoders and their word/sentence matching losses (AttnGAN, used by FF-GAN).

**Text encoder** (bi-LSTM): embedding → dropout 0.5 → one bidirectional LSTM layer. The outputs
are the word features :math:`w \in \mathbb{R}^{n_e\times T}` (zero at padded positions) and the
sentence feature :math:`s \in \mathbb{R}^{n_e}`, the concatenated last hidden states of both
directions.

**Image encoder**: region features :math:`v \in \mathbb{R}^{n_e\times R}` and a global code
:math:`\bar v \in \mathbb{R}^{n_e}`. The original (and the ``paper`` preset,
:class:`InceptionEncoder`) uses a frozen ImageNet Inception-v3 with two trained projections, its
weights read from a user-provided file; the book trains a small CNN from scratch (:class:`ImageEncoder`).

**Word loss** (AttnGAN Eq. 7–11, in the form of the official code). For caption :math:`i` and
image :math:`j`: :math:`s_{t,r}=e_t^\top v_r`, normalised over words
:math:`\bar s_{t,r}=\operatorname{softmax}_t(s_{t,r})`, attention over regions
:math:`\alpha_{t,r}=\operatorname{softmax}_r(\gamma_1 \bar s_{t,r})`, region context
:math:`c_t=\sum_r \alpha_{t,r} v_r`, and

.. math:: R(Q_j, D_i) = \log \sum_{t} \exp\big(\gamma_2 \cos(c_t, e_t)\big)

(the official code drops AttnGAN's outer exponent :math:`1/\gamma_2`; reproduced). The logits
:math:`\gamma_3 R` go into a cross-entropy over the batch in both directions,
:math:`L^w = L^w_1 + L^w_2`. **Sentence loss**: the same with :math:`\gamma_3\cos(\bar v_j, s_i)`.
Pairs of one configuration ("class") other than the matching one are masked to −∞.

**Several processes.** Both losses compare every caption with every image *of the batch*, so
:func:`damsm_loss` first gathers the features of the global batch from all ranks
(:func:`gather`, differentiable) and every rank computes the single-process loss of the global
batch. Its gradient reaches each rank's own features summed over the ranks' identical copies,
i.e. multiplied by the world size, which DDP's gradient averaging divides out again: the update
is the single-process one.
Chapter 6, §The idea.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from reprobook.engine import distributed


def gather(x: torch.Tensor) -> torch.Tensor:
    """The global batch of ``x`` (rank slices concatenated in rank order); identity for one process.

    Differentiable: the backward pass sums the gradients of all ranks' copies (an all-reduce of
    the zero-padded global tensor). Integer tensors are gathered without gradient.
    """
    ctx = distributed.current()
    if not ctx.enabled:
        return x
    parts = [x if r == ctx.rank else torch.zeros_like(x) for r in range(ctx.world_size)]
    full = torch.cat(parts)  # [W·b, ...], zero outside this rank's slice
    if not x.is_floating_point():
        return distributed.all_reduce(full, "sum")
    from torch.distributed.nn.functional import all_reduce

    return all_reduce(full)


class TextEncoder(nn.Module):
    """Bi-LSTM text encoder (``RNN_ENCODER``): ``cap [B,T]`` → ``w [B,n_e,T]``, ``s [B,n_e]``."""

    def __init__(self, *, n_words: int, emb_dim: int, nef: int, drop_prob: float = 0.5):
        super().__init__()
        if nef % 2:
            raise ValueError(f"nef must be even (two LSTM directions), got {nef}")
        self.encoder = nn.Embedding(n_words, emb_dim)
        self.drop = nn.Dropout(drop_prob)
        self.rnn = nn.LSTM(emb_dim, nef // 2, 1, batch_first=True, bidirectional=True)
        self.nef, self.emb_dim, self.drop_prob = nef, emb_dim, drop_prob
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)

    def dropout_noise(self, batch: int, length: int) -> torch.Tensor:
        """A dropout multiplier ``[batch, T, E]`` (0 or 1/(1−p)) drawn from the global RNG.

        It is the draw ``nn.Dropout`` makes on CPU, so passing it as ``noise`` gives the same
        numbers; drawn for the global batch and sliced, it gives every rank its part of the
        single-process masks.
        """
        q = 1.0 - self.drop_prob
        return torch.empty(batch, length, self.emb_dim).bernoulli_(q).div_(q)

    def forward(self, cap: torch.Tensor, cap_len: torch.Tensor, *,
                noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.encoder(cap)  # [B, T, E]
        emb = emb * noise.to(emb.device) if noise is not None and self.training else self.drop(emb)
        packed = pack_padded_sequence(emb, cap_len.cpu(), batch_first=True, enforce_sorted=False)
        out, (h, _) = self.rnn(packed)
        out = pad_packed_sequence(out, batch_first=True, total_length=cap.shape[1])[0]  # [B, T, n_e]
        w = out.transpose(1, 2)  # [B, n_e, T]
        s = h.transpose(0, 1).reshape(cap.shape[0], self.nef)  # [2, B, n_e/2] -> [B, n_e]
        return w, s


class ImageEncoder(nn.Module):
    """Small CNN image encoder: ``x [B,3,S,S]`` → regions ``v [B,n_e,R]`` and global ``v̄ [B,n_e]``.

    Three conv blocks give a ``S/4 × S/4`` feature map (the region grid, ``R = S²/16``), one more
    gives the global code; ``emb_features`` (1×1 conv) and ``emb_cnn_code`` (linear) play the
    role of the two trained projections of the original.
    """

    def __init__(self, *, nef: int, width: int = 32):
        super().__init__()

        def block(cin, cout, stride):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                                 nn.LeakyReLU(0.2))

        self.features = nn.Sequential(block(3, width, 1), block(width, 2 * width, 2), block(2 * width, 2 * width, 2))
        self.top = block(2 * width, 4 * width, 2)
        self.emb_features = nn.Conv2d(2 * width, nef, 1, bias=False)
        self.emb_cnn_code = nn.Linear(4 * width, nef)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)  # [B, 2w, S/4, S/4]
        v = self.emb_features(f).flatten(2)  # [B, n_e, R]
        g = self.top(f).mean((2, 3))  # [B, 4w]
        return v, self.emb_cnn_code(g)


def require_inception(weights: str | None) -> None:
    """One clear error when the user-provided Inception-v3 weights file is not there."""
    import os

    if not weights or not os.path.isfile(weights):
        raise FileNotFoundError(f"the official image encoder needs Inception-v3 ImageNet weights: pass "
                                f"inception_weights=PATH to a torchvision inception_v3 state dict (got {weights!r})")


class InceptionEncoder(nn.Module):
    """The official DAMSM image encoder: a frozen Inception-v3 and two trained projections.

    ``x [B,3,S,S]`` in [−1, 1] is resized to 299² (bilinear); the backbone's ``Mixed_6e`` map
    ``[B,768,17,17]`` is projected by ``emb_features`` (1×1 conv, no bias) to the regions
    ``v [B,n_e,289]``, and the ``Mixed_7c`` map, average-pooled to ``[B,2048]``, by ``emb_cnn_code``
    (linear) to ``v̄ [B,n_e]``. The projections are initialised U(−0.1, 0.1); every backbone
    parameter is frozen and its batch norms stay in eval mode. The architecture is torchvision's
    ``inception_v3`` (built with ``weights=None``, nothing downloaded); its ImageNet weights are
    read from ``weights`` (a torchvision state dict file), which must exist.
    """

    def __init__(self, *, nef: int, weights: str | None):
        super().__init__()
        import os

        require_inception(weights)
        from torchvision.models import inception_v3

        net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
        state = torch.load(weights, map_location="cpu", weights_only=True)
        try:
            net.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as e:
            first = str(e).strip().splitlines()[-1].strip()[:160]
            raise ValueError(f"{os.path.basename(weights)} is not a torchvision inception_v3 state dict "
                             f"({first})") from None
        names = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                 "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                 "Mixed_6e")
        self.to_regions = nn.Sequential(*[getattr(net, n) for n in names])  # [B, 768, 17, 17]
        self.to_code = nn.Sequential(net.Mixed_7a, net.Mixed_7b, net.Mixed_7c)  # [B, 2048, 8, 8]
        for p in list(self.to_regions.parameters()) + list(self.to_code.parameters()):
            p.requires_grad_(False)
        self.emb_features = nn.Conv2d(768, nef, 1, bias=False)
        self.emb_cnn_code = nn.Linear(2048, nef)
        nn.init.uniform_(self.emb_features.weight, -0.1, 0.1)
        nn.init.uniform_(self.emb_cnn_code.weight, -0.1, 0.1)
        self.train()

    def train(self, mode: bool = True) -> "InceptionEncoder":
        super().train(mode)
        self.to_regions.eval(), self.to_code.eval()  # frozen backbone: running statistics kept
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)  # [B, 3, 299, 299]
        f = self.to_regions(x)  # [B, 768, 17, 17]
        v = self.emb_features(f).flatten(2)  # [B, n_e, 289]
        g = self.to_code(f).mean((2, 3))  # [B, 2048]
        return v, self.emb_cnn_code(g)


def func_attention(query: torch.Tensor, context: torch.Tensor, gamma1: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Word-to-region attention of the DAMSM.

    ``query`` = words ``[B,n_e,T]``, ``context`` = regions ``[B,n_e,R]``. Returns the region
    contexts ``c [B,n_e,T]`` and ``α [B,T,R]`` (softmax over words, then γ1-sharpened softmax over regions).
    """
    s = torch.bmm(context.transpose(1, 2), query)  # [B, R, T]
    s = F.softmax(s, dim=2)  # normalise over words (AttnGAN Eq. 8)
    attn = F.softmax(gamma1 * s.transpose(1, 2), dim=2)  # [B, T, R], over regions (Eq. 9)
    return torch.bmm(context, attn.transpose(1, 2)), attn  # [B, n_e, T]


def _false_negative_mask(cls: torch.Tensor) -> torch.Tensor:
    same = cls[:, None] == cls[None, :]
    return same & ~torch.eye(len(cls), dtype=torch.bool, device=cls.device)  # [B, B]


def words_loss(v: torch.Tensor, w: torch.Tensor, cap_len: torch.Tensor, cls: torch.Tensor | None, *,
               gamma1: float = 4.0, gamma2: float = 5.0, gamma3: float = 10.0) -> tuple[torch.Tensor, torch.Tensor]:
    """:math:`L^w_1, L^w_2` for regions ``v [B,n_e,R]`` and words ``w [B,n_e,T]``.

    All caption–image pairs at once; a caption's padded words take no part (the official code
    loops over captions and slices ``words[:, :, :cap_len]``, which is the same computation).
    Returns the two cross-entropies (image→caption rows, caption→image columns).
    """
    B, T = w.shape[0], w.shape[2]
    valid = torch.arange(T, device=w.device)[None, :] < cap_len.to(w.device)[:, None]  # [B_cap, T]
    s = torch.einsum("jer,iet->ijrt", v, w)  # e_t^T v_r for caption i, image j: [B, B, R, T]
    s = s.masked_fill(~valid[:, None, None, :], float("-inf")).softmax(dim=3)  # over words (Eq. 8)
    attn = (gamma1 * s).softmax(dim=2)  # over regions (Eq. 9): [B, B, R, T]
    c = torch.einsum("jer,ijrt->ijet", v, attn)  # region context c_t: [B, B, n_e, T]
    cos = F.cosine_similarity(c, w[:, None], dim=2, eps=1e-8)  # [B_cap, B_img, T]
    r = torch.log((torch.exp(gamma2 * cos) * valid[:, None, :]).sum(2))  # R(Q_j, D_i): [B_cap, B_img]
    sim = gamma3 * r.t()  # [B images, B captions]
    if cls is not None:
        sim = sim.masked_fill(_false_negative_mask(cls), float("-inf"))
    labels = torch.arange(B, device=v.device)
    return F.cross_entropy(sim, labels), F.cross_entropy(sim.t(), labels)


def sent_loss(v_bar: torch.Tensor, s: torch.Tensor, cls: torch.Tensor | None, *,
              gamma3: float = 10.0) -> tuple[torch.Tensor, torch.Tensor]:
    """:math:`L^s_1, L^s_2`: cross-entropies of :math:`\\gamma_3\\cos(\\bar v_j, s_i)` over the batch."""
    sim = gamma3 * F.normalize(v_bar, dim=1, eps=1e-8) @ F.normalize(s, dim=1, eps=1e-8).t()  # [B, B]
    if cls is not None:
        sim = sim.masked_fill(_false_negative_mask(cls), float("-inf"))
    labels = torch.arange(len(s), device=s.device)
    return F.cross_entropy(sim, labels), F.cross_entropy(sim.t(), labels)


def damsm_loss(image_encoder: ImageEncoder, x: torch.Tensor, w: torch.Tensor, s: torch.Tensor,
               cap_len: torch.Tensor, cls: torch.Tensor | None, *, gamma1: float = 4.0, gamma2: float = 5.0,
               gamma3: float = 10.0) -> torch.Tensor:
    """:math:`L^w_1+L^w_2+L^s_1+L^s_2` of images ``x`` against their captions, over the global batch.

    Under several processes the features, lengths and classes are gathered first (see the
    module docstring); every rank returns the same value.
    """
    v, v_bar = image_encoder(x)  # [b, n_e, R], [b, n_e]
    v, v_bar, w, s, cap_len = (gather(t) for t in (v, v_bar, w, s, cap_len.to(w.device)))
    cls = gather(cls) if cls is not None else None
    w1, w2 = words_loss(v, w, cap_len, cls, gamma1=gamma1, gamma2=gamma2, gamma3=gamma3)
    s1, s2 = sent_loss(v_bar, s, cls, gamma3=gamma3)
    return w1 + w2 + s1 + s2
