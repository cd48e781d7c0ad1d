"""Data of Chapter 3: a harder digits variant for the book run, the real sets for the ``paper_*`` presets.

``digits_hard`` (generated, no download; registered as ``digits_shifted``): each of scikit-learn's 8×8 digits is copied ``copies``
times (train) or ``test_copies`` times (test), and every copy gets a random shift of up to
``shift`` pixels, optionally a zeroed ``occlusion``×``occlusion`` square at a random place, and
Gaussian pixel noise of std ``noise``. The perturbations are drawn once from ``seed`` (fixed
data, not on-the-fly augmentation). Shifts cost a narrow MLP far more accuracy than a wide one,
which gives the large capacity gap SwitOKD is about.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from reprobook.engine.data import digits, get_dataset, register

CIFAR_NORM = {"cifar10": ((0.491, 0.482, 0.447), (0.247, 0.243, 0.262)),
              "cifar100": ((0.491, 0.482, 0.447), (0.247, 0.243, 0.262)),
              "tiny_imagenet": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
              "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}
CLASSES = {"digits_hard": 10, "cifar10": 10, "cifar100": 100, "tiny_imagenet": 200, "imagenet": 1000}


def perturb(x: torch.Tensor, *, shift: int, noise: float, occlusion: int, generator: torch.Generator) -> torch.Tensor:
    """Shift, occlude and add noise to ``x [N, 1, H, W]``; returns a tensor of the same shape."""
    n, _, h, w = x.shape
    pad = F.pad(x, (shift, shift, shift, shift))  # [N, 1, H + 2s, W + 2s]
    dy = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
    rows = dy[:, None] + torch.arange(h)[None]  # [N, H]
    cols = dx[:, None] + torch.arange(w)[None]  # [N, W]
    idx = torch.arange(n)[:, None, None]
    out = pad[:, 0][idx, rows[:, :, None], cols[:, None, :]].unsqueeze(1)  # [N, 1, H, W]
    if occlusion > 0:
        oy = torch.randint(0, h - occlusion + 1, (n,), generator=generator)
        ox = torch.randint(0, w - occlusion + 1, (n,), generator=generator)
        ys, xs = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
        mask = ((ys >= oy[:, None, None]) & (ys < oy[:, None, None] + occlusion) &
                (xs >= ox[:, None, None]) & (xs < ox[:, None, None] + occlusion))  # [N, H, W]
        out = out.masked_fill(mask.unsqueeze(1), 0.0)
    return out + noise * torch.randn(out.shape, generator=generator)


@register("digits_shifted", kind="generated")  # registry name; TAC owns "digits_hard"
def digits_hard(*, split: str = "train", copies: int = 2, test_copies: int = 2, shift: int = 1,
                noise: float = 0.05, occlusion: int = 0, seed: int = 0) -> TensorDataset:
    """Shifted, occluded, noisy copies of scikit-learn's digits: ``x [N, 1, 8, 8]``, ``y [N]``.

    Pixels are standardised with the clean training images' mean and std (as the official
    scripts normalise CIFAR), which lets plain SGD train the MLPs in a few epochs.
    """
    base = digits(split=split)  # validates split; fixed stratified split
    x, y = base.tensors
    k = copies if split == "train" else test_copies
    if k < 1 or shift < 0 or occlusion < 0 or occlusion > 8 or noise < 0:
        raise ValueError("digits_hard needs copies >= 1, shift >= 0, 0 <= occlusion <= 8, noise >= 0")
    g = torch.Generator().manual_seed(seed * 7919 + (0 if split == "train" else 1))
    xs = perturb(x.repeat(k, 1, 1, 1), shift=shift, noise=noise, occlusion=occlusion, generator=g)
    ref = digits(split="train").tensors[0]
    xs = (xs - ref.mean()) / ref.std()
    return TensorDataset(xs.contiguous(), y.repeat(k))


def paper_datasets(dataset: str, data_root: str | None):
    """(train, test) of a real dataset with the official scripts' augmentation and normalisation.

    CIFAR: random crop 32 (pad 4) + horizontal flip; Tiny-ImageNet (``tiny_imagenet``: the released
    ``<data_root>/tiny-imagenet-200`` layout, test = its labelled ``val``): crop 64 (pad 4) + flip;
    ImageNet (``imagenet``: ``<data_root>/{train,val}/<wnid>/``): random-resized crop 224 + flip,
    validation resize 256 / centre crop 224.
    """
    from torchvision import transforms as T

    if dataset not in CIFAR_NORM:
        raise ValueError(f"unknown paper dataset {dataset!r}; choose one of: {', '.join(CIFAR_NORM)}")
    norm = T.Normalize(*CIFAR_NORM[dataset])
    if dataset in ("cifar10", "cifar100"):
        train_tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), norm])
        test_tf = T.Compose([T.ToTensor(), norm])
        return (get_dataset(dataset, split="train", data_root=data_root, transform=train_tf),
                get_dataset(dataset, split="test", data_root=data_root, transform=test_tf))
    if dataset == "tiny_imagenet":
        train_tf = T.Compose([T.RandomCrop(64, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), norm])
        test_tf = T.Compose([T.ToTensor(), norm])
    else:
        train_tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm])
        test_tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm])
    return (get_dataset(dataset, split="train", data_root=data_root, transform=train_tf),
            get_dataset(dataset, split="val", data_root=data_root, transform=test_tf))
