"""Chapter 7 figures, drawn from a run's :class:`~reprobook.strdiffusion.experiment.StrResult`."""

from __future__ import annotations

import numpy as np
import torch

from reprobook.engine.plots import PALETTE, figure, image_grid
from reprobook.strdiffusion import metrics as M
from reprobook.strdiffusion.data import BIN_NAMES
from reprobook.strdiffusion.experiment import MAIN, StrResult, early_stage_steps, per_bin, trace_delta
from reprobook.strdiffusion.fitting import build_sde


def _band(ax, x, v, color, label, ls="-"):
    v = np.asarray(v, float)  # [len(x), N]
    m = np.nanmean(v, 1)
    ax.plot(x, m, color=color, label=label, ls=ls)
    if v.shape[1] > 1:
        sd = np.nanstd(v, 1)
        ax.fill_between(x, m - sd, m + sd, color=color, alpha=0.15)


def sparsity(res: StrResult):
    """Hoyer sparsity of the known region against t: structure (mean and sample) vs texture."""
    f, ts = res.forward, np.arange(res.config.T + 1)
    fig, ax = figure(width=5.2, height=3.2)
    _band(ax, ts, f["sparsity_structure_mean"], PALETTE[0], "structure, mean $\\bar x_t$")
    _band(ax, ts, f["sparsity_structure"], PALETTE[0], "structure, sample $x_t$", ls="--")
    _band(ax, ts, f["sparsity_texture"], PALETTE[1], "texture (gray), sample $y_t$")
    ax.set(xlabel="diffusion step t", ylabel="Hoyer sparsity (known region)", ylim=(0, 1))
    ax.legend(loc="upper left", fontsize=8)
    return fig


def discrepancy(res: StrResult):
    """Known-minus-hole PSNR over t: forward marginals (texture vs structure) and reverse trajectories."""
    fig, (a, b) = figure(2, width=4.0, height=3.2)
    f, ts = res.forward, np.arange(res.config.T + 1)
    _band(a, ts, f["delta_texture"], PALETTE[1], "texture $y_t$")
    _band(a, ts, f["delta_structure"], PALETTE[0], "structure $x_t$")
    a.set(xlabel="diffusion step t", ylabel="PSNR known − PSNR hole (dB)", title="forward process")
    a.legend(fontsize=8)
    for c, v in zip(PALETTE[1:], MAIN):
        x, y = trace_delta(res, v)
        b.plot(x, y, color=c, label=v)
    x, y = trace_delta(res, "+ resampling", "structure")
    keep = [i for i, t in enumerate(x) if not np.isnan(y[i])]
    b.plot([x[i] for i in keep], [y[i] for i in keep], color=PALETTE[0], ls="--", label="structure (+ resampling)")
    e = early_stage_steps(res)
    b.axvspan(e.start, e.stop - 1, color="0.9", zorder=0)
    b.set(xlabel="reverse step t (sampling runs right to left)", title="sampling trajectories")
    b.legend(fontsize=7)
    return fig


def samples(res: StrResult, bin_index: int | None = None, k: int = 3):
    """Rows: mask bins (or one bin); columns: ground truth, masked input, IR-SDE, + structure, + resampling,
    the texture net guided by the ideal structure (diagnostic, when run), and the harmonic and mean-colour fills."""
    test = res.test
    bins = range(len(BIN_NAMES)) if bin_index is None else [bin_index]
    extra = [v for v in ("ideal structure",) if v in res.outputs]
    cols = ["ground truth", "input", *MAIN, *extra, "harmonic fill", "mean-colour fill"]
    rows = []
    for b in bins:
        idx = torch.nonzero(test.bin == b).view(-1)[:k]
        img, m = test.img[idx], test.mask[idx]
        rows.append([img, img * m + (1 - m) * 0.5, *[res.outputs[v][idx] for v in (*MAIN, *extra)],
                     M.harmonic_fill(img, m), M.mean_fill(img, m)])
    fig, axes = figure(len(cols), len(rows), width=1.9, height=0.75 * k + 0.3)
    axes = np.asarray(axes).reshape(len(rows), len(cols))
    for r, (b, row) in enumerate(zip(bins, rows)):
        for c, im in enumerate(row):
            image_grid(axes[r, c], im, nrow=1, title=cols[c] if r == 0 else "")
        axes[r, 0].text(-0.15, 0.5, BIN_NAMES[b], transform=axes[r, 0].transAxes, rotation=90,
                        va="center", ha="right", fontsize=9)
    return fig


def bin_metrics(res: StrResult, variants=MAIN):
    """PSNR and SSIM per mask bin for each variant (mean over test images), with the reference fills
    (dashed: harmonic, dotted: mean-colour) at their per-bin levels."""
    fig, axes = figure(2, width=4.0, height=3.0)
    x = np.arange(len(BIN_NAMES))
    w = 0.8 / len(variants)
    for ax, metric in zip(axes, ("psnr", "ssim")):
        for i, v in enumerate(variants):
            ax.bar(x + (i - (len(variants) - 1) / 2) * w, per_bin(res, v, metric), w, label=v, color=PALETTE[i + 1])
        for (f, fs), ls in zip(res.fills.items(), ("--", ":")):  # reference fills: one level per bin
            level = [fs[metric][res.test.bin == b].mean().item() for b in range(len(BIN_NAMES))]
            ax.hlines(level, x - 0.45, x + 0.45, colors="0.25", linestyles=ls, lw=1.2,
                      label=f if metric == "psnr" else None)
        ax.set_xticks(x, BIN_NAMES)
        ax.set(xlabel="hole ratio", ylabel=metric.upper())
        lo = min(min(per_bin(res, v, metric)) for v in variants)
        ax.set_ylim(lo * 0.9 if metric == "psnr" else max(0, lo - 0.1), None)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=5, fontsize=8,
               bbox_to_anchor=(0.5, 1.08), frameon=False)
    return fig


def split_sweep(res: StrResult):
    """Full-image and hole PSNR against the end of the structure-guided stage."""
    s = res.sweep
    xs = list(s)
    fig, ax = figure(width=4.6, height=3.0)
    for c, metric, lab in ((PALETTE[2], "psnr", "whole image"), (PALETTE[3], "psnr_hole", "hole only")):
        m = [s[k][metric].mean().item() for k in xs]
        se = [s[k][metric].std().item() / max(1, len(s[k][metric])) ** 0.5 for k in xs]
        ax.errorbar(xs, m, yerr=se, color=c, marker="o", capsize=3, label=lab)
    ax.axvline(res.config.split, color="0.5", ls=":", lw=1)
    ax.set(xlabel="split (structure guides steps T … split·T)", ylabel="PSNR (dB)")
    ax.legend(fontsize=8)
    return fig


def timestep_panel(res: StrResult, t: int = 20, image: int = -1):
    """One test image at step t: texture y_t, structure x_t and their known-region sparsity over t."""
    cfg, test = res.config, res.test
    t = int(min(max(t, 0), cfg.T))
    sde = build_sde(cfg)
    img, m = test.img[image:][:1], test.mask[image:][:1]
    from reprobook.strdiffusion.data import structure

    G, E = structure(img, m, sigma=cfg.canny_sigma)
    gen = torch.Generator().manual_seed(0)
    y_t = sde.marginal(img, img * m, t, generator=gen)
    x_t = sde.marginal(G, E * m, t, generator=gen)
    fig, (a, b, c) = figure(3, width=2.7, height=2.7)
    image_grid(a, y_t, nrow=1, title=f"texture $y_t$, t = {t}")
    image_grid(b, x_t, nrow=1, title=f"structure $x_t$, t = {t}")
    f = res.forward
    ts = np.arange(cfg.T + 1)
    c.plot(ts, f["sparsity_structure_mean"].mean(1), color=PALETTE[0], label="structure")
    c.plot(ts, f["sparsity_texture"].mean(1), color=PALETTE[1], label="texture")
    c.axvline(t, color="0.3", ls=":")
    c.set(xlabel="t", ylabel="Hoyer sparsity", ylim=(0, 1), title=f"this image: {M.hoyer(sde.mu_bar(G, E * m, t), m).item():.2f} / {M.hoyer(y_t.mean(1, keepdim=True), m).item():.2f}")
    c.legend(fontsize=8)
    return fig


def bin_panel(res: StrResult, bin_name: str = BIN_NAMES[3]):
    """Inpainting results of every test image of one mask bin."""
    b = BIN_NAMES.index(bin_name)
    return samples(res, b, k=int((res.test.bin == b).sum()))
