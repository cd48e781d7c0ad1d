r"""Geo-tagged landmark data: the book's generated set and the paper's Landmark-732 file lists.

**GeoLandmarks-synth** (generated, the book's data). :math:`C = S \times T` landmark classes: :math:`S = 5`
visual super-categories (tower, bridge, church, castle, mountain) in each of :math:`T = 4` cities.
An image is a 16×16 grey drawing of its super-category with nuisances (shift, contrast, noise,
an occluder); class ``(s, t)`` sits in city ``t``, and its photos are geo-tagged around the city
centre (σ = 0.05°). In every super-category two of the four city classes are **look-alike pairs**:
they carry no visual detail at all, so only the location tells them apart. The other two carry a
small city-specific mark, visible with probability ``detail_p``. The location is given to the
policy network as the official code's 8 numbers
``[lat°, lat′, lat″, ±1 (N/S), lon°, lon′, lon″, ±1 (E/W)]`` (:func:`dms_code`).

**Landmark-732** (real, the paper's). The official scripts read tab-separated lists
``<image path>\t[8 location numbers]\t<label>`` named ``Landmark-732_train.txt`` and
``Landmark-732_val.txt``; :class:`LandmarkList` (registered as ``landmark732``) reads them from
``data_root``; relative image paths are read under ``data_root``, e.g.
``<data_root>/images/<class>/<file>.jpg``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from reprobook.engine.data import DataRootError, register

SUPERCATS = ("tower", "bridge", "church", "castle", "mountain")
# City centres (lat, lon in degrees); London is west of Greenwich, so both E/W signs occur.
CITIES = (("London", 51.5074, -0.1278), ("Paris", 48.8566, 2.3522), ("Brussels", 50.8503, 4.3517),
          ("Amsterdam", 52.3676, 4.9041))
SIZE = 16


def dms_code(latlon: torch.Tensor) -> torch.Tensor:
    """``[N, 2]`` degrees → ``[N, 8]`` = ``[lat°, lat′, lat″, sign, lon°, lon′, lon″, sign]`` (raw, unnormalised)."""
    parts = []
    for v in (latlon[:, 0], latlon[:, 1]):
        sign = torch.where(v < 0, -1.0, 1.0)
        a = v.abs()
        deg = torch.floor(a)
        minutes = torch.floor((a - deg) * 60)
        seconds = ((a - deg) * 60 - minutes) * 60
        parts += [deg, minutes, seconds, sign]
    return torch.stack(parts, 1).float()


def hard_cities(s: int) -> tuple[int, int]:
    """The two cities whose class of super-category ``s`` has no visual detail (a look-alike pair)."""
    return s % 4, (s + 1) % 4


def _template(s: int) -> np.ndarray:
    """12×12 drawing of super-category ``s`` (1 = structure)."""
    t = np.zeros((12, 12), np.float32)
    if s == 0:  # tower: tall shaft with a spire
        t[3:12, 5:7] = 1
        for i in range(3):
            t[i, 6 - (i + 1) // 2: 6 + (i + 2) // 2] = 1
        t[6, 4:8] = 1
    elif s == 1:  # bridge: deck, two pylons and cables
        t[7, :] = 1
        t[2:12, 2] = t[2:12, 9] = 1
        for i in range(5):
            t[2 + i, 3 + i // 2] = t[2 + i, 8 - i // 2] = 1
    elif s == 2:  # church: nave, pitched roof and a cross
        t[7:12, 2:10] = 1
        for i in range(4):
            t[3 + i, 5 - i: 7 + i] = 1
        t[0:3, 5:7] = 0
        t[0:3, 6] = 1
        t[1, 5:8] = 1
        t[9:12, 5:7] = 0
    elif s == 3:  # castle: wall with crenellations and a gate
        t[5:12, 0:12] = 1
        t[3:5, 0:12:3] = t[3:5, 1:12:3] = 1
        t[8:12, 4:8] = 0
    else:  # mountain: two peaks
        for i in range(12):
            t[i, max(0, 4 - i // 2 * 1): 4 + i // 2 + 1] = 1
            if i >= 4:
                t[i, max(0, 9 - (i - 4) // 2): min(12, 9 + (i - 4) // 2 + 1)] = 1
    return t


# City-specific marks (2×2) of the classes that have one: position in the 16×16 frame.
MARK_AT = {0: (1, 1), 1: (1, 13), 2: (13, 1), 3: (13, 13)}


class GeoLandmarks(TensorDataset):
    """``TensorDataset(x [N,1,16,16], loc [N,8], y [N])`` plus per-sample ``latlon [N,2]``,
    ``supercat [N]``, ``city [N]``, ``hard [N]`` (look-alike class) and the class names."""

    def __init__(self, x, loc, y, *, latlon, supercat, city, hard, class_names):
        super().__init__(x, loc, y)
        self.latlon, self.supercat, self.city, self.hard = latlon, supercat, city, hard
        self.class_names = class_names

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def class_of(s: int, t: int) -> int:
    return s * len(CITIES) + t


def class_names() -> list[str]:
    return [f"{SUPERCATS[s]} / {CITIES[t][0]}" for s in range(len(SUPERCATS)) for t in range(len(CITIES))]


@register("geo_landmarks", kind="generated")
def geo_landmarks(*, split: str = "train", per_class: int = 200, detail_p: float = 0.5, noise: float = 0.2,
                  loc_sigma: float = 0.05, seed: int = 0) -> GeoLandmarks:
    """GeoLandmarks-synth: 20 classes (5 super-categories × 4 cities), ``per_class`` images each.

    The split is chosen by the seed stream (train and test never share a random draw).
    """
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; choose one of: train, test")
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    S, T = len(SUPERCATS), len(CITIES)
    xs, ys, lls, ss, ts, hs = [], [], [], [], [], []
    for s in range(S):
        tmpl = _template(s)
        for t in range(T):
            hard = t in hard_cities(s)
            for _ in range(per_class):
                img = np.zeros((SIZE, SIZE), np.float32)
                dy, dx = rng.integers(0, 5, size=2)  # shift ±2 around the centre
                img[dy: dy + 12, dx: dx + 12] = tmpl * rng.uniform(0.6, 1.0)
                if not hard and rng.random() < detail_p:
                    my, mx = MARK_AT[t]
                    img[my - 1: my + 1, mx - 1: mx + 1] = 1.0
                if rng.random() < 0.3:  # occluder
                    oy, ox = rng.integers(0, SIZE - 3, size=2)
                    img[oy: oy + 4, ox: ox + 4] = rng.uniform(0, 1)
                img = np.clip(img + noise * rng.standard_normal(img.shape), 0, 1).astype(np.float32)
                xs.append(img)
                lls.append((CITIES[t][1] + loc_sigma * rng.standard_normal(),
                            CITIES[t][2] + loc_sigma * rng.standard_normal()))
                ys.append(class_of(s, t))
                ss.append(s)
                ts.append(t)
                hs.append(hard)
    latlon = torch.tensor(lls, dtype=torch.float64)
    return GeoLandmarks(torch.from_numpy(np.stack(xs)).unsqueeze(1), dms_code(latlon), torch.tensor(ys),
                        latlon=latlon.float(), supercat=torch.tensor(ss), city=torch.tensor(ts),
                        hard=torch.tensor(hs), class_names=class_names())


class LandmarkList(Dataset):
    """The official list format: ``<image path>\\t[8 numbers]\\t<label>`` per line; items
    ``(image [3,224,224], location [8], label)``. Relative image paths are read under ``data_root``."""

    FILES = {"train": "Landmark-732_train.txt", "test": "Landmark-732_val.txt"}
    LAYOUT = ("<data_root>/Landmark-732_train.txt and Landmark-732_val.txt, lines "
              "'<image path>\\t[lat°, lat′, lat″, ±1, lon°, lon′, lon″, ±1]\\t<label>' (the official code's lists)")

    def __init__(self, *, split: str, data_root: str | None, train_transform: bool | None = None):
        if split not in self.FILES:
            raise ValueError(f"unknown split {split!r}; choose one of: train, test")
        if data_root is None:
            raise DataRootError(f"dataset 'landmark732' needs data_root with Landmark-732; expected {self.LAYOUT}")
        root = Path(data_root).expanduser()
        path = root / self.FILES[split]
        if not path.is_file():
            raise DataRootError(f"landmark732: missing {path}; expected {self.LAYOUT}")
        self.root, self.items = root, []
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                img, loc, label = line.rstrip().split("\t")
                loc = [float(v) for v in ast.literal_eval(loc)]
                assert len(loc) == 8
                self.items.append((img, loc, int(label)))
            except (ValueError, SyntaxError, AssertionError):
                raise DataRootError(f"landmark732: {path}:{n} is not '<path>\\t[8 numbers]\\t<label>'; "
                                    f"expected {self.LAYOUT}") from None
        if not self.items:
            raise DataRootError(f"landmark732: {path} lists no images; expected {self.LAYOUT}")
        if not self._path(0).is_file():  # spot check: relative paths resolve under data_root
            raise DataRootError(f"landmark732: missing image {self._path(0)} (line 1 of {path}); expected {self.LAYOUT}")
        self.transform = _imagenet_transform(train=split == "train" if train_transform is None else train_transform)

    def __len__(self) -> int:
        return len(self.items)

    def _path(self, i: int) -> Path:
        img = Path(self.items[i][0])
        return img if img.is_absolute() else self.root / img

    def __getitem__(self, i: int):
        from reprobook.engine.data.real import open_rgb

        _, loc, label = self.items[i]
        return self.transform(open_rgb(self._path(i), "landmark732", self.LAYOUT)), torch.tensor(loc), label


@register("landmark732", kind="real")
def landmark732(*, split: str = "train", data_root: str | None = None, train_transform: bool | None = None) -> LandmarkList:
    """Landmark-732 from the official lists (``test`` reads ``Landmark-732_val.txt``); items (image, location [8], label)."""
    return LandmarkList(split=split, data_root=data_root, train_transform=train_transform)


def _imagenet_transform(*, train: bool):
    """Official preprocessing: resize 256, random crop 224 + flip (train) or centre crop (test), ImageNet mean/std."""
    from torchvision import transforms as T

    crop = [T.RandomCrop(224), T.RandomHorizontalFlip()] if train else [T.CenterCrop(224)]
    return T.Compose([T.Resize(256), *crop, T.ToTensor(),
                      T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
