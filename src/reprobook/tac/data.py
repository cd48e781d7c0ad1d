"""Data of Chapter 1: a harder digits variant (generated) and the real sets of the paper presets.

``digits_hard`` corrupts scikit-learn's 8×8 digits once, with a seed fixed per split: each image is
shifted by up to ``shift`` pixels (zero fill), gets a 2×2 occluder of value 0 or 1 with probability
``occlude`` at a random position, and Gaussian pixel noise of std ``noise``; values are clamped to
[0, 1]. The corruption is fixed, not redrawn per epoch, so the features of a frozen trunk can be
cached.
"""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from reprobook.engine.data import digits, register

SPLIT_IDS = {"train": 0, "test": 1}


@register("digits_hard", kind="generated")
def digits_hard(*, split: str = "train", noise: float = 0.15, occlude: float = 0.3, shift: int = 1,
                seed: int = 0) -> TensorDataset:
    """scikit-learn's digits with shifts, occluders and noise: ``x [N,1,8,8]`` in [0,1], ``y [N]``."""
    base = digits(split=split)
    x, y = base.tensors  # [N, 1, 8, 8], [N]
    g = torch.Generator().manual_seed(10_007 * seed + SPLIT_IDS[split])
    n = len(x)
    out = torch.zeros_like(x)
    dx = torch.randint(-shift, shift + 1, (n,), generator=g)
    dy = torch.randint(-shift, shift + 1, (n,), generator=g)
    for i in range(n):  # shift with zero fill
        img = torch.roll(x[i, 0], (int(dy[i]), int(dx[i])), dims=(0, 1))
        if dy[i] > 0:
            img[: dy[i]] = 0
        elif dy[i] < 0:
            img[dy[i]:] = 0
        if dx[i] > 0:
            img[:, : dx[i]] = 0
        elif dx[i] < 0:
            img[:, dx[i]:] = 0
        out[i, 0] = img
    occ = torch.rand(n, generator=g) < occlude
    pos = torch.randint(0, 7, (n, 2), generator=g)
    val = torch.randint(0, 2, (n,), generator=g).float()
    for i in torch.nonzero(occ).flatten().tolist():
        r, c = pos[i].tolist()
        out[i, 0, r:r + 2, c:c + 2] = val[i]
    out = (out + noise * torch.randn(out.shape, generator=g)).clamp(0, 1)
    return TensorDataset(out.contiguous(), y)


def real_dataset(name: str, split: str, data_root: str | None):
    """CIFAR-10/100 or an ImageNet folder with the XNOR-Net code's standard augmentation."""
    from torchvision import transforms as T

    from reprobook.engine.data import get_dataset

    train = split == "train"
    if name == "imagenet":
        norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        tf = (T.Compose([T.RandomResizedCrop(227), T.RandomHorizontalFlip(), T.ToTensor(), norm]) if train else
              T.Compose([T.Resize(256), T.CenterCrop(227), T.ToTensor(), norm]))
        return get_dataset("imagenet", split="train" if train else "val", data_root=data_root, transform=tf)
    norm = T.Normalize([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616])
    tf = (T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), norm]) if train else
          T.Compose([T.ToTensor(), norm]))
    return get_dataset(name, split=split, data_root=data_root, transform=tf)
