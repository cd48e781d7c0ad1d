"""The shipped evidence of Chapters 4 (AdaSG) and 5 (AdaDFQ): one grid, one record, both chapters.

``reprobook evidence adasg --preset evidence`` runs every method at its full schedule over paired
seeds and writes ``evidence/adasg.json``; Chapter 4 reads GDFQ and AdaSG from it, Chapter 5 reads
the same GDFQ and AdaSG cells and its own AdaDFQ and ablation cells, so no run is paid twice.

A cell is one method at one bit width and one seed: the full-precision P (trained from
``cfg.seed``, identical in every cell), the PTQ baselines at that bit width (a fixed calibration
draw, identical in every cell), then one data-free run of the method from
``seed_everything(seed)``. Seed *k* thus fixes G's initial weights and the noise of every arm
alike, and the arms are paired by seed. Its metrics: Q's final top-1 (the claims' number), the
best test epoch (the official quirk, for reference), P's top-1, the PTQ baselines, and the mean
H/log C of a fixed set of generated samples (:data:`ENTROPY_BATCHES` batches of the run's own G
through its Q), the adaptability the AdaDFQ paper's histograms show.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import torch

from reprobook.dfq import adadfq as _adadfq
from reprobook.dfq.adasg import adasg_method
from reprobook.dfq.config import DFQConfig
from reprobook.dfq.methods import GDFQ, Method
from reprobook.engine.evidence import Grid
from reprobook.engine.loop import PhaseFit

ENTROPY_BATCHES = 32  # fixed generated batches of 16 behind a cell's mean H/log C

# arm -> (method name, bit width): the three methods at the main bit width (W3A3) and at W2A2, and AdaDFQ's two
# ablations where the adaptability phenomenon shows (W2A2)
ARMS: dict[str, tuple[str, int]] = {
    "GDFQ-w3": ("GDFQ", 3), "AdaSG-w3": ("AdaSG", 3), "AdaDFQ-w3": ("AdaDFQ", 3),
    "GDFQ-w2": ("GDFQ", 2), "AdaSG-w2": ("AdaSG", 2), "AdaDFQ-w2": ("AdaDFQ", 2),
    "AdaDFQ-noLds-w2": ("w/o L_ds", 2), "AdaDFQ-noLas-w2": ("w/o L_as", 2),
    "AdaSG-constLR-w3": ("AdaSG", 3),
}
# The game's mechanism (Chapter 4): AdaSG traced at a constant learning rate for :data:`MECHANISM_EPOCHS`
# epochs, probed every :data:`PROBE_EVERY` iterations on :data:`PROBE_BATCHES` fixed batches; the metric is
# the signed R_max − R_min after the warm-up (R_max: G stepped, Q not yet; R_min: both stepped). The control
# "Q frozen" (lr_q = 0) is identically zero (R_min probes the same G and an unchanged Q; a test runs it), so
# the grid tests the signed drop against zero and does not pay for the control's runs.
FROZEN_CONTROL = "AdaSG-frozenQ-w3"
MECHANISM = ("AdaSG-constLR-w3", "AdaSG-frozenQ-w3")
MECHANISM_EPOCHS, PROBE_EVERY, PROBE_BATCHES = 8, 5, 16


def arm(method: str, bits: int) -> str:
    """The grid's arm name of ``method`` at W\\ ``bits``\\ A\\ ``bits``."""
    names = {"w/o L_ds": "AdaDFQ-noLds", "w/o L_as": "AdaDFQ-noLas"}
    return f"{names.get(method, method)}-w{bits}"


def grid_method(cfg: DFQConfig, name: str, bits: int) -> Method:
    """The method of an arm: GDFQ, AdaSG, AdaDFQ (the paper's α, λ for ``cfg.model`` and ``bits``) or an
    AdaDFQ ablation (w/o L_ds: α_ds = 0; w/o L_as: α_as = 0)."""
    if name == "GDFQ":
        return GDFQ
    if name == "AdaSG":
        return adasg_method()
    full = _adadfq.adadfq_method(cfg.model, bits)
    if name == "AdaDFQ":
        return full
    return dataclasses.replace(full, name=name, **{"w/o L_ds": {"alpha_ds": 0.0}, "w/o L_as": {"alpha_as": 0.0}}[name])


def evidence_cell(cfg: DFQConfig, arm_name: str, seed: int, *, fit: PhaseFit, progress: bool = True) -> dict:
    """One cell: P, the PTQ baselines at the arm's bit width, and the arm's data-free run from ``seed``."""
    from reprobook.dfq import experiment

    name, bits = ARMS.get(arm_name, ("AdaSG", 3))
    if arm_name in MECHANISM:
        cfg = dataclasses.replace(cfg, epochs=min(cfg.epochs, MECHANISM_EPOCHS), lr_steps=(), trace_every=min(PROBE_EVERY, cfg.iters_per_epoch),
                                  lr_q=0.0 if arm_name == FROZEN_CONTROL else cfg.lr_q)
    old = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, cfg.dtype))
    try:
        prep = experiment.prepare(cfg, progress=progress, fitter=lambda tag, key: functools.partial(fit, tag))
        base = experiment.ptq_baselines(prep, bits)
        mech = arm_name in MECHANISM
        out = experiment.dfq_run(prep, grid_method(cfg, name, bits), bits=bits, seed=seed, progress=progress,
                                 keep_models=True, trace=mech, probe_batches=PROBE_BATCHES if mech else 2)
        ratio = experiment.sample_entropy(prep, out.G, out.Q, n_batches=ENTROPY_BATCHES)["ratio"]
    finally:
        torch.set_default_dtype(old)
    extra = {}
    if mech:
        t = out.trace
        after = np.asarray(t["step"]) > cfg.warmup_epochs * cfg.iters_per_epoch  # Q steps only after the warm-up
        drop = np.asarray(t["R_max"])[after] - np.asarray(t["R_min"])[after]
        extra = {"r_drop": float(drop.mean()), "r_drop_positive": float((drop > 0).mean()),
                 "r_max": float(np.asarray(t["R_max"])[after].mean())}
    return {"metrics": {**extra, "top1": out.final, "top1_best": out.best, "fp_top1": prep.fp_acc,
                        "ptq_real": base["PTQ (real data)"], "ptq_noise": base["PTQ (Gaussian noise)"],
                        "ptq_real_official_ema": base["PTQ (real data, official EMA)"],
                        "mean_h_ratio": float(np.mean(ratio))}}


# The notebooks replay the shortest cell whole (AdaSG's game at a constant learning rate: P, then the game, its
# curves and metrics against the shipped ones) on the platform that wrote the record. On another CPU float32
# rounding differs in the last bit and training amplifies it (on another x86 CPU the first phase stays within
# rounding for its first 50 steps and drifts apart by percents within 200), so there only the first
# REPLAY_STEPS_ELSEWHERE steps are compared, within 1 %.
# The record keeps 400 evenly spaced points of each 4000-step curve (every point of the replayed 200-step cell).
REPLAY_STEPS_ELSEWHERE = 50
GRID = Grid("adasg", "reprobook.dfq", arms=tuple(ARMS), run_cell=evidence_cell, seeds=8, tolerance=0.01,
            replay_arm="AdaSG-constLR-w3", curve_points=400, replay_steps_elsewhere=REPLAY_STEPS_ELSEWHERE)


def summary_markdown(ev, *, arms: tuple[str, ...] | None = None) -> str:
    """The shipped cells as a table: per arm, n seeds, final top-1 (mean ± std), best test epoch (the official
    quirk, for reference), mean H/log C, and the mechanism's signed R_max − R_min; then the schedule."""
    rows = ["| arm | method | W/A bits | seeds | final top-1 (%) | best test epoch (%) | mean H/log C | "
            "signed R_max − R_min |", "|---|---|---|---|---|---|---|---|"]
    for a in arms or tuple(ev.data["arms"]):
        name, bits = ARMS[a]
        top1 = 100 * np.asarray(ev.values(a, "top1"))
        best = 100 * np.asarray(ev.values(a, "top1_best"))
        h = np.asarray(ev.values(a, "mean_h_ratio"))
        drop = f"{np.mean(ev.values(a, 'r_drop')):.4f}" if a in MECHANISM else "—"
        sd = f" ± {top1.std(ddof=1):.1f}" if len(top1) > 1 else ""
        rows.append(f"| {a} | {name} | {bits} | {len(top1)} | {top1.mean():.1f}{sd} | {best.mean():.1f} | "
                    f"{h.mean():.3f} | {drop} |")
    c = ev.data["config"]
    rows.append(f"\nEach cell trains P, calibrates the PTQ baselines, then runs one method for {c['epochs']} epochs × "
                f"{c['iters_per_epoch']} iterations of batch {c['batch_size']} (learning-rate steps after epochs "
                f"{', '.join(map(str, c['lr_steps']))}); the mechanism arm runs {min(c['epochs'], MECHANISM_EPOCHS)} "
                f"epochs at a constant learning rate, probed every {min(PROBE_EVERY, c['iters_per_epoch'])} "
                f"iterations on {PROBE_BATCHES} fixed batches. Mean H/log C: {ENTROPY_BATCHES} fixed batches of "
                f"generated samples per cell.")
    return "\n".join(rows)
