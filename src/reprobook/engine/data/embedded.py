"""Embedded datasets: shipped inside installed packages, so a default run needs no download."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch.utils.data import TensorDataset

from reprobook.engine.data import register

SPLITS = ("train", "test")

# Photographs bundled with scikit-image (no network needed). One is held out for the test split.
COLOR_PHOTOS = ("astronaut", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina", "chelsea")
GRAY_PHOTOS = ("camera", "coins", "moon", "page", "clock", "grass", "gravel", "brick", "cell", "text")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")


@lru_cache(maxsize=1)
def _digits_arrays():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.float32) / 16.0, d.target.astype(np.int64)


@register("digits", kind="embedded")
def digits(*, split: str = "train", test_fraction: float = 0.25, size: int = 8, seed: int = 0) -> TensorDataset:
    """scikit-learn's 1,797 handwritten digits (8×8, 10 classes), as ``x [N,1,size,size]`` in [0,1] and ``y [N]``.

    The split is stratified and fixed by ``seed``; ``size > 8`` upsamples bilinearly.
    """
    _check_split(split)
    from sklearn.model_selection import train_test_split

    x, y = _digits_arrays()
    idx_tr, idx_te = train_test_split(np.arange(len(y)), test_size=test_fraction, stratify=y, random_state=seed)
    idx = idx_tr if split == "train" else idx_te
    xs = torch.from_numpy(x[idx]).unsqueeze(1)  # [N, 1, 8, 8]
    if size != 8:
        xs = torch.nn.functional.interpolate(xs, size=(size, size), mode="bilinear", align_corners=False)
    return TensorDataset(xs.contiguous(), torch.from_numpy(y[idx]))


@lru_cache(maxsize=32)
def _photo(name: str, gray: bool) -> np.ndarray:
    import skimage.color
    import skimage.data

    im = getattr(skimage.data, name)()
    if im.ndim == 3 and im.shape[-1] == 4:
        im = im[..., :3]
    if gray and im.ndim == 3:
        im = (skimage.color.rgb2gray(im) * 255).astype(np.uint8)
    if not gray and im.ndim == 2:
        im = np.repeat(im[..., None], 3, axis=-1)
    return im


@register("image_patches", kind="embedded")
def image_patches(*, split: str = "train", size: int = 32, gray: bool = False, scale: float = 0.5,
                  stride: int | None = None, test_photos: tuple[str, ...] = ("chelsea",),
                  max_patches: int | None = None, seed: int = 0) -> TensorDataset:
    """Natural-image patches cut from scikit-image's bundled photographs: ``x [N,C,size,size]`` in [0,1].

    Each photo is downscaled by ``scale`` and tiled with ``stride`` (default ``size // 2``). The
    photos in ``test_photos`` form the test split, the others the training split, so test patches
    come from unseen images. ``max_patches`` keeps a seeded random subset. ``y`` is the photo index.
    """
    _check_split(split)
    import skimage.transform

    names = GRAY_PHOTOS + COLOR_PHOTOS if gray else COLOR_PHOTOS  # colour photos also serve in grey
    unknown = [p for p in test_photos if p not in names]
    if unknown:
        raise ValueError(f"unknown test photo(s) {unknown}; choose from: {', '.join(names)}")
    chosen = [n for n in names if (n in test_photos) == (split == "test")]
    stride = stride or max(1, size // 2)
    xs, ys = [], []
    for label, name in enumerate(chosen):
        im = _photo(name, gray).astype(np.float32) / 255.0
        if scale != 1.0:
            im = skimage.transform.rescale(im, scale, channel_axis=None if gray else -1, anti_aliasing=True)
        t = torch.from_numpy(np.ascontiguousarray(im, dtype=np.float32))
        t = t.unsqueeze(0) if gray else t.permute(2, 0, 1)  # [C, H, W]
        p = t.unfold(1, size, stride).unfold(2, size, stride)  # [C, nh, nw, size, size]
        p = p.permute(1, 2, 0, 3, 4).reshape(-1, t.shape[0], size, size)
        xs.append(p)
        ys.append(torch.full((len(p),), label, dtype=torch.long))
    x, y = torch.cat(xs).clamp(0, 1).contiguous(), torch.cat(ys)
    if max_patches is not None and max_patches < len(x):
        keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:max_patches]
        x, y = x[keep], y[keep]
    return TensorDataset(x, y)
