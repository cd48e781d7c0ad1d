"""Real classification image sets: Tiny-ImageNet-200 and ILSVRC-2012, in their released layouts.

* ``tiny_imagenet``: the extracted ``tiny-imagenet-200.zip``::

      <data_root>/tiny-imagenet-200/wnids.txt                      200 WordNet ids, one a line
      <data_root>/tiny-imagenet-200/train/<wnid>/images/<wnid>_<k>.JPEG
      <data_root>/tiny-imagenet-200/val/images/val_<k>.JPEG
      <data_root>/tiny-imagenet-200/val/val_annotations.txt        file<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1

  Label = index of the wnid in **sorted** ``wnids.txt`` (the order torchvision's ``ImageFolder``
  gives ``train/``, so labels agree with scripts that use it). The unlabelled ``test/`` is not read.
* ``imagenet``: ``<data_root>/{train,val}/<wnid>/<image>``, validation images already sorted into
  class folders (as the standard ``valprep.sh`` does); read with ``ImageFolder`` (sorted wnids).

Items: ``(image [3,H,W] float in [0,1] or transform(PIL image), label)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from reprobook.engine.data import DataRootError, register
from reprobook.engine.data.real import IMAGE_SUFFIXES, check_split, image_files, open_rgb, require_root

TINY_LAYOUT = ("<data_root>/tiny-imagenet-200/{wnids.txt, train/<wnid>/images/<wnid>_<k>.JPEG, "
               "val/images/val_<k>.JPEG, val/val_annotations.txt} (the released tiny-imagenet-200.zip)")
IMAGENET_LAYOUT = ("<data_root>/{train,val}/<wnid>/<image>.JPEG (ILSVRC-2012 in ImageNet-style folders, "
                   "val sorted into class folders by valprep.sh)")


def to_tensor(img) -> torch.Tensor:
    """PIL RGB image -> ``[3,H,W]`` float in [0, 1]."""
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


class TinyImageNet(Dataset):
    """Tiny-ImageNet-200 train or val (see the module docstring for the layout)."""

    def __init__(self, *, split: str, data_root: str | None, transform=None):
        check_split(split, ("train", "val"))
        root = require_root(data_root, "tiny_imagenet", TINY_LAYOUT) / "tiny-imagenet-200"
        wnids_file = root / "wnids.txt"
        if not wnids_file.is_file():
            raise DataRootError(f"tiny_imagenet: missing {wnids_file}; expected {TINY_LAYOUT}")
        wnids = [w.strip() for w in wnids_file.read_text().splitlines() if w.strip()]
        if not wnids or len(set(wnids)) != len(wnids):
            raise DataRootError(f"tiny_imagenet: {wnids_file} must list distinct wnids; expected {TINY_LAYOUT}")
        self.classes = sorted(wnids)
        self.class_to_idx = {w: i for i, w in enumerate(self.classes)}
        self.samples = self._train(root) if split == "train" else self._val(root)
        self.targets = [y for _, y in self.samples]
        self.transform = transform

    def _train(self, root: Path) -> list[tuple[Path, int]]:
        samples = []
        for w in self.classes:
            files = image_files(root / "train" / w / "images")
            if not files:
                raise DataRootError(f"tiny_imagenet: no images in {root / 'train' / w / 'images'}; expected {TINY_LAYOUT}")
            samples += [(p, self.class_to_idx[w]) for p in files]
        return samples

    def _val(self, root: Path) -> list[tuple[Path, int]]:
        ann = root / "val" / "val_annotations.txt"
        if not ann.is_file():
            hint = " (val looks sorted into class folders; keep the released flat val/images)" \
                if (root / "val" / self.classes[0]).is_dir() else ""
            raise DataRootError(f"tiny_imagenet: missing {ann}{hint}; expected {TINY_LAYOUT}")
        samples = []
        for n, line in enumerate(ann.read_text().splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != 6 or parts[1] not in self.class_to_idx:
                raise DataRootError(f"tiny_imagenet: {ann}:{n} is not 'file<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1' "
                                    f"with a wnid of wnids.txt; expected {TINY_LAYOUT}")
            samples.append((root / "val" / "images" / parts[0], self.class_to_idx[parts[1]]))
        if not samples or not samples[0][0].is_file():
            raise DataRootError(f"tiny_imagenet: no images listed in {ann} under val/images; expected {TINY_LAYOUT}")
        return samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, label = self.samples[i]
        img = open_rgb(path, "tiny_imagenet", TINY_LAYOUT)  # a few images are greyscale
        return (self.transform(img) if self.transform is not None else to_tensor(img)), label


@register("tiny_imagenet", kind="real")
def tiny_imagenet(*, split: str = "train", data_root: str | None = None, transform=None) -> TinyImageNet:
    """Tiny-ImageNet-200 (64×64, 200 classes) from ``<data_root>/tiny-imagenet-200``; split train or val."""
    return TinyImageNet(split=split, data_root=data_root, transform=transform)


@register("imagenet", kind="real")
def imagenet(*, split: str = "train", data_root: str | None = None, transform=None):
    """ILSVRC-2012 from ``<data_root>/{train,val}/<wnid>/`` (torchvision ``ImageFolder``; sorted wnids)."""
    from torchvision.datasets import ImageFolder

    check_split(split, ("train", "val"))
    folder = require_root(data_root, "imagenet", IMAGENET_LAYOUT) / split
    if not folder.is_dir():
        raise DataRootError(f"imagenet: missing {folder}; expected {IMAGENET_LAYOUT}")
    if any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir()):
        raise DataRootError(f"imagenet: {folder} holds images directly (not sorted into <wnid> class folders; "
                            f"run the standard valprep.sh); expected {IMAGENET_LAYOUT}")
    try:
        ds = ImageFolder(str(folder), transform=transform if transform is not None else to_tensor)
    except (FileNotFoundError, RuntimeError) as e:
        raise DataRootError(f"imagenet: {str(e).splitlines()[0]}; expected {IMAGENET_LAYOUT}") from None
    if split == "val" and (folder.parent / "train").is_dir():
        train = sorted(p.name for p in (folder.parent / "train").iterdir() if p.is_dir())
        if train != ds.classes:  # labels are class-folder indices: both splits need the same folders
            raise DataRootError(f"imagenet: the class folders of val and train differ; expected {IMAGENET_LAYOUT}")
    return ds
