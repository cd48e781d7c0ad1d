"""StrDiffusion (Chapter 7) config and presets.

``book``: 32×32 photo patches + generated scenes, small U-Nets, T = 50, on a 2-core CPU with
the shipped weights. ``evidence``: the same networks with the shipped evidence's schedule (15k steps
per U-Net) and evaluation (32 images per hole bin, 3 sampling seeds). ``paper``: the official networks (nf = 64, depth 4, 4×32 attention,
discriminator ngf = 64), T = 100 as in the paper, 256×256 images from ``data_root``, Adam 1e-4
(β = 0.9, 0.99) halved at 2M/4M/6M of 8M iterations, D Adam 1e-4 (β = 0.5, 0.99), Canny σ = 3 and
the resampling constants of the official T = 100 comment. ``paper_t400`` is the training
configs' T = 400 with the hard-coded resampling constants (6, 3, 5, 5). The paper presets read a
flat image folder and draw generated masks; ``data`` = ``celeba``/``places2``/``paris_streetview``
and ``masks = "irregular"`` select the paper's released datasets and NVIDIA's masks instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from reprobook.engine.config import make_config

DATA = ("book", "folder", "celeba", "places2", "paris_streetview")
MASKS = ("generated", "irregular")
D_INPUTS = ("masked", "full")


@dataclass(frozen=True)
class StrDiffusionConfig:
    # data
    # book: embedded photos + scenes; folder: <data_root>/{train,test}/*; celeba, places2, paris_streetview:
    # the released layouts under data_root (engine.data.inpainting)
    data: Literal["book", "folder", "celeba", "places2", "paris_streetview"] = "book"
    masks: Literal["generated", "irregular"] = "generated"  # generated strokes/boxes or NVIDIA's irregular masks
    size: int = 32  # image side
    n_scenes: int = 1024  # generated training scenes (test: 256)
    canny_sigma: float = 1.0  # Canny σ (official: 3 at 256 px)
    edges_from: Literal["full", "masked"] = "full"  # full image (official) or masked image (honest)
    # networks
    nf: int = 8  # U-Net base width (official 64)
    depth: int = 2  # U-Net levels (official 4)
    heads: int = 4
    dim_head: int = 8  # attention width per head (official 32)
    d_ngf: int = 8  # discriminator width (official 64)
    # D's training textures: "masked" (y⊙m, what the sampler feeds D) or "full" (the official code's)
    d_inputs: Literal["masked", "full"] = "masked"
    # SDE
    T: int = 50  # diffusion steps (paper 100, training configs 400)
    max_sigma: float = 30.0  # λ·255
    eps: float = 0.005
    # training
    batch_size: int = 16
    lr: float = 1e-3  # U-Nets, Adam β = (0.9, 0.99)
    d_lr: float = 2e-4  # discriminator, Adam β = (0.5, 0.99)
    lr_milestones: tuple[int, ...] = ()  # ×0.5 at these steps (official 2M, 4M, 6M)
    steps_structure: int = 1800
    steps_texture: int = 1800
    steps_irsde: int = 1800
    steps_disc: int = 900
    # sampling
    split: float = 0.4  # early stage ends at ⌊split·T⌋
    u_max: int = 3
    u_min: int = 2
    jump: int = 5
    re: int = 2
    criterion: Literal["code", "paper"] = "code"
    # evaluation
    n_test: int = 6  # test images per mask bin
    eval_seeds: int = 1  # sampling seeds seed … seed + eval_seeds − 1; every variant sees the same noise per seed
    sweep_splits: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 1.0)
    sweep_bins: tuple[int, ...] = (3,)  # mask bins used by the split sweep (indices into BINS)
    retrain: bool = False  # train from scratch instead of loading the shipped weights
    seed: int = 0
    device: str = "auto"

    @property
    def reads_data_root(self) -> bool:
        """Whether this configuration reads a dataset under ``data_root``."""
        return self.data != "book" or self.masks == "irregular"

    def __post_init__(self):
        if self.data not in DATA:
            raise ValueError(f"data must be one of {', '.join(DATA)}; got {self.data!r}")
        if self.d_inputs not in D_INPUTS:
            raise ValueError(f"d_inputs must be one of {', '.join(D_INPUTS)}; got {self.d_inputs!r}")
        if self.masks not in MASKS:
            raise ValueError(f"masks must be one of {', '.join(MASKS)}; got {self.masks!r}")
        for name in ("size", "nf", "depth", "heads", "dim_head", "d_ngf", "batch_size", "n_test", "n_scenes",
                     "eval_seeds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.nf % 2:
            raise ValueError(f"nf must be even, got {self.nf}")
        if self.size % 8:
            raise ValueError(f"size must be a multiple of 8 (three discriminator downsamples), got {self.size}")
        if self.T < 5:
            raise ValueError(f"T must be >= 5, got {self.T}")
        if not 0.0 <= self.split <= 1.0 or any(not 0.0 <= s <= 1.0 for s in self.sweep_splits):
            raise ValueError("split and sweep_splits must lie in [0, 1]")
        if not (1 <= self.u_min <= self.u_max and self.jump >= 1 and self.re >= 1):
            raise ValueError("resampling needs 1 <= u_min <= u_max, jump >= 1 and re >= 1")
        if any(b not in range(4) for b in self.sweep_bins):
            raise ValueError("sweep_bins must be indices 0..3 of the mask bins")
        for name in ("steps_structure", "steps_texture", "steps_irsde", "steps_disc"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


_PAPER = StrDiffusionConfig(
    data="folder", size=256, canny_sigma=3.0, nf=64, depth=4, heads=4, dim_head=32, d_ngf=64, d_inputs="full",
    T=100, batch_size=16, lr=1e-4, d_lr=1e-4, lr_milestones=(2_000_000, 4_000_000, 6_000_000),
    steps_structure=8_000_000, steps_texture=8_000_000, steps_irsde=8_000_000, steps_disc=8_000_000,
    u_max=25, u_min=4, jump=2, re=2, n_test=200, retrain=True)

_BOOK = StrDiffusionConfig()
# The shipped evidence: the book networks trained ≈ 8× longer (lr halved at 10k and 13k steps), and the
# evaluation at 32 test images per hole bin × 3 sampling seeds, the split sweep on the two largest-hole bins.
_EVIDENCE = replace(_BOOK, steps_structure=15_000, steps_texture=15_000, steps_irsde=15_000, steps_disc=5_000,
                    lr_milestones=(10_000, 13_000), n_test=32, eval_seeds=3, sweep_splits=(0.0, 0.4, 1.0),
                    sweep_bins=(2, 3))

PRESETS = {
    "book": _BOOK,
    "evidence": _EVIDENCE,
    "paper": _PAPER,
    "paper_t400": replace(_PAPER, T=400, u_max=6, u_min=3, jump=5, re=5),
}
SMOKE = {"T": 10, "n_test": 1, "sweep_splits": (0.4, 1.0), "sweep_bins": (3,), "n_scenes": 64,
         "steps_structure": 2, "steps_texture": 2, "steps_irsde": 2, "steps_disc": 2}


def from_params(*, preset: str = "book", smoke: bool = False, **overrides) -> StrDiffusionConfig:
    """Config from notebook parameters; ``None`` values keep the preset's choice."""
    return make_config(PRESETS, preset, smoke=smoke, smoke_overrides=SMOKE, **overrides)
