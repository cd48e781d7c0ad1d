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


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (scikit-image, data range 1, channels averaged): ``[B]``."""
    from skimage.metrics import structural_similarity

    A = a.clamp(0, 1).permute(0, 2, 3, 1).double().numpy()
    Bv = b.permute(0, 2, 3, 1).double().numpy()
    return torch.tensor([structural_similarity(x, y, data_range=1.0, channel_axis=-1) for x, y in zip(A, Bv)])


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
