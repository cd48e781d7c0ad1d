"""Inpainting image sets and NVIDIA's irregular hole masks, in their released layouts.

Images (items: ``[3,size,size]`` float in [0, 1], centre-cropped to a square, then resized):

* ``celeba``: ``<data_root>/img_align_celeba/<6 digits>.jpg`` + ``<data_root>/list_eval_partition.txt``
  (lines ``000001.jpg 0``; 0 train, 1 val, 2 test). torchvision's ``<data_root>/celeba/...`` also works.
* ``places2``: Places365-Standard small images: ``<data_root>/data_256/<l>/<class>/<8 digits>.jpg`` listed
  in ``<data_root>/places365_train_standard.txt`` (``/a/airfield/00000001.jpg 0``), ``val_256/`` with
  ``places365_val.txt``, ``test_256/`` with ``places365_test.txt`` (torchvision's ``data_256_standard``
  name for the train folder also works).
* ``paris_streetview``: ``<data_root>/paris_train_original/*.{png,jpg}`` (train) and
  ``<data_root>/paris_eval_gt/*.{png,jpg}`` (the 100 evaluation images; split ``val`` or ``test``).

Masks (``irregular_masks``; items ``[1,size,size]`` in {0, 1}, **1 = known, 0 = hole**, the StrDiffusion
convention): ``<data_root>/testing_mask_dataset/<5 digits>.png``, NVIDIA's released test masks (white =
hole). The 12,000 files come in six hole-ratio groups of 2,000 ordered by ratio: file ``k`` is in group
``k // 2000`` with hole ratio in ``(0.01, 0.1]``, ``(0.1, 0.2]``, ... ``(0.5, 0.6]``. Resizing is
nearest-neighbour, so masks stay binary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from reprobook.engine.data import DataRootError, register
from reprobook.engine.data.real import check_split, image_files, open_rgb, require_root

LAYOUTS = {
    "celeba": "<data_root>/{img_align_celeba/<6 digits>.jpg, list_eval_partition.txt} (0 train, 1 val, 2 test)",
    "places2": ("<data_root>/{places365_train_standard.txt, data_256/<l>/<class>/<file>.jpg, places365_val.txt, "
                "val_256/<file>.jpg, places365_test.txt, test_256/<file>.jpg} (Places365-Standard, small images)"),
    "paris_streetview": "<data_root>/{paris_train_original, paris_eval_gt}/<image>.{png,jpg} (Paris StreetView)",
    "irregular_masks": ("<data_root>/testing_mask_dataset/<5 digits>.png (NVIDIA irregular masks, white = hole, "
                        "file k in hole-ratio group k // 2000)"),
}
MASK_GROUPS = ((0.01, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6))
PLACES_LISTS = {"train": ("places365_train_standard.txt", ("data_256", "data_256_standard")),
                "val": ("places365_val.txt", ("val_256",)), "test": ("places365_test.txt", ("test_256",))}


def square_tensor(img, size: int) -> torch.Tensor:
    """Centre-crop a PIL image to a square, resize to ``size`` (bicubic): ``[3,size,size]`` in [0, 1]."""
    from PIL import Image

    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    if s != size:
        img = img.resize((size, size), Image.BICUBIC)
    return torch.from_numpy(np.asarray(img, np.float32) / 255.0).permute(2, 0, 1).clamp(0, 1).contiguous()


class ImageFiles(Dataset):
    """A list of image files read as ``[3,size,size]`` tensors in [0, 1]."""

    def __init__(self, name: str, files: list[Path], *, size: int, where: Path | str = "the file list"):
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        missing = [p for p in (files[:1] + files[-1:]) if not p.is_file()]  # cheap spot check; all are checked on read
        if not files or missing:
            what = f"missing {missing[0]}" if missing else f"no images in {where}"
            raise DataRootError(f"{name}: {what}; expected {LAYOUTS[name]}")
        self.name, self.files, self.size = name, files, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        return square_tensor(open_rgb(self.files[i], self.name, LAYOUTS[self.name]), self.size)


def _list_file(path: Path, name: str) -> list[list[str]]:
    if not path.is_file():
        raise DataRootError(f"{name}: missing {path}; expected {LAYOUTS[name]}")
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if not rows or any(len(r) not in (1, 2) or (len(r) == 2 and not r[1].isdigit()) for r in rows):
        raise DataRootError(f"{name}: {path} is not '<image> [<number>]' per line; expected {LAYOUTS[name]}")
    return rows


@register("celeba", kind="real")
def celeba(*, split: str = "train", data_root: str | None = None, size: int = 256) -> ImageFiles:
    """CelebA aligned faces with the official partition (train 162,770 / val 19,867 / test 19,962)."""
    check_split(split, ("train", "val", "test"))
    root = require_root(data_root, "celeba", LAYOUTS["celeba"])
    if not (root / "list_eval_partition.txt").is_file() and (root / "celeba" / "list_eval_partition.txt").is_file():
        root = root / "celeba"  # torchvision's CelebA root
    want = str(("train", "val", "test").index(split))
    rows = _list_file(root / "list_eval_partition.txt", "celeba")
    if any(len(r) != 2 for r in rows):
        raise DataRootError(f"celeba: list_eval_partition.txt needs '<file> <0|1|2>' lines; expected {LAYOUTS['celeba']}")
    return ImageFiles("celeba", [root / "img_align_celeba" / f for f, part in rows if part == want], size=size)


@register("places2", kind="real")
def places2(*, split: str = "train", data_root: str | None = None, size: int = 256) -> ImageFiles:
    """Places365-Standard 256×256 images (train 1.8M, val 36,500, test 328,500) from the file lists."""
    check_split(split, tuple(PLACES_LISTS))
    root = require_root(data_root, "places2", LAYOUTS["places2"])
    list_name, folders = PLACES_LISTS[split]
    rows = _list_file(root / list_name, "places2")
    folder = next((root / f for f in folders if (root / f).is_dir()), root / folders[0])
    return ImageFiles("places2", [folder / r[0].lstrip("/") for r in rows], size=size)


@register("paris_streetview", kind="real")
def paris_streetview(*, split: str = "train", data_root: str | None = None, size: int = 256) -> ImageFiles:
    """Paris StreetView: 14,900 training and 100 evaluation images (split ``val`` or ``test``)."""
    check_split(split, ("train", "val", "test"))
    root = require_root(data_root, "paris_streetview", LAYOUTS["paris_streetview"])
    folder = root / ("paris_train_original" if split == "train" else "paris_eval_gt")
    return ImageFiles("paris_streetview", image_files(folder), size=size, where=folder)


class IrregularMasks(Dataset):
    """NVIDIA's irregular masks as ``[1,size,size]`` float tensors, 1 = known, 0 = hole; ``group[i]`` in 0..5."""

    def __init__(self, *, data_root: str | None, size: int = 256, groups: tuple[int, ...] | None = None):
        layout = LAYOUTS["irregular_masks"]
        folder = require_root(data_root, "irregular_masks", layout) / "testing_mask_dataset"
        files = sorted(p for p in folder.glob("*.png")) if folder.is_dir() else []
        if not files:
            raise DataRootError(f"irregular_masks: no masks in {folder}; expected {layout}")
        if not all(p.stem.isdigit() and int(p.stem) < 2000 * len(MASK_GROUPS) for p in files):
            raise DataRootError(f"irregular_masks: {folder} holds a file not named 00000.png..11999.png; expected {layout}")
        keep = range(len(MASK_GROUPS)) if groups is None else groups
        if any(g not in range(len(MASK_GROUPS)) for g in keep):
            raise ValueError(f"groups must be indices 0..5 of the hole-ratio groups {MASK_GROUPS}, got {groups}")
        self.files = [p for p in files if int(p.stem) // 2000 in keep]
        self.group = [int(p.stem) // 2000 for p in self.files]
        self.size, self.layout = size, layout

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(self.files[i]) as im:
                m = im.convert("L").resize((self.size, self.size), Image.NEAREST)
        except (UnidentifiedImageError, OSError) as e:
            raise DataRootError(f"irregular_masks: cannot read {self.files[i]} ({type(e).__name__}); "
                                f"expected {self.layout}") from None
        hole = np.asarray(m) > 127  # white = hole in the released files
        return torch.from_numpy((~hole)[None].astype(np.float32))


def mask_group(lo: float, hi: float) -> int:
    """The group whose hole-ratio range is ``(lo, hi]`` (e.g. 0.1, 0.2 -> 1); ValueError otherwise."""
    for g, (a, b) in enumerate(MASK_GROUPS):
        if abs(a - lo) < 1e-6 and abs(b - hi) < 1e-6:
            return g
    raise ValueError(f"no irregular-mask group covers ({lo}, {hi}]; groups: {MASK_GROUPS}")


@register("irregular_masks", kind="real")
def irregular_masks(*, split: str = "test", data_root: str | None = None, size: int = 256,
                    groups: tuple[int, ...] | None = None) -> IrregularMasks:
    """NVIDIA irregular hole masks (12,000 test masks, six hole-ratio groups); one set serves both splits."""
    check_split(split, ("train", "test"))  # the release has one set, used for training and testing alike
    return IrregularMasks(data_root=data_root, size=size, groups=groups)
