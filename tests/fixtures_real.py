"""Writers of tiny real datasets in their exact released on-disk layouts, for tests and fixture runs.

Each ``write_<name>(root, ...)`` creates the files under ``root`` (a ``data_root``) and returns
what a test needs to check (usually the expected labels). Images are small random JPEG/PNG
files written with PIL; index files follow the released text or pickle formats.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

WNIDS = ("n01443537", "n01629819", "n01641577", "n01644900")  # deliberately not in sorted order below


def write_image(path: Path, size=(8, 8), seed: int = 0, gray: bool = False) -> None:
    """A random RGB (or greyscale) image of ``size`` = (width, height); the format follows the suffix."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if gray else (size[1], size[0], 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)


def write_cifar(root: Path, name: str = "cifar10", n: int = 4) -> Path:
    """torchvision's CIFAR python-pickle batches with ``n`` images each (labels 0..n-1)."""
    folder = Path(root) / ("cifar-10-batches-py" if name == "cifar10" else "cifar-100-python")
    folder.mkdir(parents=True, exist_ok=True)
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"] if name == "cifar10" else ["train", "test"]
    key = b"labels" if name == "cifar10" else b"fine_labels"
    rng = np.random.default_rng(0)
    for f in files:
        with open(folder / f, "wb") as fh:
            pickle.dump({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), key: list(range(n))}, fh)
    return folder


def write_tiny_imagenet(root: Path, *, wnids=WNIDS[::-1], train_per_class: int = 2, val_per_class: int = 1,
                        size: int = 64) -> dict:
    """``tiny-imagenet-200`` with ``wnids.txt`` (in the given, unsorted order), train and val.

    Returns ``{"train": [labels], "val": [labels]}`` with labels = index in sorted(wnids).
    """
    base = Path(root) / "tiny-imagenet-200"
    base.mkdir(parents=True, exist_ok=True)
    (base / "wnids.txt").write_text("".join(w + "\n" for w in wnids))
    idx = {w: i for i, w in enumerate(sorted(wnids))}
    labels = {"train": [], "val": []}
    for w in sorted(wnids):
        boxes = []
        for k in range(train_per_class):
            write_image(base / "train" / w / "images" / f"{w}_{k}.JPEG", (size, size), seed=k, gray=k == 1)
            boxes.append(f"{w}_{k}.JPEG\t0\t0\t{size - 1}\t{size - 1}\n")
            labels["train"].append(idx[w])
        (base / "train" / w / f"{w}_boxes.txt").write_text("".join(boxes))
    lines, k = [], 0
    for j in range(val_per_class):
        for w in wnids:
            write_image(base / "val" / "images" / f"val_{k}.JPEG", (size, size), seed=100 + k)
            lines.append(f"val_{k}.JPEG\t{w}\t1\t2\t{size - 3}\t{size - 4}\n")
            labels["val"].append(idx[w])
            k += 1
    (base / "val" / "val_annotations.txt").write_text("".join(lines))
    for t in range(2):
        write_image(base / "test" / "images" / f"test_{t}.JPEG", (size, size), seed=200 + t)
    return labels


def write_imagenet(root: Path, *, wnids=WNIDS[:3], per_class: int = 2, size=(12, 10)) -> dict:
    """ILSVRC-2012 folders ``{train,val}/<wnid>/*.JPEG`` (val already sorted); returns labels per split."""
    labels = {"train": [], "val": []}
    for i, w in enumerate(sorted(wnids)):
        for k in range(per_class):
            write_image(Path(root) / "train" / w / f"{w}_{k}.JPEG", size, seed=k)
            labels["train"].append(i)
        write_image(Path(root) / "val" / w / f"ILSVRC2012_val_{i + 1:08d}.JPEG", size, seed=50 + i)
        labels["val"].append(i)
    return labels


def write_celeba(root: Path, *, parts=(0, 0, 0, 1, 2, 2), size=(12, 16)) -> dict:
    """``img_align_celeba/<6 digits>.jpg`` and ``list_eval_partition.txt``; returns counts per split."""
    lines = []
    for k, part in enumerate(parts, 1):
        write_image(Path(root) / "img_align_celeba" / f"{k:06d}.jpg", size, seed=k)
        lines.append(f"{k:06d}.jpg {part}\n")
    (Path(root) / "list_eval_partition.txt").write_text("".join(lines))
    return {s: sum(p == i for p in parts) for i, s in enumerate(("train", "val", "test"))}


def write_places2(root: Path, *, n_train: int = 3, n_val: int = 2, n_test: int = 1, size=(16, 16)) -> dict:
    """Places365-Standard small images: file lists at the top, ``data_256``, ``val_256``, ``test_256``."""
    root = Path(root)
    classes = (("a", "airfield"), ("b", "bakery/shop"))  # some class folders are nested, as released
    train = []
    for k in range(n_train):
        letter, cls = classes[k % 2]
        rel = f"/{letter}/{cls}/{k + 1:08d}.jpg"
        write_image(root / "data_256" / rel.lstrip("/"), size, seed=k)
        train.append(f"{rel} {k % 2}\n")
    (root / "places365_train_standard.txt").write_text("".join(train))
    val = []
    for k in range(n_val):
        write_image(root / "val_256" / f"Places365_val_{k + 1:08d}.jpg", size, seed=50 + k)
        val.append(f"Places365_val_{k + 1:08d}.jpg {k % 2}\n")
    (root / "places365_val.txt").write_text("".join(val))
    test = []
    for k in range(n_test):
        write_image(root / "test_256" / f"Places365_test_{k + 1:08d}.jpg", size, seed=80 + k)
        test.append(f"Places365_test_{k + 1:08d}.jpg\n")
    (root / "places365_test.txt").write_text("".join(test))
    (root / "categories_places365.txt").write_text("/a/airfield 0\n/b/bakery/shop 1\n")
    return {"train": n_train, "val": n_val, "test": n_test}


def write_paris_streetview(root: Path, *, n_train: int = 3, n_eval: int = 2) -> dict:
    """``paris_train_original/*.png`` (wide 936×537 crops, scaled down) and ``paris_eval_gt/*_im.png``."""
    for k in range(n_train):
        write_image(Path(root) / "paris_train_original" / f"{k:05d}.png", (18, 10), seed=k)
    for k in range(n_eval):
        write_image(Path(root) / "paris_eval_gt" / f"{k + 1:03d}_im.png", (12, 12), seed=30 + k)
    return {"train": n_train, "test": n_eval}


def write_irregular_masks(root: Path, *, per_group: int = 2, size: int = 32) -> dict:
    """``testing_mask_dataset/<5 digits>.png``: ``per_group`` masks at the start of each 2,000-file group.

    Mask of group g has a white (hole) block covering about (g + 0.5) × 10 % of the image.
    Returns ``{file stem: hole fraction}``.
    """
    from PIL import Image

    folder = Path(root) / "testing_mask_dataset"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for g in range(6):
        for j in range(per_group):
            a = np.zeros((size, size), np.uint8)
            rows = max(1, round((g + 0.5) / 10 * size))
            a[j:j + rows] = 255
            stem = f"{2000 * g + j:05d}"
            Image.fromarray(a).save(folder / f"{stem}.png")
            out[stem] = rows / size
    return out


def write_cub_birds(root: Path, *, n_train: int = 3, n_test: int = 2, captions_per_image: int = 10) -> dict:
    """AttnGAN's ``birds`` metadata + CUB-200-2011 images, boxes and ids; returns names per split."""
    base = Path(root) / "birds"
    cub = base / "CUB_200_2011"
    classes = ("001.Black_footed_Albatross", "002.Laysan_Albatross")
    names, ids, boxes = {"train": [], "test": []}, [], []
    k = 0
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            cls = classes[i % 2]
            name = f"{cls}/{cls.split('.')[1]}_{k:04d}_{100 + k}"
            write_image(cub / "images" / f"{name}.jpg", (40, 30), seed=k)
            k += 1
            ids.append(f"{k} {name}.jpg\n")
            boxes.append(f"{k} 5.0 4.0 20.0 16.0\n")
            names[split].append(name)
        (base / split).mkdir(parents=True, exist_ok=True)
        with open(base / split / "filenames.pickle", "wb") as f:
            pickle.dump(names[split], f, protocol=2)
        with open(base / split / "class_info.pickle", "wb") as f:
            pickle.dump([int(n.split(".")[0]) for n in names[split]], f, protocol=2)
    (cub / "images.txt").write_text("".join(ids))
    (cub / "bounding_boxes.txt").write_text("".join(boxes))
    words = ["<end>", "this", "bird", "has", "a", "white", "belly", "and", "black", "wings"]
    rng = np.random.default_rng(0)

    def caps(n):
        return [[int(t) for t in rng.integers(1, len(words), int(rng.integers(3, 25)))]
                for _ in range(n * captions_per_image)]

    with open(base / "captions.pickle", "wb") as f:
        pickle.dump([caps(n_train), caps(n_test), dict(enumerate(words)), {w: i for i, w in enumerate(words)}], f,
                    protocol=2)
    return names


def write_landmark732(root: Path, *, n_train: int = 3, n_val: int = 2) -> dict:
    """``Landmark-732_{train,val}.txt`` with ``<path>\\t[8 numbers]\\t<label>`` lines and the images."""
    root = Path(root)
    locs = ([50, 27, 10.41, 1, 30, 30, 51.58, 1], [43, 38, 14.73, 1, 79, 23, 18.53, -1],
            [25, 18, 33.37, -1, 131, 0, 3.51, 1])
    labels = {"train": [], "test": []}
    for split, fname, n in (("train", "Landmark-732_train.txt", n_train), ("test", "Landmark-732_val.txt", n_val)):
        lines = []
        for k in range(n):
            label = k % 3
            rel = f"images/{label:03d}/{split}_{k}.jpg"
            write_image(root / rel, (20, 16), seed=k)
            lines.append(f"{rel}\t{locs[label]}\t{label}\n")
            labels[split].append(label)
        (root / fname).write_text("".join(lines))
    return labels


# Registered dataset name -> writer, for runs of the paper presets on fixtures.
WRITERS = {"cifar10": write_cifar, "cifar100": lambda root, **kw: write_cifar(root, "cifar100", **kw),
           "tiny_imagenet": write_tiny_imagenet, "imagenet": write_imagenet, "celeba": write_celeba,
           "places2": write_places2, "paris_streetview": write_paris_streetview,
           "irregular_masks": write_irregular_masks, "cub_birds": write_cub_birds, "landmark732": write_landmark732}
