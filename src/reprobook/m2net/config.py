"""Chapter 2 config and presets: ``book`` (GeoLandmarks-synth, CPU) and ``paper`` (Landmark-732,
the official networks and hyperparameters)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reprobook.engine.config import make_config

# The chapter's runs: the method, its baseline and the ablations.
VARIANT_NAMES = ("m2net", "blockdrop", "no_location", "no_diversity", "fusion_55", "fusion_73")


@dataclass(frozen=True)
class M2NetConfig:
    # --- data ---
    dataset: Literal["geo_landmarks", "landmark732"] = "geo_landmarks"
    per_class: int = 150  # training images per class (generated set)
    test_per_class: int = 50
    detail_p: float = 0.5  # probability that a non-look-alike class shows its city mark
    data_root: str | None = None
    # --- networks ---
    arch: Literal["book", "paper"] = "book"
    num_classes: int = 20
    layers: tuple[int, ...] = (3, 3, 3)  # blocks per stage of the recognition network; K = sum
    planes: tuple[int, ...] = (8, 16, 32)  # stage widths of the recognition network
    strides: tuple[int, ...] = (2, 2, 2)  # stride of each stage's first block (16×16 → 8, 4, 2)
    policy_planes: tuple[int, ...] = (8, 16, 32)  # image branch of the policy network (1 block per stage)
    loc_widths: tuple[int, ...] = (64, 128, 128, 64)  # location MLP (official: 128, 256, 256, 128)
    # Initial weights of the policy's image branch (paper architecture only): "scratch"; "imagenet" = torchvision's
    # ImageNet ResNet-18 file in torch's hub cache; or the path of such a file (a ResNet-18 state dict).
    policy_init: str = "scratch"
    # --- method (M²Net) ---
    alpha: float = 0.8  # probability bounding
    beta: float = 0.1  # "entropy" bonus, phase 1
    w_div: float = 0.6  # reward weight of R_div
    w_sp: float = 0.4  # reward weight of R_sp
    w_img: float = 0.3  # fusion weight of the image branch
    w_loc: float = 0.7  # fusion weight of the location branch
    penalty1: float = -1.0  # reward of a wrong prediction, phase 1
    penalty2: float = -5.0  # reward of a wrong prediction, phase 2
    # --- schedule ---
    batch_size: int = 128
    pretrain_epochs: int = 6  # CE training of the recognition network (all blocks)
    pretrain_lr: float = 3e-3
    pretrain_drop: float = 0.1  # random block drop during pre-training (reconstruction; 0 = plain CE)
    phase1_epochs: int = 2  # policy only, recognition network frozen
    phase1_lr: float = 1e-3
    phase2_epochs: int = 3  # joint fine-tuning
    phase2_lr: float = 1e-3
    lr_step_epochs: int = 30  # lr ×0.1 every this many epochs
    cl_epochs: float = 0.1  # BlockDrop curriculum: one more learned block every cl_epochs epochs (official: 1)
    # --- runs ---
    variants: tuple[str, ...] = VARIANT_NAMES
    n_seeds: int = 1  # live runs per variant (the claims rest on the shipped evidence)
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0  # data-loading workers (file-list datasets)
    ckpt_every_epochs: int = 2

    @property
    def reads_data_root(self) -> bool:
        """Whether this configuration reads a dataset under ``data_root``."""
        return self.dataset == "landmark732"

    def __post_init__(self):
        for name in ("per_class", "test_per_class", "num_classes", "batch_size", "n_seeds", "lr_step_epochs",
                     "ckpt_every_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("pretrain_epochs", "phase1_epochs", "phase2_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.cl_epochs <= 0:
            raise ValueError(f"cl_epochs must be > 0, got {self.cl_epochs}")
        if not 0.5 < self.alpha <= 1.0:
            raise ValueError(f"alpha must be in (0.5, 1], got {self.alpha}")
        if not 0.0 <= self.detail_p <= 1.0 or not 0.0 <= self.pretrain_drop < 1.0:
            raise ValueError("detail_p must be in [0, 1] and pretrain_drop in [0, 1)")
        if not (len(self.layers) == len(self.planes) == len(self.strides)) or min(self.layers) < 1:
            raise ValueError("layers and planes need one entry per stage, each stage >= 1 block")
        if len(self.loc_widths) != 4:
            raise ValueError(f"loc_widths must have 4 entries (the official 5-layer MLP), got {self.loc_widths}")
        bad = [v for v in self.variants if v not in VARIANT_NAMES]
        if bad or not self.variants or self.variants[0] != "m2net":
            raise ValueError(f"variants must start with 'm2net' and be among {', '.join(VARIANT_NAMES)}; got {self.variants}")
        if self.policy_init != "scratch" and self.arch != "paper":
            raise ValueError("policy_init needs arch='paper' (the ResNet-18 image branch); the book policy starts "
                             "from scratch")
        if self.w_img < 0 or self.w_loc < 0 or self.w_img + self.w_loc == 0:
            raise ValueError("fusion weights w_img, w_loc must be >= 0 and not both 0")

    @property
    def num_blocks(self) -> int:
        return sum(self.layers)


PRESETS = {
    "book": M2NetConfig(),
    # The official Landmark-732 setting: FlatResNet224(Bottleneck, [7, 7, 7]) (K = 21) and
    # Policy224_loc (ResNet-10 image branch, 128-256-256-128 location MLP); Adam, batch 128;
    # phase 1: lr 1e-3, 101 epochs, penalty −1; phase 2: lr 1e-4, 201 epochs, penalty −5; lr ×0.1
    # every 30 epochs. The recognition network's pre-training is not in the release (plain CE here). The
    # policy's image branch starts from torchvision's ImageNet ResNet-18 (first block of every stage), read
    # from a file the user provides: nothing is downloaded.
    "paper": M2NetConfig(dataset="landmark732", arch="paper", num_classes=732, layers=(7, 7, 7),
                         planes=(64, 128, 256), strides=(1, 2, 2), policy_planes=(64, 128, 256, 512),
                         policy_init="imagenet",
                         loc_widths=(128, 256, 256, 128), pretrain_epochs=90, pretrain_lr=1e-3,
                         pretrain_drop=0.0, phase1_epochs=101, phase1_lr=1e-3, phase2_epochs=201,
                         phase2_lr=1e-4, lr_step_epochs=30, cl_epochs=1.0, variants=("m2net", "blockdrop"),
                         n_seeds=1, ckpt_every_epochs=1, num_workers=8),
}
SMOKE = {"per_class": 8, "test_per_class": 5, "batch_size": 32, "pretrain_epochs": 1, "phase1_epochs": 1,
         "phase2_epochs": 1, "n_seeds": 1, "ckpt_every_epochs": 1}


def from_params(*, preset: str = "book", smoke: bool = False, **overrides) -> M2NetConfig:
    """Config from notebook parameters; ``None`` values keep the preset's choice."""
    return make_config(PRESETS, preset, smoke=smoke, smoke_overrides=SMOKE, **overrides)
