"""Chapter 1 config and presets.

``book``: the digits network on the harder digits variant, sized to the 2-minute CPU budget.
``paper``: XNOR-Net's ImageNet AlexNet with that code's optimiser settings (Adam, lr 1e-3, weight
decay 1e-5, batch 256, lr × 0.1 every 30 of 100 epochs) on an ImageNet folder under ``data_root``.
``paper_cifar``: the BNN CIFAR-10 network with FC layers and the XNOR-Net CIFAR code's settings
(Adam, lr 0.01, weight decay 1e-5, batch 128, lr × 0.1 at epochs 120/200/240/280 of 320).
TAC's own schedule, pruning rate and bit-width are unknown: ``prune_rate=0.9`` and ``bits=5``
follow Deep Compression's FC settings, and the compression stages' lengths are reconstructions.
"""

from __future__ import annotations

from dataclasses import dataclass

from reprobook.engine.config import make_config
from reprobook.tac.compress import QUANTIZERS
from reprobook.tac.model import ARCHS

DATASETS = ("digits_hard", "digits", "cifar10", "cifar100", "imagenet")
ORDERS = ("prune_quantize", "quantize_prune")
IMAGENET_EPOCH = 1_281_167 // 256  # steps per epoch at batch 256
CIFAR_EPOCH = 50_000 // 128


@dataclass(frozen=True)
class TACConfig:
    arch: str = "digits"  # network (model.ARCHS)
    dataset: str = "digits_hard"
    num_classes: int = 10
    batch_size: int = 64
    lr: float = 1e-3  # Adam
    weight_decay: float = 1e-5
    lr_milestones: tuple[float, ...] = (0.75,)  # fractions of each stage where lr × 0.1
    fp_steps: int = 300  # stage 1: the full-precision network
    bin_steps: int = 200  # stage 2: each binary variant, from the FP weights
    xnor_all_steps: int | None = None  # XNOR-all's steps (None: as many as TAC, bin + prune + quant steps)
    prune_steps: int = 150  # stage 3 (TAC): retrain the FC layers with fixed masks
    quant_steps: int = 100  # stage 4 (TAC): fine-tune the shared FC weights (codebooks)
    head_lr: float = 1e-3  # Adam lr of stages 3-4 (FC layers only, conv frozen)
    prune_rate: float = 0.9  # fraction of FC weights pruned
    bits: int = 5  # FC weight-sharing bits (2^b values per layer)
    quantizer: str = "kmeans"  # or "uniform"
    order: str = "prune_quantize"  # or "quantize_prune"
    index_bits: int = 4  # relative sparse-index bits
    kmeans_iters: int = 20
    compress_classifier: bool = False  # also prune + quantize the last FC layer
    grad_rescale: bool = True  # XNOR-Net code's (1 − 1/c_in)·n gradient factor
    sweep_rates: tuple[float, ...] = (0.5, 0.75, 0.9, 0.95)
    sweep_bits: tuple[int, ...] = (2, 3, 4, 5, 8)
    sweep_seeds: int = 3  # seeds with the FC-treatment sweep and ablations (0: none)
    n_seeds: int = 3
    noise: float = 0.15  # digits_hard corruption
    occlude: float = 0.3
    shift: int = 1
    eval_batch: int = 1000
    num_workers: int = 0
    seed: int = 0
    device: str = "auto"
    data_root: str | None = None

    @property
    def xnor_all_train_steps(self) -> int:
        """XNOR-all's training steps: by default as many as TAC's (its trunk's ``bin_steps`` plus its FC stages)."""
        if self.xnor_all_steps is not None:
            return self.xnor_all_steps
        return self.bin_steps + self.prune_steps + self.quant_steps

    @property
    def reads_data_root(self) -> bool:
        """Whether this configuration reads a dataset under ``data_root``."""
        return self.dataset not in ("digits_hard", "digits")

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}; got {self.arch!r}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {self.dataset!r}")
        if self.quantizer not in QUANTIZERS:
            raise ValueError(f"quantizer must be one of {', '.join(QUANTIZERS)}; got {self.quantizer!r}")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}; got {self.order!r}")
        for r in (self.prune_rate, *self.sweep_rates):
            if not 0.0 <= r < 1.0:
                raise ValueError(f"pruning rates must be in [0, 1); got {r}")
        for b in (self.bits, *self.sweep_bits):
            if not (isinstance(b, int) and 1 <= b <= 16):
                raise ValueError(f"bits must be integers between 1 and 16; got {b!r}")
        for name in ("batch_size", "n_seeds", "index_bits", "eval_batch", "num_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("fp_steps", "bin_steps", "prune_steps", "quant_steps", "sweep_seeds", "kmeans_iters"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.xnor_all_steps is not None and not (isinstance(self.xnor_all_steps, int) and self.xnor_all_steps >= 0):
            raise ValueError(f"xnor_all_steps must be None or an integer >= 0, got {self.xnor_all_steps!r}")
        if not all(0.0 < m < 1.0 for m in self.lr_milestones):
            raise ValueError(f"lr_milestones must be fractions in (0, 1); got {self.lr_milestones}")


PRESETS = {
    "book": TACConfig(),
    "paper": TACConfig(arch="alexnet", dataset="imagenet", num_classes=1000, batch_size=256, lr=1e-3,
                       weight_decay=1e-5, lr_milestones=(0.3, 0.6, 0.9), fp_steps=100 * IMAGENET_EPOCH,
                       bin_steps=100 * IMAGENET_EPOCH, prune_steps=10 * IMAGENET_EPOCH,
                       quant_steps=5 * IMAGENET_EPOCH, head_lr=1e-4, sweep_seeds=0, n_seeds=1,
                       eval_batch=256, num_workers=8),
    "paper_cifar": TACConfig(arch="cifar_bnn", dataset="cifar10", batch_size=128, lr=0.01, weight_decay=1e-5,
                             lr_milestones=(0.375, 0.625, 0.75, 0.875), fp_steps=320 * CIFAR_EPOCH,
                             bin_steps=320 * CIFAR_EPOCH, prune_steps=20 * CIFAR_EPOCH,
                             quant_steps=10 * CIFAR_EPOCH, head_lr=1e-4, sweep_seeds=0, n_seeds=1,
                             eval_batch=500, num_workers=4),
}
SMOKE = {"fp_steps": 20, "bin_steps": 10, "prune_steps": 5, "quant_steps": 5, "n_seeds": 2,
         "sweep_rates": (0.9,), "sweep_bits": (2,), "kmeans_iters": 5}


def from_params(*, preset: str = "book", smoke: bool = False, **overrides) -> TACConfig:
    """Config from notebook parameters; ``None`` values keep the preset's choice."""
    return make_config(PRESETS, preset, smoke=smoke, smoke_overrides=SMOKE, **overrides)
