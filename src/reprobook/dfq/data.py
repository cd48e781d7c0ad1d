"""Data of Chapters 4-5: the real sets are used only to train/test P and to test Q, never by the data-free methods.

* ``digits`` (book): scikit-learn's 8×8 digits, pixel values /16 then standardised with the
  training mean and std, stratified 75/25 split (1,347 train / 450 test).
* ``cifar10``/``cifar100``: ``<data_root>/cifar-10-batches-py`` or ``cifar-100-python``,
  normalised with pytorchcv's CIFAR mean and std.
* ``imagenet``: ILSVRC-2012 folders ``<data_root>/{train,val}/<wnid>/<image>``, resized to 256,
  centre-cropped to 224, normalised with the ImageNet mean and std.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, TensorDataset

from reprobook.engine.data import digits
from reprobook.engine.data.real import cifar10, cifar100
from reprobook.engine.data.real_images import imagenet

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def standardized_digits() -> tuple[TensorDataset, TensorDataset]:
    """Digits train/test as ``x [N, 1, 8, 8]`` standardised with the training statistics, ``y [N]``."""
    train, test = digits(split="train"), digits(split="test")
    (x, y), (xt, yt) = train.tensors, test.tensors
    mean, std = x.mean(), x.std()
    return TensorDataset((x - mean) / std, y), TensorDataset((xt - mean) / std, yt)


def real_sets(dataset: str, data_root: str | None) -> tuple[Dataset, Dataset]:
    """Train and test sets of a real dataset; :class:`~reprobook.engine.data.DataRootError` if missing."""
    import torchvision.transforms as T

    if dataset in ("cifar10", "cifar100"):
        load = cifar10 if dataset == "cifar10" else cifar100
        norm = T.Normalize(CIFAR_MEAN, CIFAR_STD)
        train_tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), norm])
        test_tf = T.Compose([T.ToTensor(), norm])
        return load(split="train", data_root=data_root, transform=train_tf), \
            load(split="test", data_root=data_root, transform=test_tf)
    if dataset == "imagenet":
        norm = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
        train_tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm])
        test_tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm])
        return imagenet(split="train", data_root=data_root, transform=train_tf), \
            imagenet(split="val", data_root=data_root, transform=test_tf)
    raise ValueError(f"unknown dataset {dataset!r}; choose one of: digits, cifar10, cifar100, imagenet")


def tensors(ds: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """All of a (small) dataset as two tensors."""
    if isinstance(ds, TensorDataset):
        return ds.tensors[0], ds.tensors[1]
    xs, ys = zip(*(ds[i] for i in range(len(ds))))
    return torch.stack(xs), torch.tensor(ys)
