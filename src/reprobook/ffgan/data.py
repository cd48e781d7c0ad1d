r"""Book data for Chapter 6: generated captioned images of two coloured shapes.

Every image holds two non-overlapping objects; object 0 is the top (or left) one, object 1 the
bottom (or right) one. Each object has a colour (6), a shape (3) and a size (2); the layout is
vertical or horizontal. A caption names both objects and their relation in one of several
paraphrases, in either order ("a small red circle above a large blue square" = "a large blue
square below a small red circle"), so a generator must *bind* each colour and shape word to the
right object and place: the same bag of words with two colours swapped is another image.

Per image we store the picture ``x [3,S,S]`` in [-1, 1], the caption tokens ``cap [T]`` (0 =
padding), its length, the seven attribute labels ``attrs [7]`` = (layout, colour₀, shape₀,
size₀, colour₁, shape₁, size₁), the object masks ``masks [2,S,S]`` and, for each caption
position, the object it describes (``word_obj [T]``: 0 or 1 for size/colour/shape words, −1
otherwise). ``cls`` is the attribute configuration's id, used to mask false negatives in the
DAMSM losses (the CUB class ids play this role in the original).

The ``paper`` preset reads CUB-200-2011 in AttnGAN's layout instead (:func:`cub_birds`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from reprobook.engine.data import DataRootError, register
from reprobook.engine.data.pickles import ForbiddenGlobal, UnpicklingError, load_restricted

COLORS = {"red": (0.90, 0.12, 0.12), "green": (0.10, 0.70, 0.15), "blue": (0.12, 0.25, 0.92),
          "yellow": (0.95, 0.85, 0.10), "magenta": (0.85, 0.12, 0.85), "cyan": (0.10, 0.82, 0.85)}
SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "large")
LAYOUTS = ("vertical", "horizontal")
FUNCTION_WORDS = ("a", "there", "is", "to", "the", "of", "left", "right", "above", "below")
VOCAB = ("<pad>",) + FUNCTION_WORDS + SIZES + tuple(COLORS) + SHAPES
WORD2IX = {w: i for i, w in enumerate(VOCAB)}
MAX_LEN = 14  # "there is a small red circle to the left of a large blue square"
ATTR_NAMES = ("layout", "colour0", "shape0", "size0", "colour1", "shape1", "size1")
ATTR_CLASSES = (2, 6, 3, 2, 6, 3, 2)
SPLIT_SEEDS = {"train": 11, "val": 22, "test": 33}


def object_phrase(color: int, shape: int, size: int) -> list[str]:
    return ["a", SIZES[size], list(COLORS)[color], SHAPES[shape]]


def caption_words(attrs, *, order: int, template: int) -> tuple[list[str], list[int]]:
    """Words of a caption and the object each word describes (−1: none).

    ``order`` 0 names object 0 first ("A above B"), 1 names object 1 first ("B below A");
    ``template`` picks a paraphrase: "P rel Q", "there is P rel Q", "P is rel Q".
    """
    layout = attrs[0]
    objs = [(attrs[1], attrs[2], attrs[3]), (attrs[4], attrs[5], attrs[6])]
    first, second = (0, 1) if order == 0 else (1, 0)
    rel = {(0, 0): ["above"], (0, 1): ["below"], (1, 0): ["to", "the", "left", "of"],
           (1, 1): ["to", "the", "right", "of"]}[(layout, order)]
    p, q = object_phrase(*objs[first]), object_phrase(*objs[second])
    prefix = [[], ["there", "is"], []][template]
    mid = ["is"] if template == 2 else []
    words = prefix + p + mid + rel + q
    owner = ([-1] * len(prefix) + [-1, first, first, first] + [-1] * (len(mid) + len(rel))
             + [-1, second, second, second])
    return words, owner


def encode(words: list[str]) -> tuple[torch.Tensor, int]:
    """Token ids padded to ``MAX_LEN`` and the caption length; unknown words raise one clear error."""
    bad = [w for w in words if w not in WORD2IX]
    if bad:
        raise ValueError(f"unknown word(s) {bad}; the vocabulary is: {', '.join(VOCAB[1:])}")
    ids = torch.zeros(MAX_LEN, dtype=torch.long)
    ids[: len(words)] = torch.tensor([WORD2IX[w] for w in words])
    return ids, len(words)


def _shape_mask(shape: int, cx: float, cy: float, d: float, n: int) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n] + 0.5
    r = d / 2
    if SHAPES[shape] == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r ** 2
    if SHAPES[shape] == "square":
        s = r * 0.9
        return (np.abs(xx - cx) <= s) & (np.abs(yy - cy) <= s)
    # upward triangle inscribed in the box of side d
    top, bottom = cy - r, cy + r
    t = np.clip((yy - top) / (bottom - top), 0, None)
    return (yy >= top) & (yy <= bottom) & (np.abs(xx - cx) <= t * r)


def render(attrs, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw one image ``[3,S,S]`` in [0,1] (2× supersampled) and its two masks ``[2,S,S]``."""
    n = 2 * size
    layout = attrs[0]
    diam = {0: 0.24 * n, 1: 0.40 * n}
    img = np.full((3, n, n), 0.85, dtype=np.float32)
    masks = np.zeros((2, n, n), dtype=np.float32)
    for k in range(2):
        color, shape, sz = attrs[1 + 3 * k: 4 + 3 * k]
        along = (0.26 if k == 0 else 0.74) * n + rng.uniform(-0.04, 0.04) * n
        across = 0.5 * n + rng.uniform(-0.12, 0.12) * n
        cx, cy = (across, along) if layout == 0 else (along, across)
        m = _shape_mask(shape, cx, cy, diam[sz], n)
        masks[k] = m
        img[:, m] = np.asarray(list(COLORS.values())[color], dtype=np.float32)[:, None]
    img = img.reshape(3, size, 2, size, 2).mean((2, 4))
    masks = masks.reshape(2, size, 2, size, 2).mean((2, 4))
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return img.clip(0, 1), masks


def config_id(attrs) -> int:
    """Index of an attribute configuration (used as the DAMSM 'class')."""
    idx = 0
    for a, n in zip(attrs, ATTR_CLASSES):
        idx = idx * n + int(a)
    return idx


def random_attrs(rng: np.random.Generator) -> list[int]:
    return [int(rng.integers(n)) for n in ATTR_CLASSES]


@lru_cache(maxsize=8)
def _make(split: str, n: int, size: int, seed: int):
    rng = np.random.default_rng(SPLIT_SEEDS[split] * 1000 + seed)
    xs, masks, caps, lens, owners, attrs, cls = [], [], [], [], [], [], []
    for _ in range(n):
        a = random_attrs(rng)
        img, m = render(a, rng, size)
        words, owner = caption_words(a, order=int(rng.integers(2)), template=int(rng.integers(3)))
        ids, length = encode(words)
        xs.append(img)
        masks.append(m)
        caps.append(ids)
        lens.append(length)
        owners.append(torch.tensor(owner + [-1] * (MAX_LEN - length)))
        attrs.append(torch.tensor(a))
        cls.append(config_id(a))
    x = torch.from_numpy(np.stack(xs)) * 2 - 1  # [N, 3, S, S] in [-1, 1]
    return (x, torch.stack(caps), torch.tensor(lens), torch.stack(attrs), torch.from_numpy(np.stack(masks)),
            torch.stack(owners), torch.tensor(cls))


@register("ffgan_shapes", kind="generated")
def two_shapes(*, split: str = "train", n: int = 4000, size: int = 32, seed: int = 0) -> TensorDataset:
    """Two coloured shapes with a caption: ``(x, cap, cap_len, attrs, masks, word_obj, cls)``.

    The three splits use disjoint seeds; the same arguments always give the same tensors.
    """
    if split not in SPLIT_SEEDS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLIT_SEEDS)}")
    if n < 1 or size < 8 or size & (size - 1):
        raise ValueError(f"n must be >= 1 and size a power of two >= 8; got n={n}, size={size}")
    return TensorDataset(*_make(split, n, size, seed))


# ---------------------------------------------------------------- CUB (``paper`` preset)
CUB_LAYOUT = ("<data_root>/birds/{captions.pickle, train/filenames.pickle, test/filenames.pickle, "
              "CUB_200_2011/images/, CUB_200_2011/bounding_boxes.txt, CUB_200_2011/images.txt} "
              "(AttnGAN's birds metadata + CUB-200-2011)")


class CUBBirds(Dataset):
    """CUB-200-2011 with AttnGAN's captions and split: bbox-cropped images at 64, 128, 256.

    Items: ``(images [x64, x128, x256], cap [words_num], cap_len, class_id)``. One of the 10
    captions is drawn per item; captions longer than ``words_num`` are shortened by dropping
    random words in order, as the official loader does.
    """

    def __init__(self, *, split: str, data_root: str | None, base_size: int = 64, branch_num: int = 3,
                 words_num: int = 18, seed: int = 0):
        if data_root is None:
            raise DataRootError(f"dataset 'cub_birds' needs data_root; expected {CUB_LAYOUT}")
        if split not in ("train", "test"):
            raise ValueError(f"unknown split {split!r}; choose one of: train, test")
        root = Path(data_root).expanduser() / "birds"
        need = [root / "captions.pickle", root / split / "filenames.pickle", root / "CUB_200_2011" / "images",
                root / "CUB_200_2011" / "bounding_boxes.txt", root / "CUB_200_2011" / "images.txt"]
        for p in need:
            if not p.exists():
                raise DataRootError(f"cub_birds: missing {p}; expected {CUB_LAYOUT}")
        try:  # AttnGAN wrote these with Python 2; latin1 reads its str objects
            with open(root / "captions.pickle", "rb") as f:
                train_caps, test_caps, self.ixtoword, self.wordtoix = load_restricted(f, encoding="latin1")[:4]
            with open(root / split / "filenames.pickle", "rb") as f:
                self.filenames = list(load_restricted(f, encoding="latin1"))
            ids = dict(line.split() for line in open(root / "CUB_200_2011" / "images.txt") if line.strip())
            boxes = {ids[i]: [float(v) for v in rest] for i, *rest in
                     (line.split() for line in open(root / "CUB_200_2011" / "bounding_boxes.txt") if line.strip())}
        except ForbiddenGlobal as e:
            raise DataRootError(f"cub_birds: metadata under {root} was not loaded ({e}); "
                                f"expected {CUB_LAYOUT}") from None
        except (UnpicklingError, EOFError, TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
            raise DataRootError(f"cub_birds: unreadable metadata under {root} ({type(e).__name__}); "
                                f"expected {CUB_LAYOUT}") from None
        self.captions = train_caps if split == "train" else test_caps
        self.boxes = {k[:-4]: v for k, v in boxes.items()}
        lost = [n for n in self.filenames if n not in self.boxes]
        if not self.filenames or lost or len(self.captions) < len(self.filenames):
            what = f"{lost[0]!r} is not in images.txt" if lost else "fewer captions than images"
            raise DataRootError(f"cub_birds: {split}/filenames.pickle: {what}; expected {CUB_LAYOUT}")
        self.root, self.words_num, self.split = root, words_num, split
        self.sizes = [base_size * 2 ** i for i in range(branch_num)]
        self.rng = np.random.default_rng(seed)
        self.per_image = max(1, len(self.captions) // max(1, len(self.filenames)))

    def __len__(self) -> int:
        return len(self.filenames)

    def _image(self, name: str):
        from PIL import Image

        from reprobook.engine.data.real import open_rgb

        img = open_rgb(self.root / "CUB_200_2011" / "images" / f"{name}.jpg", "cub_birds", CUB_LAYOUT)
        w, h = img.size
        x, y, bw, bh = self.boxes[name]
        r = int(max(bw, bh) * 0.75)
        cx, cy = int(x + bw / 2), int(y + bh / 2)
        img = img.crop((max(0, cx - r), max(0, cy - r), min(w, cx + r), min(h, cy + r)))
        out = []
        for s in self.sizes:
            a = np.asarray(img.resize((s, s), Image.BICUBIC), dtype=np.float32) / 127.5 - 1
            out.append(torch.from_numpy(a).permute(2, 0, 1))
        return out

    def __getitem__(self, i: int):
        name = self.filenames[i]
        k = int(self.rng.integers(self.per_image))
        cap = [t for t in self.captions[i * self.per_image + k] if t != 0]
        if len(cap) > self.words_num:
            keep = np.sort(self.rng.permutation(len(cap))[: self.words_num])
            cap = [cap[j] for j in keep]
        ids = torch.zeros(self.words_num, dtype=torch.long)
        ids[: len(cap)] = torch.tensor(cap, dtype=torch.long)
        class_id = int(os.path.dirname(name).split(".")[0]) if "." in os.path.dirname(name) else 0
        return self._image(name), ids, len(cap), class_id


@register("cub_birds", kind="real")
def cub_birds(*, split: str = "train", data_root: str | None = None, **options) -> CUBBirds:
    """CUB-200-2011 birds with AttnGAN's captions (the ``paper`` preset's dataset)."""
    return CUBBirds(split=split, data_root=data_root, **options)


class CUBAllCaptions(Dataset):
    """CUB items with *all* captions of the image, for training: the caption is chosen in the step.

    Items: ``(images [x64, x128, x256], caps [K, L], lens [K], class_id)`` with ``K`` captions per
    image padded to the longest caption ``L``. :func:`choose_captions` then picks one caption per
    item and shortens it from draws made for the global batch with a seeded generator, so a data-
    parallel run (each rank loading its slice) reads the captions of the single-process run, and
    a resumed run the captions of an uninterrupted one.
    """

    def __init__(self, base: CUBBirds):
        self.base = base
        k = base.per_image
        self.length = max(1, max(len([t for t in c if t != 0]) for c in base.captions[: len(base) * k]))

    def __len__(self) -> int:
        return len(self.base)

    def captions(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """All captions of image ``i``: ``caps [K, L]`` (0 = padding) and ``lens [K]``."""
        k = self.base.per_image
        caps = torch.zeros(k, self.length, dtype=torch.long)
        lens = torch.zeros(k, dtype=torch.long)
        for j in range(k):
            c = [t for t in self.base.captions[i * k + j] if t != 0][: self.length]
            caps[j, : len(c)] = torch.tensor(c, dtype=torch.long)
            lens[j] = max(1, len(c))
        return caps, lens

    def class_id(self, i: int) -> int:
        d = os.path.dirname(self.base.filenames[i])
        return int(d.split(".")[0]) if "." in d else 0

    def __getitem__(self, i: int):
        caps, lens = self.captions(i)
        return self.base._image(self.base.filenames[i]), caps, lens, self.class_id(i)


def choose_captions(caps: torch.Tensor, lens: torch.Tensor, *, words_num: int, generator: torch.Generator,
                    n_global: int, rows: slice) -> tuple[torch.Tensor, torch.Tensor]:
    """One caption per item, shortened to ``words_num`` words by dropping random words (order kept).

    ``caps [b, K, L]``, ``lens [b, K]`` are this rank's items ``rows`` of a global batch of
    ``n_global``; the choices are drawn for the whole global batch from ``generator`` and sliced.
    Returns ``cap [b, words_num]`` and ``cap_len [b]``.
    """
    b, k, length = caps.shape
    pick = torch.randint(k, (n_global,), generator=generator)[rows]  # which caption of each image
    keys = torch.rand(n_global, length, generator=generator)[rows]  # random order for dropping words
    cap = caps[torch.arange(b), pick]  # [b, L]
    n = lens[torch.arange(b), pick]
    valid = torch.arange(length)[None, :] < n[:, None]
    keep = min(words_num, length)
    idx = keys.masked_fill(~valid, 2.0).topk(keep, dim=1, largest=False).indices.sort(dim=1).values  # [b, keep]
    out = torch.zeros(b, words_num, dtype=torch.long)
    short = torch.where(n[:, None] > words_num, cap.gather(1, idx), cap[:, :keep])  # long captions: random words
    out[:, :keep] = short.masked_fill(torch.arange(keep)[None, :] >= n[:, None], 0)  # zero after the caption
    return out, n.clamp(max=words_num)
