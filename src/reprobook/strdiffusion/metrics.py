r"""Image-quality and sparsity measures used by the chapter.

- PSNR (data range 1) on the whole image and on the hole only;
- SSIM: scikit-image's ``structural_similarity`` (Wang et al. 2004; 7×7 uniform window,
  ``data_range=1``, mean over colour channels);
- Hoyer sparsity :math:`(\sqrt n - \|v\|_1/\|v\|_2)/(\sqrt n - 1)` in [0, 1] (1: one non-zero);
- the region discrepancy :math:`\Delta = \mathrm{PSNR}_{known} - \mathrm{PSNR}_{hole}`.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def psnr(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image PSNR of ``a`` vs ``b`` (``[B,C,H,W]`` in [0,1]) over pixels where ``weight`` is 1: ``[B]``."""
    w = torch.ones_like(a[:, :1]) if weight is None else weight
    se = ((a.clamp(0, 1) - b) ** 2 * w).flatten(1).sum(1)
    n = w.expand_as(a).flatten(1).sum(1).clamp_min(1)
    return 10 * torch.log10(1.0 / (se / n).clamp_min(1e-10))


def ssim(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image SSIM (scikit-image, data range 1, channels averaged): ``[B]``.

    With ``weight [B,1,H,W]`` the SSIM map (7×7 windows, channels averaged) is averaged over the
    pixels where ``weight`` is 1 (e.g. the hole) instead of the whole image.
    """
    from skimage.metrics import structural_similarity

    A = a.clamp(0, 1).permute(0, 2, 3, 1).double().numpy()
    Bv = b.permute(0, 2, 3, 1).double().numpy()
    if weight is None:
        return torch.tensor([structural_similarity(x, y, data_range=1.0, channel_axis=-1) for x, y in zip(A, Bv)])
    W = weight[:, 0].double().numpy()
    out = []
    for x, y, w in zip(A, Bv, W):
        _, smap = structural_similarity(x, y, data_range=1.0, channel_axis=-1, full=True)  # [H, W, C]
        out.append(float((smap.mean(-1) * w).sum() / max(w.sum(), 1.0)))
    return torch.tensor(out, dtype=torch.float64)


def hoyer(v: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Hoyer sparsity of ``|v|`` per image over the pixels where ``weight`` is 1: ``[B]``."""
    out = []
    w = torch.ones_like(v) if weight is None else weight.expand_as(v)
    for x, m in zip(v.abs().flatten(1), w.flatten(1)):
        x = x[m > 0.5].double()
        n = x.numel()
        if n < 2 or x.norm() == 0:
            out.append(float("nan"))
            continue
        out.append(((math.sqrt(n) - x.sum() / x.norm()) / (math.sqrt(n) - 1)).item())
    return torch.tensor(out)


def area(ts, values) -> float:
    """Mean of a curve over its steps (the 'area' per step)."""
    return float(np.mean(np.asarray(values, float)))


# -- reference fills: what a network-free inpainter gets on the same test images ------------------
def mean_fill(img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill the hole (``mask`` 0) with each image's mean colour of its known pixels: ``[B,C,H,W]``."""
    w = mask.expand_as(img)
    colour = (img * w).flatten(2).sum(2) / w.flatten(2).sum(2).clamp_min(1)  # [B, C]
    return img * w + colour[:, :, None, None] * (1 - w)


def harmonic_fill(img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""Harmonic (Laplace) fill: the hole solves :math:`\Delta u = 0` with the known pixels as boundary.

    For every hole pixel :math:`p` with 4-neighbours :math:`N(p)` inside the image,
    :math:`|N(p)|\,u_p - \sum_{q\in N(p)\cap\text{hole}} u_q = \sum_{q\in N(p)\cap\text{known}} I_q`
    (free boundary at the image border), solved exactly by a sparse LU per image; a vanishing
    pull (1e-8) towards the known mean colour keeps a hole with no known neighbour well posed.
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    out = mean_fill(img, mask).double().clone()
    B, C, H, W = img.shape
    for i in range(B):
        hole = (mask[i, 0] < 0.5).numpy()
        n = int(hole.sum())
        if n == 0:
            continue
        index = -np.ones((H, W), dtype=np.int64)
        index[hole] = np.arange(n)
        ys, xs = np.nonzero(hole)
        known = img[i].double().numpy()  # [C, H, W]
        rows, cols, vals = [], [], []
        diag = np.full(n, 1e-8)
        rhs = 1e-8 * out[i, :, ys, xs].numpy().T  # [n, C]
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            qy, qx = ys + dy, xs + dx
            inside = (qy >= 0) & (qy < H) & (qx >= 0) & (qx < W)
            diag[inside] += 1
            p, qy, qx = np.nonzero(inside)[0], qy[inside], qx[inside]
            q = index[qy, qx]
            in_hole = q >= 0
            rows.append(p[in_hole]), cols.append(q[in_hole]), vals.append(-np.ones(int(in_hole.sum())))
            np.add.at(rhs, p[~in_hole], known[:, qy[~in_hole], qx[~in_hole]].T)
        A = sp.csc_matrix((np.concatenate(vals + [diag]), (np.concatenate(rows + [np.arange(n)]),
                                                          np.concatenate(cols + [np.arange(n)]))), shape=(n, n))
        u = splu(A).solve(rhs)  # [n, C]
        out[i, :, ys, xs] = torch.from_numpy(u.T)
    return out.to(img.dtype)
