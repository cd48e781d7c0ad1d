"""Chapter 6's shipped evidence: every variant trained over several seeds, long enough for the attention to work.

``reprobook evidence ffgan --seeds 3 --set gan_steps=15000`` (:data:`COMMAND`) runs the grid
*variant × seed*: arms ``full``, ``no_ff`` and ``no_gsr`` (:data:`~.model.VARIANTS`), seeds
0, 1, 2. Each cell trains, through the engine's resumable phase fit (every phase checkpointed),
the frozen DAMSM pair, the independent evaluation pair and the attribute classifier with its seed
(:func:`~.experiment.train_all`, the same phase functions as the notebook's ``retrain=True``), then
its variant's generator. Seed *k* thus gives every variant the same encoders (deterministic
training, checked by the ``encoders`` fingerprint each cell stores), data, initial noise and
evaluation captions: the claims compare variants **paired by seed**. Cells are independent, so two
processes can share one ``--work`` (the second with ``--resume``).

A cell's metrics (:func:`cell_metrics`) are the chapter's evaluation of the weights *as shipped*
(after the fp16 round trip) on ``cfg.n_eval`` held-out captions: attribute accuracy per stage and
exact-caption accuracy (with their chance levels in :mod:`.claims`), R-precision, the Fréchet
distance and its real-data floor, the attention's entropy against its maximum, its largest weight
against 1/words, its mass on the described object against the area-proportional chance, the
word-swap edit, and the generator's parameter count. Weights ship in fp16: every cell's EMA
generator, and the seed's encoders and classifier once, with the ``full`` cell (see
:func:`weights_mb`). The notebook's replay re-evaluates the shipped ``full`` cell of the first
seed (:func:`evaluate_shipped`) and re-runs the first steps of its first phase against the logged curve.
The record keeps :data:`CURVE_POINTS` evenly spaced points of every logged curve (the work folder all).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from reprobook.engine.evidence import Grid
from reprobook.engine.loop import PhaseFit
from reprobook.ffgan.config import FFGANConfig
from reprobook.ffgan.experiment import Models, models_from_states, test_set, train_all
from reprobook.ffgan.model import VARIANTS

NETWORKS = ("text_enc", "img_enc", "eval_text", "eval_img", "clf")
# The settings that shape the networks: shipped weights load into networks built with the record's values.
ARCHITECTURE = ("n_words", "ngf", "ndf", "nef", "emb_dim", "z_dim", "c_dim", "base_size", "branch_num", "acm_hidden",
                "r_num", "attn_mask", "trim_words", "matched_ablation", "image_encoder", "img_enc_width",
                "eval_enc_width")
ARMS = VARIANTS
SEEDS = 3
GAN_STEPS = 15_000
COMMAND = f"reprobook evidence ffgan --seeds {SEEDS} --set gan_steps={GAN_STEPS}"


def _half(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()) for k, v in state.items()}


def states(models: Models, *, encoders: bool = True) -> dict[str, dict[str, torch.Tensor]]:
    """Networks' state dicts in fp16, flat: ``text_enc`` … ``clf`` (``encoders``) and ``G_<variant>``."""
    out = {name: _half(getattr(models, name).state_dict()) for name in NETWORKS} if encoders else {}
    out.update({f"G_{v}": _half(g.state_dict()) for v, g in models.generators.items()})
    return out


def from_states(cfg: FFGANConfig, w: Mapping[str, Mapping[str, torch.Tensor]], meta: dict | None = None) -> Models:
    """:class:`Models` from the flat state dicts of :func:`states` (fp16 → fp32)."""
    missing = [n for n in NETWORKS if n not in w]
    if missing:
        raise ValueError(f"these weights hold no {', '.join(missing)}: the encoders ship with the 'full' arm")
    gens = {k[2:]: sd for k, sd in w.items() if k.startswith("G_")}
    return models_from_states(cfg, {n: w[n] for n in NETWORKS}, gens, meta=meta)


def fingerprint(models: Models) -> float:
    """Sum of |θ| over the encoders and the classifier: equal in every cell of one seed (paired arms)."""
    nets = [getattr(models, n) for n in NETWORKS]
    return float(sum(p.detach().double().abs().sum() for m in nets for p in m.state_dict().values()
                     if p.is_floating_point()))


def cell_metrics(models: Models, cfg: FFGANConfig, arm: str, seed: int) -> dict[str, float]:
    """The chapter's evaluation of generator ``arm`` (``cfg.n_eval`` held-out captions), as one number per metric.

    Means over all evaluated captions (the folds have equal size). A metric without a value (no
    object found by colour in any image) is left out.
    """
    from reprobook.ffgan.evaluate import evaluate

    ev = evaluate(models, cfg, test_set(cfg), seed=seed)
    out: dict[str, float] = {}
    for k, vals in ev.folds[arm].items():
        if k.startswith("attn_lift_"):  # mass / chance over all captions, not a mean of fold ratios
            loc = ev.locality[arm][k.rsplit("_", 1)[1]]
            out[k] = float(loc["mass"].mean() / loc["chance"].mean()) if len(loc["mass"]) else math.nan
        else:
            finite = [x for x in vals if math.isfinite(x)]
            out[k] = float(np.mean(finite)) if finite else math.nan
    out.update({"fd": ev.fd[arm], "fd_real": ev.fd["real"], "real_attr_acc": ev.real_attr_acc,
                **{f"edit_{k}": v for k, v in ev.edit[arm].items()},
                "n_params": float(sum(p.numel() for p in models.generators[arm].parameters())),
                "encoders": fingerprint(models)})
    return {k: float(v) for k, v in out.items() if math.isfinite(float(v))}


def evidence_cell(cfg: FFGANConfig, arm: str, seed: int, *, fit: PhaseFit, progress: bool = True) -> dict[str, Any]:
    """One cell: the seed's encoders and classifier, then generator ``arm``; metrics of the fp16 weights."""
    cfg = replace(cfg, seed=seed)
    models = train_all(cfg, progress=progress, fit=fit, variants=(arm,))
    w = states(models)  # evaluated as shipped: after the fp16 round trip
    metrics = cell_metrics(from_states(cfg, w), cfg, arm, seed)
    if arm != "full":  # the seed's encoders ship once, with the full model
        w = {k: v for k, v in w.items() if k.startswith("G_")}
    return {"metrics": metrics, "weights": w}


def evaluate_shipped(cfg: FFGANConfig, arm: str, seed: int, weights: Mapping[str, Any]) -> dict[str, float]:
    """Re-evaluate a shipped cell (the replay's check of the record's metrics; the ``full`` arm holds the encoders)."""
    cfg = replace(cfg, seed=seed)
    return cell_metrics(from_states(cfg, weights), cfg, arm, seed)


CURVE_POINTS = 200  # logged points the record keeps per curve: every curve fits the 15 MB budget with the weights
GRID = Grid("ffgan", "reprobook.ffgan", arms=ARMS, run_cell=evidence_cell, seeds=SEEDS, replay_arm="full",
            replay_steps=20, evaluate=evaluate_shipped, curve_points=CURVE_POINTS)


def weights_mb(models: Models) -> float:
    """Megabytes one seed adds to the shipped fp16 weights (encoders, classifier and every generator)."""
    n = sum(p.numel() for name in NETWORKS for p in getattr(models, name).state_dict().values())
    n += sum(p.numel() for g in models.generators.values() for p in g.state_dict().values())
    return 2 * n / 1e6


def load_shipped(cfg: FFGANConfig, seed: int | None = None, rec=None) -> Models | None:
    """The networks of one seed of the shipped record (default: its first), or ``None`` without a record."""
    from reprobook.engine import evidence

    rec = rec if rec is not None else evidence.load("ffgan")
    if rec is None or not rec.data.get("weights"):
        return None
    if seed is None:  # the first paired seed; in a partial record without one, the first seed of the full model
        have = rec.seeds or rec.seeds_of("full")
        if not have:
            return None
        seed = have[0]
    arms = [a for a in rec.data["arms"] if rec.has(a, seed)]
    all_w = rec.weights()
    w: dict[str, Any] = {}
    for arm in arms:
        prefix = f"{arm}/seed{seed}/"
        w.update({k[len(prefix):]: v for k, v in all_w.items() if k.startswith(prefix)})
    cell = rec.cell("full", seed)
    losses = {phase.replace("-", "_"): m for phase, m in cell["curves"].items()}
    for arm in arms:
        losses.update({p.replace("-", "_"): m for p, m in rec.cell(arm, seed)["curves"].items() if p.startswith("gan")})
    meta = {"seed": seed, "preset": rec.data["preset"], "command": rec.data["command"], "commit": rec.data["commit"],
            "wall_time_s": {arm: rec.cell(arm, seed)["wall_time_s"] for arm in arms},
            "losses": losses, "record": True}
    arch = {k: v for k, v in rec.data["config"].items() if k in ARCHITECTURE}
    return from_states(replace(cfg, seed=seed, **arch), w, meta=meta)


def paired(rec) -> tuple[list[str], list[int]]:
    """The variants a record holds cells of, and the seeds finished in every one of them (a complete record:
    every variant, every seed). A partial record may lack variants; where the variants it holds share no seed,
    those with a cell at the full model's first seed are kept, so the full model always has a paired seed."""
    full = rec.seeds_of("full")

    def common(arms):
        return [s for s in full if all(rec.has(a, s) for a in arms)]

    arms = [a for a in rec.data["arms"] if rec.seeds_of(a)]
    if full and not common(arms):
        arms = [a for a in rec.data["arms"] if rec.has(a, full[0])]
    return arms, common(arms)


def per_seed(rec) -> dict[str, dict[str, list[float]]]:
    """``{variant: {metric: [value per seed]}}`` of a record's paired seeds (:func:`paired`), seeds in order (NaN
    where a cell has no value)."""
    out: dict[str, dict[str, list[float]]] = {}
    arms, seeds = paired(rec)
    for arm in arms:
        cells = [rec.cell(arm, s)["metrics"] for s in seeds]
        keys = sorted({k for c in cells for k in c})
        out[arm] = {k: [float(c.get(k, math.nan)) for c in cells] for k in keys}
    return out


def check_pairing(values: Mapping[str, Mapping[str, list[float]]], seeds: list[int], rtol: float = 1e-6) -> None:
    """Raise unless every variant of a seed was trained on the same encoders (their fingerprint): cells of one
    seed may come from different sittings (``--extend``), and only equal encoders make them a pair."""
    fps = {arm: m.get("encoders") for arm, m in values.items()}
    if any(f is None for f in fps.values()):
        return
    for i, seed in enumerate(seeds):
        ref = fps["full"][i]
        bad = [arm for arm, f in fps.items() if abs(f[i] - ref) > rtol * abs(ref)]
        if bad:
            raise ValueError(f"the ffgan record's seed {seed}: {', '.join(bad)} trained on other encoders than full "
                             "(fingerprints differ), so its cells are not a pair; rerun them")


def record_seed_claims(record, rec, cfg: FFGANConfig):
    """The chapter's claims over the record's training seeds (paired across variants) into ``record``."""
    from reprobook.ffgan import claims

    values = per_seed(rec)
    arms, seeds = paired(rec)
    check_pairing(values, seeds)
    record.metrics = {"per_seed": values, "seeds": seeds, "command": rec.data["command"], "complete": rec.complete}
    real = float(np.mean(values["full"]["real_attr_acc"])) if "real_attr_acc" in values["full"] else None
    rc = rec.data["config"]  # the numbers were measured with the record's evaluation settings
    missing = {a: f"the shipped record is partial: this variant has no finished cell paired with the full model's "
                  f"yet ({rec.data['command']} --extend runs the missing cells)" for a in rec.data["arms"]
               if a not in arms}
    return claims.record_claims(record, values, branch_num=rc["branch_num"], r_candidates=rc["r_candidates"],
                                real_attr_acc=real, over="seeds", missing=missing)
