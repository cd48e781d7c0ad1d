"""Figures of Chapters 4 and 5, drawn from a run's :class:`~reprobook.dfq.experiment.DFQResult`."""

from __future__ import annotations

import numpy as np
import torch

from reprobook.dfq.adasg import balance_gap, per_epoch
from reprobook.dfq.experiment import DFQResult, chapter_method, sample_entropy
from reprobook.engine.plots import PALETTE, figure, image_grid

BASELINES = ("PTQ (Gaussian noise)", "PTQ (real data)")


def _warmup_shade(ax, res: DFQResult) -> None:
    w = res.cfg.warmup_epochs * res.cfg.iters_per_epoch
    if w:
        ax.axvspan(0, w, color="0.9", zorder=0)
        ax.text(w / 2, 0.02, "warm-up\n(G only)", ha="center", va="bottom", fontsize=7, transform=ax.get_xaxis_transform())


def game_trajectory(res: DFQResult):
    """AdaSG's game: mean adaptability after each max (G) and min (Q) step, and the balance gap per epoch."""
    runs = res.runs[("AdaSG", res.cfg.bits)]
    fig, (ax, ax_gap) = figure(2, width=4.2, height=3.2)
    gaps = []
    for i, o in enumerate(runs):
        g = balance_gap(o.trace)
        alpha, lw = (1.0, 1.2) if i == 0 else (0.25, 0.8)
        ax.plot(g["step"], g["R_max"], color=PALETTE[3], alpha=alpha, lw=lw, label="after max step (G)" if i == 0 else None)
        ax.plot(g["step"], g["R_min"], color=PALETTE[0], alpha=alpha, lw=lw, label="after min step (Q)" if i == 0 else None)
        ep, gap = per_epoch(g["gap"], g["step"], res.cfg.iters_per_epoch)
        gaps.append(gap)
    _warmup_shade(ax, res)
    ax.set(xlabel="iteration", ylabel="mean adaptability R = 1 − H'", title=f"W{res.cfg.bits}A{res.cfg.bits}, probe set",
           ylim=(0, 1))
    ax.legend(loc="upper right", fontsize=8)
    gaps = np.array(gaps)  # [seeds, epochs]
    ax_gap.axhline(0, color="0.5", lw=0.8)
    ax_gap.plot(ep, gaps.mean(0), "o-", color=PALETTE[2], label=f"mean over {len(gaps)} seeds")
    if len(gaps) > 1:
        ax_gap.fill_between(ep, gaps.min(0), gaps.max(0), color=PALETTE[2], alpha=0.2)
    ax_gap.axvspan(0.5, res.cfg.warmup_epochs + 0.5, color="0.9", zorder=0)
    ax_gap.set(xlabel="epoch", ylabel="balance gap |R_max − R_min|", title="balance gap per epoch")
    ax_gap.legend(fontsize=8)
    return fig


def accuracy_bars(res: DFQResult, *, methods: tuple[str, ...]):
    """Top-1 (final epoch, mean ± std over seeds) of the baselines and methods at each bit width."""
    bits = res.bit_widths
    fig, axes = figure(len(bits), width=3.6, height=3.0)
    axes = np.atleast_1d(axes)
    for ax, b in zip(axes, bits):
        names, means, stds = [], [], []
        for n in BASELINES:
            names.append(n.replace("PTQ (Gaussian noise)", "PTQ\nnoise").replace("PTQ (real data)", "PTQ\nreal"))
            means.append(100 * res.ptq[b][n]), stds.append(0.0)
        for m in methods:
            v = 100 * np.array(res.top1(m, b))
            names.append(m), means.append(v.mean()), stds.append(v.std(ddof=1) if len(v) > 1 else 0.0)
        colors = ["0.6", "0.4"] + list(PALETTE[: len(methods)])
        ax.bar(range(len(names)), means, yerr=stds, color=colors, capsize=3)
        ax.axhline(100 * res.fp_acc, color="k", ls="--", lw=0.8)
        ax.text(len(names) - 0.5, 100 * res.fp_acc, "FP", va="bottom", ha="right", fontsize=8)
        lo = max(0.0, min(means) - 10)
        ax.set(ylim=(lo, 101), xticks=range(len(names)), ylabel="test top-1 (%)",
               title=f"W{b}A{b}" + (" (extension)" if b != res.cfg.bits else ""))
        ax.set_xticklabels(names, fontsize=8)
        for i, mval in enumerate(means):
            ax.text(i, lo + 1, f"{mval:.1f}", ha="center", fontsize=7, color="w")
    return fig


def adaptability_histogram(res: DFQResult, probe: int = -1, *, seed_index: int = 0):
    """Widget (Chapter 4): the probe batch's adaptability histogram after max step ``probe`` of the game."""
    o = res.runs[("AdaSG", res.cfg.bits)][seed_index]
    g = balance_gap(o.trace)
    n = len(g["step"])
    probe = int(probe) % n
    fig, (ax, ax_h) = figure(2, width=3.6, height=2.8)
    ax.plot(g["step"], g["R_max"], color=PALETTE[3], lw=1, label="after max")
    ax.plot(g["step"], g["R_min"], color=PALETTE[0], lw=1, label="after min")
    ax.axvline(g["step"][probe], color="k", lw=1)
    _warmup_shade(ax, res)
    ax.set(xlabel="iteration", ylabel="mean R", ylim=(0, 1))
    ax.legend(fontsize=8)
    ax_h.hist(o.trace["R_hist"][probe], bins=np.linspace(0, 1, 11), color=PALETTE[3], edgecolor="w")
    m = chapter_method(res.cfg, res.cfg.bits)
    lo, hi = 1 - m.lambda_u, 1 - m.lambda_l
    ax_h.axvspan(lo, hi, color=PALETTE[2], alpha=0.12, label="band (1−λ_u, 1−λ_l)")
    ax_h.set(xlabel="sample adaptability 1 − H'", ylabel="samples",
             title=f"iteration {int(g['step'][probe])}: mean {g['R_max'][probe]:.2f}")
    ax_h.legend(fontsize=7)
    return fig


def ablation_bars(res: DFQResult):
    """Top-1 of the ablation runs at the final epoch and at the official best test epoch (selected on the
    test set, shown only to measure that quirk), main bit width, one seed."""
    names = list(res.ablations)
    fig, ax = figure(width=max(4.0, 1.1 * len(names)), height=3.0)
    best = [100 * res.ablations[n].best for n in names]
    final = [100 * res.ablations[n].final for n in names]
    x = np.arange(len(names))
    ax.bar(x - 0.18, best, 0.36, label="best test epoch (official quirk)", color=PALETTE[0])
    ax.bar(x + 0.18, final, 0.36, label="final epoch", color=PALETTE[5])
    lo = max(0.0, min(final + best) - 5)
    ax.set(ylim=(lo, 100), xticks=x, ylabel="test top-1 (%)", title=f"W{res.cfg.bits}A{res.cfg.bits}, seed {res.cfg.seed}")
    ax.set_xticklabels(names, fontsize=8, rotation=15)
    ax.legend(fontsize=8)
    return fig


def entropy_histograms(res: DFQResult):
    """Chapter 5: H/log C of generated samples for w/o L_ds, w/o L_as and AdaDFQ (mirrored below)."""
    fig, ax = figure(width=6.0, height=3.4)
    bins = np.linspace(0, 1, 41)
    for name, color in (("w/o L_ds", PALETTE[1]), ("w/o L_as", PALETTE[3])):
        ax.hist(res.histograms[name], bins=bins, color=color, alpha=0.6, label=name)
    counts, edges = np.histogram(res.histograms["AdaDFQ"], bins=bins)
    ax.bar(edges[:-1], -counts, width=np.diff(edges), align="edge", color=PALETTE[0], alpha=0.8, label="AdaDFQ (below)")
    meth = chapter_method(res.cfg, res.cfg.bits)
    for v, t in ((meth.lambda_l, "λ_l"), (meth.lambda_u, "λ_u")):
        ax.axvline(v, color="k", ls="--", lw=1)
        ax.text(v, 0.98, f" {t} = {v:g}", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xlabel="H(p_ds) / log C  (0: P and Q disagree, 1: they agree)", ylabel="samples",
           title=f"W{res.cfg.bits}A{res.cfg.bits}, {len(res.histograms['AdaDFQ'])} generated samples after training")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def margin_dynamics(res: DFQResult):
    """Chapter 5: mean H' per epoch for several bands and the single-loss ablations."""
    fig, (ax, ax_acc) = figure(2, width=4.0, height=3.2)
    ipe = res.cfg.iters_per_epoch
    names = [n for n in res.ablations if n != "AdaDFQ"]
    for i, name in enumerate(["AdaDFQ"] + names):
        o = res.ablations[name]
        steps, h = o.history.series("H")
        ep, mh = per_epoch(np.array(h), np.array(steps), ipe)
        label = name if name != "AdaDFQ" else f"AdaDFQ band [{_band(res)}]"
        ax.plot(ep, mh, "o-", ms=3, color=PALETTE[i % len(PALETTE)], label=label)
        ax_acc.plot(np.arange(1, len(o.test_acc) + 1), 100 * np.array(o.test_acc), "o-", ms=3,
                    color=PALETTE[i % len(PALETTE)])
    ax.set(xlabel="epoch", ylabel="mean H' (training batches)", ylim=(0, 1), title="margin dynamics")
    ax.legend(fontsize=7)
    ax_acc.set(xlabel="epoch", ylabel="test top-1 (%)", title="Q's accuracy")
    return fig


def _band(res: DFQResult) -> str:
    m = chapter_method(res.cfg, res.cfg.bits)
    return f"{m.lambda_l:g}, {m.lambda_u:g}"


def band_samples(res: DFQResult, bits: int, *, n_batches: int = 8) -> dict[str, np.ndarray | torch.Tensor]:
    """A fixed set of generated samples of AdaDFQ (seed 0) at ``bits`` with their H' (cached)."""
    cache = res.__dict__.setdefault("_band_cache", {})
    if bits not in cache:
        o = res.runs[("AdaDFQ", bits)][0]
        ent = sample_entropy(res.prep, o.G, o.Q, n_batches=n_batches)
        g = torch.Generator().manual_seed(2023)
        with torch.no_grad():
            z = torch.randn(res.cfg.batch_size, res.cfg.latent_dim, generator=g)
            y = torch.randint(0, res.cfg.classes, (res.cfg.batch_size,), generator=g)
            x = o.G(z.to(res.prep.device), y.to(res.prep.device)).cpu()
        cache[bits] = {**ent, "x": x}
    return cache[bits]


def band_panel(res: DFQResult, lambda_l: float = 0.1, lambda_u: float = 0.8, bits: int | None = None):
    """Widget (Chapter 5): which generated samples fall outside the band [λ_l, λ_u] of H'."""
    bits = bits or res.cfg.bits
    d = band_samples(res, bits)
    # the batch normalisation of H' pins each batch's minimum at exactly 0: those samples are left out
    h = d["h_prime"].reshape(-1, res.cfg.batch_size)
    h = np.sort(h, axis=1)[:, 1:].ravel()
    lo, hi = min(lambda_l, lambda_u), max(lambda_l, lambda_u)
    fig, (ax, ax_img) = figure(2, width=3.6, height=2.9)
    bins = np.linspace(0, 1, 21)
    ax.hist(h[h < lo], bins=bins, color=PALETTE[3], label=f"below λ_l: {np.mean(h < lo):.0%}")
    ax.hist(h[(h >= lo) & (h <= hi)], bins=bins, color=PALETTE[2], label=f"inside: {np.mean((h >= lo) & (h <= hi)):.0%}")
    ax.hist(h[h > hi], bins=bins, color=PALETTE[1], label=f"above λ_u: {np.mean(h > hi):.0%}")
    for v in (lo, hi):
        ax.axvline(v, color="k", ls="--", lw=1)
    ax.set(xlabel="H' of generated samples", ylabel="samples", title=f"AdaDFQ W{bits}A{bits}, {len(h)} samples\n(batch minima, pinned at H' = 0, left out)")
    ax.legend(fontsize=7)
    x = d["x"]
    x = (x - x.amin()) / (x.amax() - x.amin() + 1e-8)
    image_grid(ax_img, x, nrow=8, title="generated samples (first batch)")
    return fig
