"""Evaluation of Chapter 6 (all on generated images of held-out test captions).

- **AttrAcc**: an attribute classifier trained on real images (7 heads: layout; colour, shape,
  size of object 0 and of object 1) applied to generated images; per-attribute and exact-caption accuracy.
- **R-precision**: with the *independent* evaluation encoder pair, the generated image's global
  code is ranked against its caption and ``r_candidates − 1`` captions of other configurations;
  a hit if the true caption ranks first.
- **FD**: Fréchet distance between the classifier's penultimate features of generated and real
  test images (an FID analogue on this data; not FID).
- **Attention entropy**: the generator's word attention against uniform (entropy over the words
  per pixel, as a fraction of its maximum; the largest weight against 1/number of words).
- **Attention localization**: for every size/colour/shape word of object k, the generator's own
  attention mass inside object k's mask, against the area-proportional chance level, and the
  pointing accuracy (argmax pixel inside the mask).
- **Edit locality**: swap one colour word, same noise; mean pixel change inside the edited
  object against outside it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reprobook.ffgan.data import ATTR_CLASSES, COLORS, WORD2IX

COLOR_IDS = torch.tensor([WORD2IX[c] for c in COLORS])


class AttrClassifier(nn.Module):
    """Small CNN: ``x [B,3,S,S]`` → logits of the 7 attributes and a 128-d feature."""

    def __init__(self, *, width: int = 32, feat: int = 128):
        super().__init__()

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))

        self.body = nn.Sequential(block(3, width), block(width, 2 * width), block(2 * width, 4 * width))
        self.fc = nn.Sequential(nn.Flatten(), nn.LazyLinear(feat) if False else nn.Linear(4 * width * 16, feat), nn.ReLU())
        self.heads = nn.ModuleList([nn.Linear(feat, n) for n in ATTR_CLASSES])

    def forward(self, x: torch.Tensor):
        x = F.interpolate(x, size=32, mode="bilinear", align_corners=False) if x.shape[-1] != 32 else x
        f = self.fc(self.body(x))  # [B, feat]
        return [h(f) for h in self.heads], f


def attr_loss(logits: list[torch.Tensor], attrs: torch.Tensor) -> torch.Tensor:
    return sum(F.cross_entropy(l, attrs[:, i]) for i, l in enumerate(logits))


@torch.no_grad()
def attr_predictions(clf: AttrClassifier, x: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted attributes ``[N,7]`` and features ``[N,feat]``."""
    preds, feats = [], []
    for i in range(0, len(x), batch):
        logits, f = clf(x[i:i + batch])
        preds.append(torch.stack([l.argmax(1) for l in logits], 1))
        feats.append(f)
    return torch.cat(preds), torch.cat(feats)


def frechet_distance(f1: torch.Tensor, f2: torch.Tensor) -> float:
    """:math:`\\|\\mu_1-\\mu_2\\|^2 + \\mathrm{tr}(\\Sigma_1+\\Sigma_2-2(\\Sigma_1\\Sigma_2)^{1/2})`.

    The trace of the matrix square root is computed as
    :math:`\\mathrm{tr}(\\Sigma_1^{1/2}\\Sigma_2\\Sigma_1^{1/2})^{1/2} = \\sum_i \\sqrt{\\lambda_i}` over the
    eigenvalues of that symmetric positive semi-definite matrix (negative rounding clipped to 0): the
    same number as ``scipy.linalg.sqrtm(Σ₁Σ₂)``'s trace, without its failure on the singular covariances
    of small feature sets.
    """
    a, b = f1.double().numpy(), f2.double().numpy()
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T  # Σ₁^{1/2}
    m = root1 @ s2 @ root1
    lam = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(lam, 0.0, None)).sum())
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


@torch.no_grad()
def r_precision(eval_text, eval_img, x_gen: torch.Tensor, cap: torch.Tensor, cap_len: torch.Tensor,
                cls: torch.Tensor, pool_cap: torch.Tensor, pool_len: torch.Tensor, pool_cls: torch.Tensor, *,
                n_candidates: int = 100, seed: int = 0, s_true: torch.Tensor | None = None,
                s_pool: torch.Tensor | None = None, v_bar: torch.Tensor | None = None) -> torch.Tensor:
    """Hit (1.0/0.0) per generated image: its caption ranks first among ``n_candidates`` captions.

    Mismatched candidates come from ``pool_*`` with a configuration id different from the true one;
    ``s_true``/``s_pool``/``v_bar`` are the evaluation encoders' codes of ``cap``/``pool_cap``/``x_gen``
    if known (then ``x_gen`` may be ``None``).
    """
    g = torch.Generator().manual_seed(seed)
    if v_bar is None:
        _, v_bar = eval_img(x_gen)  # [N, n_e]
    if s_true is None:  # sentence codes may be passed in when several generators share the captions
        _, s_true = eval_text(cap, cap_len)
    if s_pool is None:
        _, s_pool = eval_text(pool_cap, pool_len)
    v_bar, s_true, s_pool = (F.normalize(t, dim=1) for t in (v_bar, s_true, s_pool))
    hits = []
    for i in range(len(v_bar)):
        allowed = torch.nonzero(pool_cls != cls[i]).squeeze(1)
        neg = allowed[torch.randperm(len(allowed), generator=g)[: n_candidates - 1]]
        scores = torch.cat([(v_bar[i] * s_true[i]).sum().view(1), s_pool[neg] @ v_bar[i]])
        hits.append(float(scores.argmax() == 0))
    return torch.tensor(hits)


def colour_masks(x: torch.Tensor, attrs: torch.Tensor, *, min_chroma: float = 0.08,
                 min_cos: float = 0.8) -> torch.Tensor:
    """Object masks ``[B,2,S,S]`` of (generated) images ``x`` in [-1,1], found by hue.

    A pixel's chroma is its RGB minus its grey level; it is labelled with the palette colour whose
    chroma direction is closest (cosine ≥ ``min_cos``) if its chroma norm is ≥ ``min_chroma`` (the
    background is grey). Object k's mask = pixels of the caption's colour for k in k's part of the
    canvas (top/left half for object 0, bottom/right half for object 1), so two objects of one
    colour are told apart by place. Hue, not exact colour, so washed-out generated colours count.
    """
    rgb = (x.clamp(-1, 1) + 1) / 2  # [B, 3, S, S]
    chroma = rgb - rgb.mean(1, keepdim=True)
    palette = torch.tensor(list(COLORS.values()))
    pal = F.normalize(palette - palette.mean(1, keepdim=True), dim=1)  # [6, 3]
    cos = torch.einsum("bchw,kc->bkhw", F.normalize(chroma, dim=1), pal)  # [B, 6, S, S]
    best, label = cos.max(1)  # [B, S, S]
    coloured = (chroma.norm(dim=1) >= min_chroma) & (best >= min_cos)
    B, _, S, _ = x.shape
    half = torch.zeros(B, 2, S, S, dtype=torch.bool)
    vert = attrs[:, 0] == 0
    half[vert, 0, : S // 2], half[vert, 1, S // 2:] = True, True
    half[~vert, 0, :, : S // 2], half[~vert, 1, :, S // 2:] = True, True
    out = [coloured & (label == attrs[:, 1 + 3 * k, None, None]) for k in range(2)]
    return (torch.stack(out, 1) & half).float()


def attention_localization(alpha: torch.Tensor, owner: torch.Tensor, masks: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per attribute word: attention mass inside its object's mask, chance level, pointing hit.

    ``alpha [B,T,h,w]`` is normalised over words (FF-Block softmax), so each word's map is first
    normalised over the pixels; ``owner [B,T]`` gives each word's object (−1: none) and
    ``masks [B,2,S,S]`` the objects. Masks are area-averaged to the attention resolution; words whose
    object mask is empty are skipped. Returns 1-d tensors over the kept words, in (b, t) order.
    """
    B, T, h, w = alpha.shape
    m = F.adaptive_avg_pool2d(masks, (h, w))  # fraction of each attention cell inside the object
    a = alpha / alpha.sum((2, 3), keepdim=True).clamp_min(1e-12)  # each word's spatial distribution
    m_sel = m[torch.arange(B)[:, None], owner.clamp(min=0)]  # the word's object: [B, T, h, w]
    keep = (owner >= 0) & (m_sel.sum((2, 3)) > 1e-6)  # [B, T]
    mass = (a * m_sel).sum((2, 3))
    chance = m_sel.mean((2, 3))
    at_max = m_sel.flatten(2).gather(2, a.flatten(2).argmax(2, keepdim=True)).squeeze(2)  # [B, T]
    return {"mass": mass[keep], "chance": chance[keep], "point": (at_max[keep] >= 0.5).float()}


def attention_entropy(alpha: torch.Tensor) -> dict[str, torch.Tensor]:
    r"""How far the word attention is from uniform, per caption.

    ``alpha [B,T,h,w]`` is the FF-Block softmax over words at every pixel. The words it can attend
    (``n``: those with non-zero weight somewhere; the caption's words when padding is masked) set its
    maximum entropy :math:`\log n`. Per pixel :math:`H_p = -\sum_t \alpha_{t,p}\log\alpha_{t,p}`;
    returns the mean over pixels of :math:`H_p / \log n` (``ratio``, 1 = uniform), of
    :math:`\max_t \alpha_{t,p}` (``max``) and the uniform level :math:`1/n` (``uniform``), each ``[B]``.
    """
    n = (alpha.sum((2, 3)) > 0).sum(1).clamp(min=2).float()  # [B]
    h = -(alpha * alpha.clamp_min(1e-30).log()).sum(1)  # [B, h, w]
    return {"ratio": h.mean((1, 2)) / n.log(), "max": alpha.max(1).values.mean((1, 2)), "uniform": 1.0 / n}


def swap_colour(cap: torch.Tensor, owner: torch.Tensor, attrs: torch.Tensor, k: int, shift: int = 3):
    """Captions with object k's colour word replaced by the colour ``shift`` places further; new attrs."""
    cap, attrs = cap.clone(), attrs.clone()
    new = (attrs[:, 1 + 3 * k] + shift) % len(COLORS)
    is_col = (owner == k) & torch.isin(cap, COLOR_IDS)  # [B, T]
    cap[is_col] = COLOR_IDS[new.repeat_interleave(is_col.sum(1))]
    attrs[:, 1 + 3 * k] = new
    return cap, attrs
