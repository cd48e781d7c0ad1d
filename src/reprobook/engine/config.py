"""Chapter configs: presets, smoke mode and validated overrides.

Each chapter keeps a small dataclass config and a ``PRESETS`` dict with at least ``book``
(embedded data, CPU, sized to the chapter's budget) and ``paper`` (the official architecture
and hyperparameters). ``smoke=True`` shrinks whichever preset was chosen with the chapter's
``SMOKE`` overrides, for tests that take seconds. :func:`make_config` does all of this and
turns bad input into one ``ValueError`` line that names what is allowed.

Every float setting must be finite, and settings whose name says what they are must lie in
their range (:func:`check_value`): learning rates (``lr``, ``lr_*``, ``*_lr``) and temperatures
are positive, momenta and Adam betas lie in [0, 1), fractions and probabilities in [0, 1],
weight decays are non-negative. Integer settings other than seeds are at most
:data:`MAX_INT_SETTING` (a width of two billion is a typo, not a model).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

C = TypeVar("C")

MAX_INT_SETTING = 10**9
POSITIVE = frozenset({"temperature", "tau", "taus"})
UNIT_OPEN = frozenset({"momentum", "beta1", "beta2"})  # [0, 1)
UNIT = frozenset({"detail_p", "prune_rate", "sweep_rates", "pretrain_drop", "split", "sweep_splits",
                  "ema", "alpha", "noise", "occlude", "lr_milestones"})  # fractions and probabilities: [0, 1]
NON_NEGATIVE = frozenset({"weight_decay", "adam_weight_decay"})


def _is_lr(name: str) -> bool:
    return name == "lr" or name.startswith("lr_") or name.endswith("_lr")


def make_config(presets: Mapping[str, C], preset: str, *, smoke: bool = False,
                smoke_overrides: Mapping[str, Any] | None = None, **overrides: Any) -> C:
    """Pick ``presets[preset]``, apply smoke shrinking, then the given overrides.

    ``None`` overrides mean "keep the preset's value" (notebook parameters default to ``None``
    for knobs the preset decides).
    """
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(presets)}")
    cfg = presets[preset]
    if smoke:
        cfg = replace_checked(cfg, **dict(smoke_overrides or {}))
    return replace_checked(cfg, **{k: v for k, v in overrides.items() if v is not None})


def replace_checked(cfg: C, **changes: Any) -> C:
    """``dataclasses.replace`` that rejects unknown fields and values of the wrong type."""
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    hints = typing.get_type_hints(type(cfg))
    for name, value in changes.items():
        if name not in fields:
            raise ValueError(f"unknown parameter {name!r} for {type(cfg).__name__}; "
                             f"allowed: {', '.join(fields)}")
        changes[name] = _coerce(name, value, hints[name])
        check_value(name, changes[name])
    return dataclasses.replace(cfg, **changes)


def check_value(name: str, value: Any) -> None:
    """Refuse a non-finite float, an out-of-range one (by the setting's name) or an absurd integer.

    Tuples are checked element by element under the setting's name.
    """
    if isinstance(value, (tuple, list)):
        for v in value:
            check_value(name, v)
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, int):
        if name != "seed" and abs(value) > MAX_INT_SETTING:
            raise ValueError(f"{name} must be at most {MAX_INT_SETTING:,} in size, got {value}")
        return
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if (_is_lr(name) and name != "lr_milestones" or name in POSITIVE) and not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if name in UNIT_OPEN and not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    if name in UNIT and not 0 <= value <= 1:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    if name in NON_NEGATIVE and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def _coerce(name: str, value: Any, hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(name, value, a)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError(errors[0] if errors else f"{name}: bad value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, args))}; got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)):
            raise ValueError(f"{name} must be a {origin.__name__}, got {value!r}")
        return origin(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (isinstance(value, hint) and
                                               not (hint is int and isinstance(value, bool))):
        raise ValueError(f"{name} must be {hint.__name__}, got {value!r}")
    return value


def as_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a config dataclass (tuples become lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()}
