r"""Data for StrDiffusion: images, their structure (grayscale and Canny edges) and hole masks.

Conventions (as the official code): images are RGB in [0, 1]; the mask :math:`m` is 1 on
**known** pixels and 0 in the **hole**. For an image :math:`I`:

- texture process: :math:`y_0 = I`, terminal mean :math:`\mu_y = I\odot m`;
- structure process: :math:`x_0 = G = \mathrm{rgb2gray}(I)`, terminal mean
  :math:`\mu_x = E\odot m` with :math:`E = \mathrm{Canny}(G, \sigma)` (binary). The official code
  computes :math:`E` on the complete image (``edges_from="full"``, which leaks hole edges
  near the border); ``edges_from="masked"`` is the honest variant that runs Canny on
  :math:`G\odot m` and so never sees the hole.

Book data: 32×32 patches of scikit-image's photographs (the engine's ``image_patches``) and
generated "scenes" with unambiguous edges (colour gradients, polygons, ellipses, lines,
stripes). Masks: free-form brush strokes and boxes, binned by hole ratio
10–20, 20–30, 30–40, 40–50 %.

Paper data (:func:`paper_images`, :func:`mask_set`): a flat folder, or CelebA, Places2 and Paris
StreetView in their released layouts, and NVIDIA's irregular masks, whose groups 1–4 are the
four bins (the registered loaders of :mod:`reprobook.engine.data.inpainting`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from reprobook.engine.data import DataRootError, get_dataset, image_patches, register

BINS = ((0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5))
BIN_NAMES = tuple(f"{int(a * 100)}–{int(b * 100)}%" for a, b in BINS)


# -- structure --------------------------------------------------------------------------------
def to_gray(img: torch.Tensor) -> torch.Tensor:
    """``skimage.color.rgb2gray`` weights (0.2125, 0.7154, 0.0721): ``[B,3,H,W] -> [B,1,H,W]``."""
    w = torch.tensor([0.2125, 0.7154, 0.0721], dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    return (img * w).sum(1, keepdim=True)


def canny_edges(gray: torch.Tensor, *, sigma: float = 1.0) -> torch.Tensor:
    """Binary Canny edge map per image (scikit-image, default thresholds): ``[B,1,H,W]`` in {0,1}."""
    from skimage.feature import canny

    g = gray.detach().cpu().double().numpy()
    out = np.stack([canny(im[0], sigma=sigma)[None] for im in g]).astype(np.float32)
    return torch.from_numpy(out)


def structure(img: torch.Tensor, mask: torch.Tensor, *, sigma: float = 1.0,
              edges_from: str = "full") -> tuple[torch.Tensor, torch.Tensor]:
    """``(G, E)``: grayscale and Canny edges of ``img`` ``[B,3,H,W]``, each ``[B,1,H,W]``."""
    if edges_from not in ("full", "masked"):
        raise ValueError(f"edges_from must be 'full' or 'masked', got {edges_from!r}")
    G = to_gray(img)
    E = canny_edges(G if edges_from == "full" else G * mask, sigma=sigma).to(img.device)
    return G, E


# -- masks ------------------------------------------------------------------------------------
def _segment_mask(h: int, w: int, p0, p1, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.array(p1, np.float32) - np.array(p0, np.float32)
    L2 = max(float(d @ d), 1e-6)
    u = np.clip(((xx - p0[0]) * d[0] + (yy - p0[1]) * d[1]) / L2, 0, 1)
    dist2 = (xx - p0[0] - u * d[0]) ** 2 + (yy - p0[1] - u * d[1]) ** 2
    return dist2 <= radius ** 2


def random_hole(size: int, rng: np.random.Generator, lo: float, hi: float, kind: str) -> np.ndarray:
    """One hole map (True = hole) whose area ratio lies in ``[lo, hi)``: brush strokes or boxes."""
    for _ in range(200):
        hole = np.zeros((size, size), bool)
        target = rng.uniform(lo, hi)
        while hole.mean() < target:
            if kind == "box":
                bh, bw = rng.integers(size // 8, size // 2 + 1, 2)
                y0, x0 = rng.integers(0, size - bh + 1), rng.integers(0, size - bw + 1)
                hole[y0:y0 + bh, x0:x0 + bw] = True
            else:  # free-form brush: a few connected strokes of random width
                p = rng.uniform(0, size, 2)
                r = rng.uniform(size / 24, size / 10)
                for _ in range(rng.integers(2, 6)):
                    ang, ln = rng.uniform(0, 2 * math.pi), rng.uniform(size / 6, size / 2.5)
                    q = np.clip(p + ln * np.array([math.cos(ang), math.sin(ang)]), 0, size - 1)
                    hole |= _segment_mask(size, size, p, q, r)
                    p = q
        if lo <= hole.mean() < hi:
            return hole
    raise RuntimeError(f"could not draw a {kind} hole with ratio in [{lo}, {hi})")


def make_masks(n: int, *, size: int, lo: float, hi: float, seed: int) -> torch.Tensor:
    """``n`` masks ``[n,1,size,size]`` (1 known, 0 hole), half brush strokes, half boxes."""
    rng = np.random.default_rng(seed)
    holes = [random_hole(size, rng, lo, hi, "box" if i % 2 else "brush") for i in range(n)]
    return torch.from_numpy(1.0 - np.stack(holes)[:, None].astype(np.float32))


# -- generated scenes -------------------------------------------------------------------------
def _scene(size: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    c0, c1 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    a = rng.uniform(0, 2 * math.pi)
    ramp = np.clip(np.cos(a) * xx + np.sin(a) * yy, 0, 1)[..., None]
    img = c0 * (1 - ramp) + c1 * ramp  # [H, W, 3] smooth background
    for _ in range(rng.integers(2, 5)):
        col = rng.uniform(0, 1, 3)
        kind = rng.integers(0, 4)
        if kind == 0:  # ellipse
            cy, cx, ry, rx = rng.uniform(0.1, 0.9, 2).tolist() + rng.uniform(0.1, 0.35, 2).tolist()
            sel = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        elif kind == 1:  # convex polygon: intersection of half-planes around a centre
            cy, cx = rng.uniform(0.2, 0.8, 2)
            sel = np.ones_like(xx, bool)
            for ang in np.sort(rng.uniform(0, 2 * math.pi, rng.integers(3, 6))):
                r = rng.uniform(0.12, 0.35)
                sel &= (xx - cx) * math.cos(ang) + (yy - cy) * math.sin(ang) <= r
        elif kind == 2:  # thick line
            p, q = rng.uniform(0, size, 2), rng.uniform(0, size, 2)
            sel = _segment_mask(size, size, p, q, rng.uniform(1.0, 2.5))
        else:  # stripes inside a rectangle
            y0, x0 = rng.uniform(0, 0.6, 2)
            y1, x1 = y0 + rng.uniform(0.25, 0.5), x0 + rng.uniform(0.25, 0.5)
            f, ang = rng.uniform(4, 10), rng.uniform(0, math.pi)
            stripes = np.sin(2 * math.pi * f * (np.cos(ang) * xx + np.sin(ang) * yy)) > 0
            sel = (yy >= y0) & (yy < y1) & (xx >= x0) & (xx < x1) & stripes
        img[sel] = col
    img = img + rng.normal(0, 0.01, img.shape)  # a little sensor noise
    return np.clip(img, 0, 1).astype(np.float32)


@register("scenes", kind="generated", description="Procedural 'scenes' with clear edges (StrDiffusion chapter)")
def scenes(*, split: str = "train", n: int = 1024, size: int = 32, seed: int = 0) -> TensorDataset:
    """``n`` generated RGB scenes ``[n,3,size,size]`` in [0,1]; the test split uses another seed stream."""
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; choose one of: train, test")
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    x = torch.from_numpy(np.stack([_scene(size, rng) for _ in range(n)])).permute(0, 3, 1, 2).contiguous()
    return TensorDataset(x, torch.zeros(n, dtype=torch.long))


def book_images(split: str, *, size: int, n_scenes: int, seed: int = 0) -> torch.Tensor:
    """Photo patches (held-out photo for test) plus generated scenes: ``[N,3,size,size]``."""
    photos = image_patches(split=split, size=size, scale=0.5).tensors[0]
    sc = scenes(split=split, n=n_scenes, size=size, seed=seed).tensors[0]
    return torch.cat([photos, sc])


class Augment:
    """Random flips and transposes (the official training augmentation), batched."""

    @staticmethod
    def __call__(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        f = torch.rand(3, generator=g)
        if f[0] < 0.5:
            x = x.flip(-1)
        if f[1] < 0.5:
            x = x.flip(-2)
        if f[2] < 0.5:
            x = x.transpose(-1, -2)
        return x


def image_folder_images(data_root: str | None, split: str, *, size: int, limit: int | None = None) -> torch.Tensor:
    """A folder of images (Places2 / Paris StreetView / CelebA as in the paper) centre-cropped to ``size``.

    Layout: ``<data_root>/<split>/*.{png,jpg}`` (the official code reads flat folders of images).
    """
    layout = "<data_root>/{train,test}/<image files> (flat folders of RGB images, e.g. Places2)"
    if data_root is None:
        raise DataRootError(f"the paper preset needs data_root; expected {layout}")
    root = Path(data_root).expanduser() / split
    files = sorted(p for p in root.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:limit] \
        if root.is_dir() else []
    if not files:
        raise DataRootError(f"no images under {root}; expected {layout}")
    from PIL import Image

    out = []
    for p in files:
        im = Image.open(p).convert("RGB")
        w, h = im.size
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((size, size))
        out.append(torch.from_numpy(np.asarray(im, np.float32) / 255.0).permute(2, 0, 1))
    return torch.stack(out)


# The split each released set evaluates on (Places2 has no public test labels; its val set is the usual test).
TEST_SPLIT = {"celeba": "test", "places2": "val", "paris_streetview": "test"}


def paper_images(data: str, data_root: str | None, split: str, *, size: int, limit: int | None = None) -> torch.Tensor:
    """``[N,3,size,size]`` in [0,1]: the first ``limit`` images of a flat folder (``data="folder"``) or of
    the registered ``celeba``/``places2``/``paris_streetview`` loader (``split`` train or test)."""
    if data == "folder":
        return image_folder_images(data_root, split, size=size, limit=limit)
    if data not in TEST_SPLIT:
        raise ValueError(f"unknown image set {data!r}; choose one of: folder, {', '.join(TEST_SPLIT)}")
    ds = get_dataset(data, split="train" if split == "train" else TEST_SPLIT[data], data_root=data_root, size=size)
    n = len(ds) if limit is None else min(limit, len(ds))
    return torch.stack([ds[i] for i in range(n)])


def mask_set(kind: str, n: int, *, size: int, lo: float, hi: float, seed: int, data_root: str | None = None) -> torch.Tensor:
    """``n`` masks ``[n,1,size,size]`` (1 known, 0 hole) with hole ratio in ``[lo, hi)``: generated, or
    drawn (fixed by ``seed``, with replacement when the group is smaller than ``n``) from NVIDIA's group."""
    if kind == "generated":
        return make_masks(n, size=size, lo=lo, hi=hi, seed=seed)
    if kind != "irregular":
        raise ValueError(f"unknown mask set {kind!r}; choose one of: generated, irregular")
    from reprobook.engine.data.inpainting import mask_group

    ds = get_dataset("irregular_masks", data_root=data_root, size=size, groups=(mask_group(lo, hi),))
    if len(ds) == 0:
        raise DataRootError(f"irregular_masks: no masks of hole ratio ({lo}, {hi}] (files "
                            f"{2000 * mask_group(lo, hi):05d}.png..); expected {ds.layout}")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds), generator=g)[:n] if len(ds) >= n else torch.randint(len(ds), (n,), generator=g)
    return torch.stack([ds[int(i)] for i in idx])
