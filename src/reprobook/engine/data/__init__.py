"""Dataset registry: embedded (no download), generated (made by the project), real (under ``data_root``).

``get_dataset(name, split=..., data_root=..., **options)`` returns a map-style dataset. Embedded
sets come with installed packages (scikit-learn's digits, photographs bundled with
scikit-image); generated sets are registered by chapters; real sets read the standard on-disk
layouts under a user's ``data_root`` and never download anything (``real``: CIFAR and ImageNet-style
folders; ``real_images``: Tiny-ImageNet and ILSVRC-2012; ``inpainting``: CelebA, Places2, Paris
StreetView and NVIDIA's irregular masks; chapters register CUB birds and Landmark-732).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch.utils.data import Dataset

KINDS = ("embedded", "generated", "real")


class DataRootError(ValueError):
    """A real dataset is missing or malformed under ``data_root``; the message says what to put where."""


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    kind: str
    loader: Callable[..., Dataset]
    description: str


_REGISTRY: dict[str, DatasetEntry] = {}


def register(name: str, *, kind: str, description: str = ""):
    """Decorator adding ``loader(split=..., data_root=..., **options)`` to the registry."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")

    def deco(fn):
        if name in _REGISTRY and _REGISTRY[name].loader is not fn:
            raise ValueError(f"dataset {name!r} is already registered")
        _REGISTRY[name] = DatasetEntry(name, kind, fn, description or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return deco


def available() -> dict[str, DatasetEntry]:
    return dict(sorted(_REGISTRY.items()))


def get_dataset(name: str, *, split: str = "train", data_root: str | None = None, **options) -> Dataset:
    """Build dataset ``name``; unknown names get an error listing the registered ones."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    entry = _REGISTRY[name]
    if entry.kind == "real":
        return entry.loader(split=split, data_root=data_root, **options)
    return entry.loader(split=split, **options)


def carve_validation(dataset: Dataset, fraction: float = 0.1, *, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Split a *training* set into ``(train, validation)``, the validation part ``fraction`` of it.

    Model selection (best epoch, checkpoint, hyperparameter) happens on the validation part, so the
    test split is touched once, for the reported number. The split is a fixed function of ``seed``
    (not of the run's seed: every arm and seed of an experiment sees the same validation set). A
    ``TensorDataset`` stays a ``TensorDataset`` (fast slicing in the training loop).
    """
    import torch
    from torch.utils.data import Subset, TensorDataset

    n = len(dataset)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    n_val = max(1, int(round(n * fraction)))
    if n_val >= n:
        raise ValueError(f"a training set of {n} items is too small to carve {fraction:g} for validation")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(10_007 + seed))
    val_idx, train_idx = perm[:n_val].sort().values, perm[n_val:].sort().values
    if isinstance(dataset, TensorDataset):
        return (TensorDataset(*(t[train_idx] for t in dataset.tensors)),
                TensorDataset(*(t[val_idx] for t in dataset.tensors)))
    return Subset(dataset, train_idx.tolist()), Subset(dataset, val_idx.tolist())


from reprobook.engine.data import embedded, inpainting, real, real_images  # noqa: E402,F401  (registers the built-in sets)
from reprobook.engine.data.embedded import digits, image_patches  # noqa: E402

__all__ = ["DataRootError", "available", "carve_validation", "digits", "get_dataset", "image_patches", "register"]
