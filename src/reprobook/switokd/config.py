"""Chapter 3 config and presets.

``book``: harder 8×8 digits, a wide MLP teacher and a narrow MLP student, CPU, a few seeds.
``paper`` (= ``paper_cifar10``) and the other ``paper_*`` presets: the official networks,
optimizers, schedules and datasets (real data under ``data_root``; a GPU is assumed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reprobook.engine.config import make_config
from reprobook.switokd.architectures import ARCHS
from reprobook.switokd.okd import METHODS
from reprobook.switokd.switch import EPSILON_FORMS


@dataclass(frozen=True)
class SwitOKDConfig:
    dataset: Literal["digits_hard", "cifar10", "cifar100", "tiny_imagenet", "imagenet"] = "digits_hard"
    topology: Literal["pair", "1T2S", "2T1S"] = "pair"
    teacher: str = "mlp"  # "mlp" (book) or one of architectures.ARCHS
    student: str = "mlp"
    third: str | None = None  # multi-net: second teacher (2T1S, the larger one) or second student (1T2S)
    teacher_width: int = 512  # book MLP teacher: two hidden layers of this width
    student_width: int = 64  # book MLP student: one hidden layer of this width (about as many times fewer parameters as WRN-16-1 vs WRN-16-8)
    data_copies: int = 2  # book data (digits_hard): perturbed copies of every training and test digit
    data_shift: int = 1  # book data: largest random shift in pixels
    data_noise: float = 0.05  # book data: std of the Gaussian pixel noise
    data_occlusion: int = 0  # book data: side of a zeroed square at a random place (0: none)
    reinit: tuple[str, ...] = ()  # roles re-initialised as the official main.py does: N(0, std 1/fan_in), BN γ = 1
    third_width: int = 128  # book multi-net: the third network, two hidden layers of this width
    epochs: int = 12
    batch_size: int = 128
    lr_t: float = 0.1  # teacher learning rate
    lr_s: float = 0.1  # student learning rate
    lr_third: float = 0.1
    opt_s: Literal["sgd", "adam"] = "sgd"
    opt_third: Literal["sgd", "adam"] = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4  # SGD (every parameter, as the official code)
    adam_weight_decay: float = 1e-4
    milestones: tuple[int, ...] = (7, 10)  # 1-based epochs at which lr is multiplied by gamma
    gamma: float = 0.1
    tau: float = 1.0  # temperature of G and KL (the released code uses 1)
    epsilon_form: Literal["code", "figure"] = "code"
    fixed_delta: float | None = None
    require_t_lt_s: bool = True
    official_quirks: bool = True  # multi-net: reproduce the ε copy-paste and 1T2S teacher step
    methods: tuple[str, ...] = ("vanilla", "dml", "switokd", "kd")
    n_seeds: int = 3
    ablations: bool = True
    ablation_seeds: int = 2
    fixed_deltas: tuple[float, ...] = (0.1, 0.15, 0.25)  # inside the book pair's range of G (the paper: 0.2, 0.6, 0.8)
    taus: tuple[float, ...] = (2.0, 4.0)
    gap_widths: tuple[int, ...] = (64, 128, 512)  # teacher widths of the capacity-gap sweep
    eval_batch: int = 1000
    num_workers: int = 2
    threads: int = 1  # torch CPU threads during the run (0: torch's default); tiny MLPs run fastest on one
    seed: int = 0
    device: str = "auto"
    data_root: str | None = None

    @property
    def reads_data_root(self) -> bool:
        """Whether this configuration reads a dataset under ``data_root``."""
        return self.dataset != "digits_hard"

    def __post_init__(self):
        for name in ("teacher_width", "student_width", "third_width", "epochs", "batch_size", "n_seeds", "ablation_seeds",
                     "eval_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0 (0: torch's default), got {self.threads}")
        for name in ("lr_t", "lr_s", "lr_third", "tau", "gamma"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for role in ("teacher", "student") + (("third",) if self.third is not None else ()):
            arch = getattr(self, role)
            if arch != "mlp" and arch not in ARCHS:
                raise ValueError(f"{role} must be 'mlp' or one of: {', '.join(ARCHS)}; got {arch!r}")
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ValueError(f"methods must be a non-empty subset of {', '.join(METHODS)}; got {self.methods}")
        if "kd" in self.methods and "vanilla" not in self.methods:
            raise ValueError("method 'kd' (offline KD) needs 'vanilla' in methods: its teacher is the vanilla one")
        if self.epsilon_form not in EPSILON_FORMS:
            raise ValueError(f"epsilon_form must be one of {', '.join(EPSILON_FORMS)}")
        if (self.topology == "pair") != (self.third is None):
            raise ValueError("topology '1T2S'/'2T1S' needs a third network ('third'); 'pair' takes none")
        if self.dataset == "digits_hard" and "mlp" not in (self.teacher, self.student):
            raise ValueError("dataset 'digits_hard' (8×8, one channel) needs the book's MLPs")
        bad_roles = [r for r in self.reinit if r not in ("teacher", "student", "third")]
        if bad_roles or ("third" in self.reinit and self.third is None):
            raise ValueError(f"reinit takes roles among teacher, student (and third with three networks); got {self.reinit}")
        if self.data_copies < 1 or self.data_shift < 0 or self.data_noise < 0 or not 0 <= self.data_occlusion <= 8:
            raise ValueError("book data needs data_copies >= 1, data_shift >= 0, data_noise >= 0, 0 <= data_occlusion <= 8")
        if self.fixed_delta is not None and not 0 <= self.fixed_delta <= 2:
            raise ValueError(f"fixed_delta must be in [0, 2] (L1 distances of distributions), got {self.fixed_delta}")


PAPER_METHODS = ("vanilla", "dml", "switokd")  # the columns of Table 4 (KDCL is not part of this chapter)
PAPER_CIFAR10 = SwitOKDConfig(  # Table 4: WRN-16-8 -> WRN-16-1, CIFAR-10 main.py
    dataset="cifar10", teacher="wrn16_8", student="wrn16_1", epochs=299, batch_size=128, lr_t=0.1, lr_s=0.1,
    weight_decay=5e-4, milestones=(100, 150, 200), methods=PAPER_METHODS, n_seeds=1, ablations=False,
    eval_batch=100, threads=0)
PRESETS = {
    "book": SwitOKDConfig(),
    "paper": PAPER_CIFAR10,
    "paper_cifar10": PAPER_CIFAR10,
    # Table 4: WRN-16-2 -> 0.5×MobileNetV2; teacher lr 0.1, student lr 0.01 (hard-coded in main.py)
    "paper_cifar100": SwitOKDConfig(
        dataset="cifar100", teacher="wrn16_2", student="mobile_half", epochs=299, batch_size=128, lr_t=0.1,
        lr_s=0.01, milestones=(140, 200, 250), methods=PAPER_METHODS, n_seeds=1, ablations=False, eval_batch=100,
        threads=0),
    # Table 4: ResNet-34 (3×3 stem) -> MobileNetV2 ×1.4, both lr 0.01; main.py re-initialises both networks
    "paper_tiny": SwitOKDConfig(
        dataset="tiny_imagenet", teacher="resnet34_cifar", student="mobilenetv2_1.4", epochs=199, batch_size=128,
        lr_t=0.01, lr_s=0.01, milestones=(100, 140, 180), methods=PAPER_METHODS, n_seeds=1, ablations=False,
        eval_batch=128, threads=0, reinit=("teacher", "student")),
    # ImageNet: ResNet-34 -> ResNet-18, lr 0.1, wd 1e-4, x0.1 at 30, 60, 90
    "paper_imagenet": SwitOKDConfig(
        dataset="imagenet", teacher="resnet34", student="resnet18", epochs=120, batch_size=512, lr_t=0.1,
        lr_s=0.1, weight_decay=1e-4, milestones=(30, 60, 90), methods=PAPER_METHODS, n_seeds=1, ablations=False,
        eval_batch=256, num_workers=8, threads=0),
    # Table 7, 2T1S: T1 = WRN-16-2, T2 = WRN-16-10, S = MobileNet (Adam lr 0.01, wd 1e-4; main.py re-initialises
    # the MobileNet, the WRNs keep their own init)
    "paper_2t1s": SwitOKDConfig(
        dataset="cifar100", topology="2T1S", teacher="wrn16_2", third="wrn16_10", student="mobilenet_v1",
        epochs=269, batch_size=128, lr_t=0.1, lr_third=0.1, opt_third="sgd", lr_s=0.01, opt_s="adam",
        milestones=(140, 200, 250), methods=("switokd",), n_seeds=1, ablations=False, eval_batch=100,
        threads=0, reinit=("student",)),
    # Table 7, 1T2S: T = WRN-16-10, S1 = WRN-16-2, S2 = MobileNet (Adam lr 0.01, wd 1e-4; the MobileNet re-initialised)
    "paper_1t2s": SwitOKDConfig(
        dataset="cifar100", topology="1T2S", teacher="wrn16_10", student="wrn16_2", third="mobilenet_v1",
        epochs=269, batch_size=128, lr_t=0.1, lr_s=0.1, lr_third=0.01, opt_third="adam",
        milestones=(140, 200, 250), methods=("switokd",), n_seeds=1, ablations=False, eval_batch=100,
        threads=0, reinit=("third",)),
}
SMOKE = {"epochs": 1, "milestones": (2,), "batch_size": 256, "teacher_width": 128, "n_seeds": 2, "ablation_seeds": 1,
         "fixed_deltas": (0.15,), "taus": (), "gap_widths": (32,)}


def from_params(*, preset: str = "book", smoke: bool = False, **overrides) -> SwitOKDConfig:
    """Config from notebook parameters; ``None`` values keep the preset's choice."""
    return make_config(PRESETS, preset, smoke=smoke, smoke_overrides=SMOKE, **overrides)
