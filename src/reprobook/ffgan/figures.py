"""Chapter 6 figures, drawn from an :class:`~reprobook.ffgan.evaluate.Evaluation` of this run."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from reprobook.engine.plots import PALETTE, figure
from reprobook.ffgan.data import VOCAB
from reprobook.ffgan.evaluate import Evaluation, compose, generate

LABELS = {"full": "FF-GAN", "no_ff": "− FF-Block", "no_gsr": "− GSR"}


def _rgb(x: torch.Tensor) -> np.ndarray:
    return ((x.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()


def _words(cap: torch.Tensor, n: int) -> list[str]:
    return [VOCAB[int(t)] for t in cap[:n]]


def _overlay(ax, img: torch.Tensor, att: torch.Tensor, title: str) -> None:
    size = img.shape[-1]
    a = F.interpolate(att[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    ax.imshow(_rgb(img), interpolation="nearest")
    ax.imshow(a.numpy(), cmap="magma", alpha=0.6, interpolation="nearest", vmin=0, vmax=1)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def attention_maps(ev: Evaluation, *, variant: str = "full", items=(0, 1, 2)):
    """Per caption: the final image and the raw attention of each attribute word at stages 1 and 2."""
    gen = ev.generated[variant]
    _, cap, cap_len, _, _, owner, _ = ev.test
    cols = 7
    fig, axes = figure(cols, 2 * len(items), width=1.25, height=1.35)
    axes = np.atleast_2d(axes)
    for r, i in enumerate(items):
        words = _words(cap[i], int(cap_len[i]))
        attr_t = [t for t in range(int(cap_len[i])) if owner[i, t] >= 0]
        for s in range(2):
            ax = axes[2 * r + s, 0]
            ax.imshow(_rgb(gen.images[-1][i]), interpolation="nearest")
            ax.set_axis_off()
            ax.set_title((" ".join(words[:6]) + "\n" + " ".join(words[6:])) if s == 0 else f"stage {s + 1} maps →",
                         fontsize=6)
            alpha = gen.attn[s][i]  # [T, h, w]
            for c, t in enumerate(attr_t[: cols - 1]):
                a = alpha[t] / alpha[t].sum()
                _overlay(axes[2 * r + s, c + 1], gen.images[-1][i], a / a.max(), f"'{words[t]}' (obj {int(owner[i, t])})")
    _colorbar(fig, axes[:, 1:], "magma", "attention / its maximum (overlay, 60 % opaque)")
    return fig


def _colorbar(fig, axes, cmap: str, label: str) -> None:
    """One colour bar on the [0, 1] scale shared by ``axes``, so a map's colours read as values."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap=cmap), ax=np.ravel(axes).tolist(), shrink=0.6,
                       fraction=0.03, pad=0.01)
    bar.set_label(label, fontsize=6)
    bar.ax.tick_params(labelsize=6)


def localization(ev: Evaluation):
    """Attention mass inside the right object vs chance, and pointing accuracy, per stage and variant."""
    fig, (a1, a2) = figure(2, width=3.6, height=2.8)
    variants = list(ev.folds)
    width = 0.8 / (len(variants) + 1)
    stages = [k for k in (1, 2) if f"attn_mass_stage{k}" in ev.folds[variants[0]]]
    for j, v in enumerate(variants):
        for ax, key in ((a1, "attn_mass"), (a2, "attn_point")):
            vals = [ev.folds[v][f"{key}_stage{k}"] for k in stages]
            ax.bar(np.arange(len(stages)) + j * width, [np.mean(x) for x in vals], width,
                   yerr=[np.std(x) for x in vals], color=PALETTE[j], label=LABELS.get(v, v))
    chance = [np.mean(ev.folds[variants[0]][f"attn_chance_stage{k}"]) for k in stages]
    for ax in (a1, a2):
        ax.bar(np.arange(len(stages)) + len(variants) * width, chance, width, color="0.7", label="chance (area)")
        ax.set_xticks(np.arange(len(stages)) + 0.4 - width / 2, [f"stage {k}" for k in stages])
    a1.set(ylabel="attention mass inside the object", ylim=(0, 1))
    a2.set(ylabel="pointing accuracy", ylim=(0, 1))
    a1.legend(fontsize=7)
    return fig


def coarse_to_fine(ev: Evaluation, *, variant: str = "full", n: int = 8):
    """Stage outputs for ``n`` test captions, and attribute accuracy per stage for every variant."""
    gen = ev.generated[variant]
    stages = len(gen.images)
    fig = __import__("matplotlib.pyplot", fromlist=["figure"]).figure(figsize=(9, 1.2 * stages + 0.6), layout="constrained")
    gs = fig.add_gridspec(stages, n + 3)
    for k in range(stages):
        for i in range(n):
            ax = fig.add_subplot(gs[k, i])
            ax.imshow(_rgb(gen.images[k][i]), interpolation="nearest")
            ax.set_axis_off()
            if i == 0:
                ax.set_title(f"stage {k} ({gen.images[k].shape[-1]}²)", fontsize=7, loc="left")
    ax = fig.add_subplot(gs[:, n:])
    for j, v in enumerate(ev.folds):
        ys = [np.mean(ev.folds[v][f"attr_acc_stage{k}"]) for k in range(stages)]
        ax.plot(range(stages), ys, "o-", color=PALETTE[j], label=LABELS.get(v, v))
    ax.axhline(ev.real_attr_acc, color="0.5", ls="--", label="real images")
    ax.set(xticks=range(stages), xlabel="stage", ylabel="attribute accuracy", ylim=(0, 1.02))
    ax.legend(fontsize=7)
    return fig


def consistency(ev: Evaluation):
    """AttrAcc, exact-caption accuracy, R-precision and FD of every variant (mean ± std over folds)."""
    fig, axes = figure(4, width=2.3, height=2.6)
    variants = list(ev.folds)
    names = [LABELS.get(v, v) for v in variants]
    for ax, key, label in zip(axes, ("attr_acc", "exact_acc", "r_precision"), ("attribute acc.", "exact caption acc.",
                                                                               "R-precision (eval encoder)")):
        ax.bar(names, [np.mean(ev.folds[v][key]) for v in variants], yerr=[np.std(ev.folds[v][key]) for v in variants],
               color=PALETTE[: len(variants)])
        ax.set(title=label, ylim=(0, 1))
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        ax.axhline(_chance(key, ev.config.r_candidates), color="0.3", ls=":", lw=1, label="chance")
    axes[0].legend(fontsize=7)
    axes[3].bar(names + ["real"], [ev.fd[v] for v in variants] + [ev.fd["real"]], color=list(PALETTE[: len(variants)]) + ["0.6"])
    axes[3].set(title="Fréchet distance (classifier feats)")
    axes[3].tick_params(axis="x", labelrotation=30, labelsize=7)
    return fig


def _chance(key: str, r_candidates: int) -> float:
    from reprobook.ffgan import claims

    return {"attr_acc": claims.CHANCE_ATTR_ACC, "exact_acc": claims.CHANCE_EXACT_ACC,
            "r_precision": 1 / r_candidates}[key]


def claim_panels(values: dict, *, r_candidates: int, branch_num: int = 3, unit: str = "seed"):
    """The claims' quantities per variant, one dot per ``unit`` (training seed or caption fold), with their
    reference lines: chance (attribute, exact-caption, R-precision), the real-data floor of the Fréchet
    distance, the attention's maximum entropy and the gate's bound, uniform attention and the claim's margin."""
    from reprobook.ffgan import claims

    last = branch_num - 1
    panels = [("attr_acc", "attribute accuracy", [(_chance("attr_acc", r_candidates), "chance"),
                                                    (claims.CHANCE_ATTR_ACC + claims.ATTR_MARGIN, "gate")]),
              ("exact_acc", "exact-caption accuracy", [(claims.CHANCE_EXACT_ACC, "chance")]),
              ("r_precision", "R-precision", [(1 / r_candidates, "chance")]),
              ("fd", "Fréchet distance (log)", [("fd_real", "real-data floor")]),
              (f"attn_entropy_stage{last}", "attention entropy / max", [(1.0, "uniform"),
                                                                        (claims.ENTROPY_BOUND, "gate")]),
              (f"attn_lift_stage{last}", "mass on object / chance", [(1.0, "uniform"), (claims.LIFT_MARGIN, "claim")])]
    variants = list(values)
    fig, axes = figure(len(panels), width=1.9, height=2.4)
    for ax, (key, title, refs) in zip(axes, panels):
        for j, v in enumerate(variants):
            ys = [y for y in values[v].get(key, []) if np.isfinite(y)]
            ax.plot(np.full(len(ys), j) + np.linspace(-0.15, 0.15, len(ys)) if len(ys) > 1 else [j] * len(ys), ys,
                    "o", color=PALETTE[j], ms=4)
            if ys:
                ax.hlines(np.mean(ys), j - 0.3, j + 0.3, color=PALETTE[j], lw=2)
        for ref, name in refs:
            y = np.nanmean(values[variants[0]].get(ref, [np.nan])) if isinstance(ref, str) else ref
            ls = ":" if name in ("chance", "uniform", "real-data floor") else "--"
            ax.axhline(y, color="0.3", ls=ls, lw=1)
            ax.annotate(name, (1.0, y), xycoords=("axes fraction", "data"), fontsize=6, ha="right", va="bottom",
                        color="0.3")
        if key == "fd":
            ax.set_yscale("log")
        ax.set_xticks(range(len(variants)), [LABELS.get(v, v) for v in variants], rotation=30, fontsize=7)
        ax.set_title(title, fontsize=8)
    fig.suptitle(f"one dot per {unit}; bar: mean", fontsize=8)
    return fig


def word_swap(ev: Evaluation, models, *, variant: str = "full", n: int = 6, k: int = 0, seed: int = 0):
    """Original and colour-swapped captions with the same noise, and the change |Δ|."""
    from reprobook.ffgan.metrics import swap_colour

    _, cap, cap_len, attrs, _, owner, _ = (t[:n] for t in ev.test)
    cap2, _ = swap_colour(cap, owner, attrs, k)
    G = models.generators[variant]
    a = generate(G, models.text_enc, cap, cap_len, seed=seed).images[-1]
    b = generate(G, models.text_enc, cap2, cap_len, seed=seed).images[-1]
    fig, axes = figure(n, 3, width=1.3, height=1.35)
    for i in range(n):
        changed = [VOCAB[int(t)] for t in cap2[i][cap2[i] != cap[i]]][:1]
        ws = _words(cap[i], int(cap_len[i]))
        for r, (img, title) in enumerate(((a[i], " ".join(ws[:7]) + "\n" + " ".join(ws[7:])),
                                          (b[i], f"→ '{changed[0] if changed else '?'}'"))):
            axes[r, i].imshow(_rgb(img), interpolation="nearest")
            axes[r, i].set_title(title, fontsize=5)
            axes[r, i].set_axis_off()
        axes[2, i].imshow((b[i] - a[i]).abs().mean(0).numpy(), cmap="viridis", vmin=0, vmax=1)
        axes[2, i].set_title("|Δ|", fontsize=7)
        axes[2, i].set_axis_off()
    _colorbar(fig, axes[2, :], "viridis", "|Δ|, mean over RGB (pixels in [−1, 1])")
    e = ev.edit.get(variant, {})
    fig.suptitle(f"{LABELS.get(variant, variant)}: |Δ| inside/outside the edited object = {e.get('locality', float('nan')):.2f}; "
                 f"new colour read on {100 * e.get('edit_ok', float('nan')):.0f}% of edits", fontsize=8)
    return fig


def _smooth(v, k: int) -> np.ndarray:
    """Moving average over ``k`` points (fewer for a short curve), the curve's length kept."""
    k = max(1, min(k, len(v)))
    return np.convolve(v, np.ones(k) / k, mode="same")


def training_curves(losses: dict):
    """Losses logged while the shipped weights were trained (DAMSM and each generator variant)."""
    fig, (a1, a2) = figure(2, width=3.6, height=2.6)
    if "damsm" in losses:
        s, v = losses["damsm"]["damsm"]["step"], losses["damsm"]["damsm"]["value"]
        a1.plot(s, _smooth(v, 10), color=PALETTE[0])
        a1.set(title="DAMSM pretraining", xlabel="step", ylabel="L_w + L_s")
    for j, key in enumerate(k for k in losses if k.startswith("gan_")):
        if "damsm" in losses[key]:
            s, v = losses[key]["damsm"]["step"], losses[key]["damsm"]["value"]
            a2.plot(s, _smooth(v, 20), color=PALETTE[j], label=LABELS.get(key[4:], key))
    a2.set(title="DAMSM loss of generated images", xlabel="GAN step")
    a2.legend(fontsize=7)
    return fig


WIDGET_WORDS = ("colour of first object", "shape of first object", "colour of second object", "shape of second object")


def word_position(words: list[str], which: str) -> int:
    """Index in ``words`` of the word named by ``which`` (one of ``WIDGET_WORDS``)."""
    from reprobook.ffgan.data import COLORS, SHAPES

    if which not in WIDGET_WORDS:
        raise ValueError(f"unknown word choice {which!r}; choose one of: {', '.join(WIDGET_WORDS)}")
    kind = COLORS if which.startswith("colour") else SHAPES
    hits = [i for i, w in enumerate(words) if w in kind]
    return hits[0] if "first" in which else hits[1]


def caption_panel(models, colour_a="red", shape_a="circle", relation="above", colour_b="blue", shape_b="square",
                  word="colour of first object", variant="full", seed=0):
    """The widget's view: images per stage for a composed caption, and one word's attention per stage."""
    cap, cap_len, words, _ = compose(colour_a, shape_a, relation, colour_b, shape_b)
    gen = generate(models.generators[variant], models.text_enc, cap, cap_len, seed=seed)
    t = word_position(words, word)
    stages = len(gen.images)
    fig, axes = figure(stages + len(gen.attn), width=1.7, height=1.9)
    for k in range(stages):
        axes[k].imshow(_rgb(gen.images[k][0]), interpolation="nearest")
        axes[k].set_title(f"stage {k}", fontsize=8)
        axes[k].set_axis_off()
    for s, att in enumerate(gen.attn):
        a = att[0, t] / att[0, t].sum()
        _overlay(axes[stages + s], gen.images[-1][0], a / a.max(), f"'{words[t]}' stage {s + 1}")
    fig.suptitle(" ".join(words), fontsize=9)
    return fig
