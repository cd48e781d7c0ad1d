"""Real datasets under a user's ``data_root``, read from their standard on-disk layouts.

Nothing here downloads. A missing or malformed folder raises :class:`DataRootError` with one
line saying what is expected where.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from reprobook.engine.data import DataRootError, register
from reprobook.engine.data.pickles import ForbiddenGlobal, UnpicklingError, load_restricted

CIFAR_LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels"),
}


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def require_root(data_root: str | None, name: str, layout: str) -> Path:
    """``data_root`` as a folder, or one :class:`DataRootError` naming ``layout``."""
    if data_root is None:
        raise DataRootError(f"dataset {name!r} needs data_root; expected {layout}")
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise DataRootError(f"data_root {str(root)!r} is not a folder; dataset {name!r} expects {layout}")
    return root


def check_split(split: str, splits) -> None:
    if split not in splits:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(splits)}")


def image_files(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (any case of .jpg/.jpeg/.png), sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def open_rgb(path: Path, name: str, layout: str):
    """A PIL RGB image; an unreadable or missing file is a :class:`DataRootError` too."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (FileNotFoundError, UnidentifiedImageError, OSError) as e:
        raise DataRootError(f"{name}: cannot read image {path} ({type(e).__name__}); expected {layout}") from None


class CIFAR(Dataset):
    """CIFAR-10/100 in the python-pickle layout that ``torchvision.datasets.CIFAR10/100`` writes.

    Items are ``(image [3,32,32] float in [0,1] or transform(PIL image), label)``.
    """

    def __init__(self, name: str, *, split: str, data_root: str | None, transform=None):
        folder, train_files, test_files, label_key = CIFAR_LAYOUT[name]
        layout = f"<data_root>/{folder}/{{{','.join(train_files + test_files)}}} (torchvision's CIFAR layout)"
        root = require_root(data_root, name, layout) / folder
        check_split(split, ("train", "test"))
        files = train_files if split == "train" else test_files
        data, labels = [], []
        for f in files:
            path = root / f
            if not path.is_file():
                raise DataRootError(f"{name}: missing {path}; expected {layout}")
            try:
                with open(path, "rb") as fh:
                    batch = load_restricted(fh, encoding="bytes")
                data.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                labels.extend(int(v) for v in batch[label_key])
            except ForbiddenGlobal as e:
                raise DataRootError(f"{name}: {path} is not a CIFAR batch and was not loaded ({e}); "
                                    f"expected {layout}") from None
            except (UnpicklingError, KeyError, ValueError, TypeError, IndexError, AttributeError, EOFError) as e:
                raise DataRootError(f"{name}: {path} is not a CIFAR batch ({type(e).__name__}); expected {layout}") from None
        self.data = np.concatenate(data)  # [N, 3, 32, 32] uint8
        self.targets = labels
        self.transform = transform
        self.classes = sorted(set(labels))

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        img = self.data[i]
        if self.transform is not None:
            from PIL import Image

            return self.transform(Image.fromarray(img.transpose(1, 2, 0))), self.targets[i]
        return torch.from_numpy(img).float().div_(255.0), self.targets[i]


@register("cifar10", kind="real")
def cifar10(*, split: str = "train", data_root: str | None = None, transform=None) -> CIFAR:
    """CIFAR-10 from ``<data_root>/cifar-10-batches-py``."""
    return CIFAR("cifar10", split=split, data_root=data_root, transform=transform)


@register("cifar100", kind="real")
def cifar100(*, split: str = "train", data_root: str | None = None, transform=None) -> CIFAR:
    """CIFAR-100 (fine labels) from ``<data_root>/cifar-100-python``."""
    return CIFAR("cifar100", split=split, data_root=data_root, transform=transform)


@register("image_folder", kind="real")
def image_folder(*, split: str = "train", data_root: str | None = None, transform=None):
    """An ImageNet-style folder: ``<data_root>/<split>/<class>/<image>`` (torchvision ``ImageFolder``)."""
    from torchvision.datasets import ImageFolder

    layout = "<data_root>/<split>/<class name>/<image file> (ImageNet-style folders)"
    root = require_root(data_root, "image_folder", layout) / split
    if not root.is_dir():
        raise DataRootError(f"image_folder: missing {root}; expected {layout}")
    try:
        return ImageFolder(str(root), transform=transform)
    except (FileNotFoundError, RuntimeError) as e:
        raise DataRootError(f"image_folder: {str(e).splitlines()[0]}; expected {layout}") from None
