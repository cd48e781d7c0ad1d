"""Chapter 6's shipped weights: the evidence grid that trains them, and the metrics stored with them.

``reprobook evidence ffgan --seeds 1`` trains every network of the chapter (the DAMSM pair, the
independent evaluation pair, the attribute classifier and one generator per variant) through the
engine's resumable phase fit — the same phase functions as the notebook's ``retrain=True`` and
``reprobook train ffgan`` (:func:`~.experiment.train_all`) — and ships them in fp16 beside the
record (``evidence/ffgan.json`` and ``evidence/ffgan.weights.pt``). It is a *weights-only* grid: the
variants share their encoders, so one cell (arm ``all``) trains them all, and one seed suffices,
because the chapter's claims are judged over caption folds of these generators (see :mod:`.claims`).

The cell's metrics are :func:`check_metrics`, the smoke-sized evaluation of the weights *as
shipped* (after the fp16 round trip); the notebook's replay re-evaluates the shipped weights
(:func:`evaluate_shipped`) and re-runs the first steps of the first phase against the logged curve.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch

from reprobook.engine.evidence import Grid
from reprobook.engine.loop import PhaseFit
from reprobook.ffgan.config import PRESETS, SMOKE, FFGANConfig
from reprobook.ffgan.experiment import Models, models_from_states, test_set, train_all

NETWORKS = ("text_enc", "img_enc", "eval_text", "eval_img", "clf")
ARM = "all"
COMMAND = "reprobook evidence ffgan --seeds 1"


def check_metrics(models: Models, seed: int = 0, cfg: FFGANConfig | None = None) -> dict[str, float]:
    """Metrics of the smoke-sized evaluation, stored with the weights; a test reproduces them."""
    from reprobook.ffgan.evaluate import evaluate

    cfg = replace(cfg or PRESETS["book"], **SMOKE, seed=seed)
    ev = evaluate(models, cfg, test_set(cfg), seed=seed)
    return {f"{k}_{v}": ev.mean(v, k) for v in ev.folds for k in ("attr_acc", "r_precision")}


def _half(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()) for k, v in state.items()}


def states(models: Models) -> dict[str, dict[str, torch.Tensor]]:
    """Every network's state dict in fp16, flat: ``text_enc`` … ``clf`` and ``G_<variant>``."""
    out = {name: _half(getattr(models, name).state_dict()) for name in NETWORKS}
    out.update({f"G_{v}": _half(g.state_dict()) for v, g in models.generators.items()})
    return out


def from_states(cfg: FFGANConfig, w: Mapping[str, Mapping[str, torch.Tensor]], meta: dict | None = None) -> Models:
    """:class:`Models` from the flat state dicts of :func:`states` (fp16 → fp32)."""
    gens = {k[2:]: sd for k, sd in w.items() if k.startswith("G_")}
    return models_from_states(cfg, {n: w[n] for n in NETWORKS}, gens, meta=meta)


def evidence_cell(cfg: FFGANConfig, arm: str, seed: int, *, fit: PhaseFit, progress: bool = True) -> dict[str, Any]:
    """The grid's one cell: every network trained with ``seed``; the check metrics of the fp16 weights."""
    cfg = replace(cfg, seed=seed)
    models = train_all(cfg, progress=progress, fit=fit)
    w = states(models)
    return {"metrics": check_metrics(from_states(cfg, w), seed=seed, cfg=cfg), "weights": w}


def evaluate_shipped(cfg: FFGANConfig, arm: str, seed: int, weights: Mapping[str, Any]) -> dict[str, float]:
    """Re-evaluate shipped weights (the replay's check of the record's metrics)."""
    return check_metrics(from_states(cfg, weights), seed=seed, cfg=cfg)


GRID = Grid("ffgan", "reprobook.ffgan", arms=(ARM,), run_cell=evidence_cell, seeds=1, replay_arm=ARM,
            replay_steps=20, evaluate=evaluate_shipped)


def load_shipped(cfg: FFGANConfig) -> Models | None:
    """The networks of the shipped evidence record (``reprobook evidence ffgan``), or ``None`` without one."""
    from reprobook.engine import evidence

    rec = evidence.load("ffgan")
    if rec is None or not rec.data.get("weights"):
        return None
    seed = rec.seeds[0]
    prefix = f"{ARM}/seed{seed}/"
    w = {k[len(prefix):]: v for k, v in rec.weights().items() if k.startswith(prefix)}
    cell = rec.cell(ARM, seed)
    losses = {phase.replace("-", "_"): m for phase, m in cell["curves"].items()}
    meta = {"seed": seed, "preset": rec.data["preset"], "command": rec.data["command"], "commit": rec.data["commit"],
            "wall_time_s": {"all networks": cell["wall_time_s"]}, "check": cell["metrics"], "losses": losses}
    return from_states(cfg, w, meta=meta)
