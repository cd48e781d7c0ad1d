import re
from dataclasses import dataclass
from typing import Literal

import pytest

from reprobook.engine.config import as_dict, make_config


@dataclass(frozen=True)
class Cfg:
    width: int = 8
    lr: float = 0.1
    bits: Literal[2, 4, 8] = 4
    name: str | None = None
    sizes: tuple[int, ...] = (1, 2)


PRESETS = {"book": Cfg(), "paper": Cfg(width=64)}


def test_presets_smoke_and_overrides():
    assert make_config(PRESETS, "paper").width == 64
    assert make_config(PRESETS, "paper", smoke=True, smoke_overrides={"width": 2}).width == 2
    c = make_config(PRESETS, "book", lr=1, width=None, sizes=[3])
    assert c.lr == 1.0 and isinstance(c.lr, float) and c.width == 8 and c.sizes == (3,)
    assert as_dict(c)["sizes"] == [3]


def test_bad_input_names_what_is_allowed():
    with pytest.raises(ValueError, match="unknown preset 'huge'; choose one of: book, paper"):
        make_config(PRESETS, "huge")
    with pytest.raises(ValueError, match="unknown parameter 'depth' for Cfg; allowed: width, lr, bits"):
        make_config(PRESETS, "book", depth=3)
    with pytest.raises(ValueError, match="bits must be one of 2, 4, 8; got 3"):
        make_config(PRESETS, "book", bits=3)
    with pytest.raises(ValueError, match="width must be int"):
        make_config(PRESETS, "book", width="wide")
    with pytest.raises(ValueError, match="width must be int"):
        make_config(PRESETS, "book", width=True)


def test_float_settings_finite_and_in_range():
    @dataclass(frozen=True)
    class Opt:
        lr_g: float = 1e-3
        fp_lr: float = 1e-3
        beta1: float = 0.5
        prune_rate: float = 0.5
        weight_decay: float = 0.0
        penalty: float = -1.0
        lr_milestones: tuple[float, ...] = (0.5,)
        seed: int = 0

    base = Opt()
    assert make_config({"b": base}, "b", penalty=-5, seed=2**40, lr_milestones=[0.0, 1.0]).penalty == -5.0
    for bad, message in [({"lr_g": 0}, "lr_g must be > 0"),
                         ({"fp_lr": float("nan")}, "fp_lr must be a finite"),
                         ({"beta1": 1.0}, "beta1 must be in [0, 1)"),
                         ({"prune_rate": 1.5}, "prune_rate must be in [0, 1]"),
                         ({"weight_decay": -1e-4}, "weight_decay must be >= 0"),
                         ({"penalty": float("-inf")}, "penalty must be a finite"),
                         ({"lr_milestones": [0.5, 2.0]}, "lr_milestones must be in [0, 1]")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            make_config({"b": base}, "b", **bad)
