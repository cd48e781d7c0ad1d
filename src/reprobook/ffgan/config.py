"""Chapter 6 config: the ``book`` preset (two-shapes data, CPU) and the ``paper`` preset (CUB, official sizes)."""

from __future__ import annotations

from dataclasses import dataclass

from reprobook.engine.config import make_config
from reprobook.ffgan.model import VARIANTS


@dataclass(frozen=True)
class FFGANConfig:
    dataset: str = "ffgan_shapes"  # "ffgan_shapes" (generated) or "cub_birds" (real, under data_root)
    n_words: int = 22  # vocabulary size incl. padding (CUB: 5,450 in AttnGAN's captions.pickle)
    # --- generator / discriminators (paper: ngf 64, ndf 32, nef 256, z 100, c 100, 64→128→256)
    ngf: int = 16  # GF_DIM: channels of every stage's hidden map
    ndf: int = 16  # DF_DIM
    nef: int = 64  # text/image embedding dimension (n_e)
    emb_dim: int = 32  # word-embedding size of the text encoder (paper: 300)
    z_dim: int = 100
    c_dim: int = 100  # CA code size
    base_size: int = 8  # stage-0 image size (paper: 64)
    branch_num: int = 3  # number of stages (images at base·2^i)
    acm_hidden: int = 32  # hidden width of the ACM convs (official: the literal 128)
    r_num: int = 2  # residual blocks per refinement stage (CUB: 2)
    attn_mask: bool = True  # mask padded words in the FF-Block attention (official code: no mask)
    trim_words: bool = False  # cut word features to the batch's longest caption (official RNN output; no-op if masked)
    matched_ablation: bool = True  # "− FF-Block" with FF-GAN's parameter count (False: the earlier 3C-wide layout)
    image_encoder: str = "cnn"  # DAMSM image encoder: "cnn" (small, trained) or "inception" (official, frozen)
    inception_weights: str | None = None  # user-provided torchvision Inception-v3 state dict ("inception")
    lam: float = 5.0  # λ, DAMSM weight in L_G (CUB: 5)
    gamma1: float = 4.0
    gamma2: float = 5.0
    gamma3: float = 10.0
    # --- GAN optimisation (official: Adam 2e-4, β (0.5, 0.999), EMA 0.999)
    batch_size: int = 24
    gan_steps: int = 800
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema: float = 0.995
    variants: tuple[str, ...] = VARIANTS  # full FF-GAN and the two ablations
    # --- DAMSM encoders (trained first, then frozen) and the evaluation networks
    damsm_steps: int = 400
    damsm_batch: int = 32
    damsm_lr: float = 2e-3
    rnn_clip: float = 0.25
    img_enc_width: int = 32
    eval_enc_width: int = 48  # the independent evaluation encoder pair
    clf_steps: int = 500  # attribute classifier on real images
    # --- data and evaluation
    n_train: int = 6000
    n_test: int = 1000
    n_eval: int = 500  # test captions generated per variant for the metrics
    n_folds: int = 5  # evaluation folds (mean ± std)
    r_candidates: int = 100  # R-precision: 1 ground truth + 99 mismatched captions
    words_num: int = 14  # caption length (CUB: 18 in training)
    seed: int = 0
    device: str = "auto"

    @property
    def reads_data_root(self) -> bool:
        """Whether this configuration reads a dataset under ``data_root``."""
        return self.dataset == "cub_birds"

    def __post_init__(self):
        for name in ("ngf", "ndf", "nef", "emb_dim", "z_dim", "c_dim", "batch_size", "damsm_batch", "n_train",
                     "n_test", "n_eval", "n_folds", "r_candidates", "acm_hidden", "branch_num"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("gan_steps", "damsm_steps", "clf_steps", "r_num"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.image_encoder not in ("cnn", "inception"):
            raise ValueError(f"image_encoder must be 'cnn' or 'inception', got {self.image_encoder!r}")
        if self.dataset not in ("ffgan_shapes", "cub_birds"):
            raise ValueError(f"dataset must be 'ffgan_shapes' or 'cub_birds', got {self.dataset!r}")
        if self.base_size < 8 or self.base_size & (self.base_size - 1):
            raise ValueError(f"base_size must be a power of two >= 8, got {self.base_size}")
        if self.nef % 2:
            raise ValueError(f"nef must be even (bi-LSTM), got {self.nef}")
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad or not self.variants or self.variants[0] != "full":
            raise ValueError(f"variants must start with 'full' and come from {', '.join(VARIANTS)}; got {self.variants}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if self.lam < 0:
            raise ValueError(f"lam must be >= 0, got {self.lam}")
        if self.n_eval < self.n_folds or self.n_test < self.r_candidates:
            raise ValueError("need n_eval >= n_folds and n_test >= r_candidates")

    @property
    def image_size(self) -> int:
        """Size of the last stage's images."""
        return self.base_size * 2 ** (self.branch_num - 1)


# The official CUB run (cfg/bird_DMGAN.yml, DAMSM from cfg/DAMSM/bird.yml): 800 epochs of 8,855 images at batch 4.
PAPER = FFGANConfig(dataset="cub_birds", n_words=5450, ngf=64, ndf=32, nef=256, emb_dim=300, z_dim=100, c_dim=100,
                    base_size=64, branch_num=3, acm_hidden=128, r_num=2, attn_mask=False, trim_words=True,
                    image_encoder="inception", lam=5.0,
                    batch_size=4, gan_steps=800 * (8855 // 4), ema=0.999, damsm_steps=600 * (8855 // 48),
                    damsm_batch=48, img_enc_width=32, n_train=8855, n_test=2933, n_eval=30000, n_folds=10,
                    words_num=18)
PRESETS = {"book": FFGANConfig(), "paper": PAPER}
# Smoke mode: seconds, with the shipped networks or with retrain=True (every phase a few steps on a small train set).
SMOKE = {"n_eval": 40, "n_folds": 2, "n_test": 200, "r_candidates": 20, "n_train": 480, "damsm_steps": 10,
         "clf_steps": 10, "gan_steps": 10}


def from_params(*, preset: str = "book", smoke: bool = False, **overrides) -> FFGANConfig:
    """Config from notebook parameters; ``None`` values keep the preset's choice."""
    return make_config(PRESETS, preset, smoke=smoke, smoke_overrides=SMOKE, **overrides)
