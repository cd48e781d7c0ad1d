"""Configs and presets of Chapters 4 (AdaSG) and 5 (AdaDFQ).

``book``: scikit-learn's 8×8 digits, a small pytorchcv-style ResNet trained inside the run, W3A3
as the main setting and W2A2 as a labelled extension, a few seeds, sized for a 2-core CPU.
``paper`` (CIFAR-10 ResNet-20) and ``paper_*``: the official network, schedule (400 epochs ×
200 iterations of 16), optimisers, per-paper α/λ and the official bias-corrected range EMA; they
read the real dataset under ``data_root``. ``evidence``: the book's setting at the longer schedule
of the shipped evidence of both chapters (:mod:`reprobook.dfq.grid`). ``bits`` selects W3A3, W4A4 or W5A5 as in the paper's table. The papers start from
pre-trained networks: ``fp_weights`` loads one (a state dict in this layout, read with
``weights_only=True``); without it P is trained in the run. ``baselines=False`` runs only the
chapter's own method (GDFQ and, in Chapter 5, AdaSG are each a full data-free run).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from reprobook.dfq.adaptability import check_band
from reprobook.dfq.quant import check_bits
from reprobook.engine.config import make_config

DATASETS = ("digits", "cifar10", "cifar100", "imagenet")


@dataclass(frozen=True)
class DFQConfig:
    chapter: Literal["adasg", "adadfq"] = "adasg"
    dataset: Literal["digits", "cifar10", "cifar100", "imagenet"] = "digits"
    model: Literal["digits_resnet", "resnet20", "resnet18", "mobilenetv2", "resnet50"] = "digits_resnet"
    widths: tuple[int, ...] = (16, 32, 64)  # digits net: channels per stage
    units: int = 1  # digits net: residual units per stage
    img_size: int = 8  # generator output side (digits 8, CIFAR 32, ImageNet 224)
    bits: int = 3  # main setting WbAb
    extension_bits: int = 2  # labelled extension WbAb (0: none)
    n_seeds: int = 3  # seeds of the main comparison
    ext_seeds: int = 2  # seeds of the extension
    # schedule of one data-free run (official: 400 × 200, batch 16, warm-up 4, ranges 4 epochs)
    epochs: int = 400
    iters_per_epoch: int = 200
    batch_size: int = 16
    warmup_epochs: int = 4
    calib_epochs: int = 4
    lr_q: float = 1e-4
    lr_g: float = 1e-3
    lr_steps: tuple[int, ...] = (100, 200, 300)
    temperature: float = 20.0
    latent_dim: int = 100
    gen_width: int = 128
    ema: Literal["plain", "bias_corrected"] = "plain"  # activation-range EMA
    # method knobs (None: the paper's value for this chapter, model and bit width)
    alpha_ds: float | None = None
    alpha_as: float | None = None
    lambda_l: float | None = None
    lambda_u: float | None = None
    # ablations
    ablations: bool = True
    bands: tuple[tuple[float, float], ...] = ((0.0, 0.5), (0.3, 1.0))  # extra (λ_l, λ_u) next to the default
    # full-precision P
    fp_epochs: int = 30
    fp_lr: float = 1e-3
    fp_batch: int = 64
    fp_weights: str | None = None  # state dict of P in this layout; None trains P in the run
    ptq_batches: int = 50  # calibration batches of 16 for the PTQ baselines
    baselines: bool = True  # also run the data-free baselines (GDFQ; Chapter 5: and AdaSG), each a full run
    trace_every: int = 10  # game probes every this many iterations (0: none)
    # float64 (digits only) makes a multi-process run reproduce the single-process numbers to
    # rounding; in float32 the quantizer's rounding and the ill-conditioned H' amplify it
    dtype: Literal["float32", "float64"] = "float32"
    seed: int = 0
    device: str = "auto"
    data_root: str | None = None

    @property
    def reads_data_root(self) -> bool:
        """Whether this configuration reads a dataset under ``data_root``."""
        return self.dataset != "digits"

    def __post_init__(self):
        check_bits(self.bits)
        if self.extension_bits:
            check_bits(self.extension_bits, "extension_bits")
        for name in ("n_seeds", "epochs", "iters_per_epoch", "batch_size", "fp_batch", "ptq_batches", "units"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("ext_seeds", "warmup_epochs", "calib_epochs", "fp_epochs", "trace_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs ({self.warmup_epochs}) must be < epochs ({self.epochs})")
        if self.batch_size < 2:
            raise ValueError("batch_size must be >= 2 (H' is normalised by the batch minimum)")
        if self.img_size % 4:
            raise ValueError(f"img_size must be a multiple of 4, got {self.img_size}")
        if self.dtype != "float32" and self.dataset != "digits":
            raise ValueError(f"dtype {self.dtype!r} is only available for the digits dataset; use float32")
        if (self.dataset == "digits") != (self.model == "digits_resnet"):
            raise ValueError(f"model {self.model!r} does not fit dataset {self.dataset!r}: digits uses "
                             "digits_resnet; cifar10/100 use resnet20; imagenet uses resnet18, mobilenetv2 or resnet50")
        lo = 0.0 if self.lambda_l is None else self.lambda_l
        hi = 1.0 if self.lambda_u is None else self.lambda_u
        check_band(lo, hi)
        for band in self.bands:
            check_band(*band)
        for name in ("alpha_ds", "alpha_as"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def classes(self) -> int:
        return {"digits": 10, "cifar10": 10, "cifar100": 100, "imagenet": 1000}[self.dataset]

    @property
    def channels(self) -> int:
        return 1 if self.dataset == "digits" else 3


# The paper presets train as the official code does, with its bias-corrected recursive range EMA; the plain
# EMA (the book's default) is the book's documented fix.
_CIFAR = dict(dataset="cifar10", model="resnet20", img_size=32, extension_bits=0, n_seeds=1, ext_seeds=0,
              ablations=False, fp_epochs=200, fp_lr=1e-3, fp_batch=128, trace_every=0, ema="bias_corrected")
_IMAGENET = dict(_CIFAR, dataset="imagenet", model="resnet18", img_size=224, temperature=5.0, warmup_epochs=50, lr_q=1e-5,
                 lr_steps=(350, 400))

# ResNet-50: the official configs give warm-up 50 and LR steps [200, 300, 400] at W4A4, [350, 400] at W5A5.
_R50 = {"paper_imagenet_r50": dict(_IMAGENET, model="resnet50", bits=4, warmup_epochs=50, lr_q=1e-4,
                                   lr_steps=(200, 300, 400)),
        "paper_imagenet_r50_w5": dict(_IMAGENET, model="resnet50", bits=5, warmup_epochs=50, lr_q=1e-4,
                                      lr_steps=(350, 400))}

# 8 epochs × 25 iterations (official 400 × 200); warm-up and range calibration 1 epoch (official 4);
# LR steps at 5 and 7 (official 100/200/300 of 400).
BOOK = DFQConfig(epochs=8, iters_per_epoch=25, warmup_epochs=1, calib_epochs=1, lr_steps=(5, 7), lr_q=1e-4,
                 fp_epochs=20, n_seeds=3, ext_seeds=2, trace_every=5)

# The shipped evidence (``reprobook evidence adasg --preset evidence``): the book's setting at 160 epochs × 25
# iterations (4000), warm-up and range calibration 1 epoch, LR steps at 40/80/120 (the official 100/200/300 of
# 400).
EVIDENCE = dataclasses.replace(BOOK, epochs=160, lr_steps=(40, 80, 120), trace_every=0, ablations=False)

ADASG_PRESETS = {
    "book": dataclasses.replace(BOOK, chapter="adasg"),
    "evidence": dataclasses.replace(EVIDENCE, chapter="adasg"),
    "paper": DFQConfig(chapter="adasg", **_CIFAR),
    "paper_cifar100": DFQConfig(chapter="adasg", **dict(_CIFAR, dataset="cifar100")),
    "paper_imagenet_r18": DFQConfig(chapter="adasg", **_IMAGENET),
    "paper_imagenet_mv2": DFQConfig(chapter="adasg", **dict(_IMAGENET, model="mobilenetv2")),
    **{k: DFQConfig(chapter="adasg", **v) for k, v in _R50.items()},
}
ADADFQ_PRESETS = {
    "book": dataclasses.replace(BOOK, chapter="adadfq", ext_seeds=1),
    "paper": DFQConfig(chapter="adadfq", **_CIFAR),
    "paper_cifar100": DFQConfig(chapter="adadfq", **dict(_CIFAR, dataset="cifar100")),
    "paper_imagenet_r18": DFQConfig(chapter="adadfq", **_IMAGENET),
    "paper_imagenet_mv2": DFQConfig(chapter="adadfq", **dict(_IMAGENET, model="mobilenetv2")),
    **{k: DFQConfig(chapter="adadfq", **v) for k, v in _R50.items()},
}
SMOKE = {"epochs": 2, "iters_per_epoch": 2, "warmup_epochs": 1, "calib_epochs": 1, "lr_steps": (1,),
         "n_seeds": 2, "ext_seeds": 1, "fp_epochs": 1, "fp_batch": 256, "ptq_batches": 2, "trace_every": 1,
         "bands": ((0.0, 0.5),)}


def adasg_from_params(*, preset: str = "book", smoke: bool = False, **overrides) -> DFQConfig:
    """Chapter 4 config from notebook parameters; ``None`` keeps the preset's value."""
    return make_config(ADASG_PRESETS, preset, smoke=smoke, smoke_overrides=SMOKE, **overrides)


def adadfq_from_params(*, preset: str = "book", smoke: bool = False, **overrides) -> DFQConfig:
    """Chapter 5 config from notebook parameters; ``None`` keeps the preset's value."""
    return make_config(ADADFQ_PRESETS, preset, smoke=smoke, smoke_overrides=SMOKE, **overrides)
