"""Chapter 0 config and presets."""

from __future__ import annotations

from dataclasses import dataclass

from reprobook.engine.config import make_config


@dataclass(frozen=True)
class IntroConfig:
    hidden: int = 64  # width of the MLP's hidden layer
    steps: int = 400  # SGD steps per model
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    n_seeds: int = 3  # independent runs per model, for mean ± std
    eval_every: int = 50
    seed: int = 0
    device: str = "auto"

    def __post_init__(self):
        for name in ("hidden", "steps", "batch_size", "n_seeds", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


PRESETS = {
    "book": IntroConfig(),
    "long": IntroConfig(steps=2000, n_seeds=5, eval_every=100),
}
SMOKE = {"steps": 30, "n_seeds": 2, "eval_every": 10}


def from_params(*, preset: str = "book", smoke: bool = False, **overrides) -> IntroConfig:
    """Config from notebook parameters; ``None`` values keep the preset's choice."""
    return make_config(PRESETS, preset, smoke=smoke, smoke_overrides=SMOKE, **overrides)
