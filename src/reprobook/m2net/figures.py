"""Chapter 2 figures, drawn from a run's :class:`~reprobook.m2net.experiment.M2NetResult` or from the
shipped evidence (:class:`Shipped`, the same interface for the figures that need no trained model)."""

from __future__ import annotations

import numpy as np
import torch

from reprobook.engine.plots import PALETTE, figure
from reprobook.m2net import method as M
from reprobook.m2net.data import CITIES, SUPERCATS, dms_code
from reprobook.m2net.experiment import M2NetResult


class Shipped:
    """A shipped evidence record seen as a run for the figures: ``values``, ``location_values``, the
    variants' labels, the test set (for class names and look-alikes) and per-class block usage."""

    def __init__(self, ev):
        from reprobook.m2net.config import M2NetConfig
        from reprobook.m2net.data import geo_landmarks
        from reprobook.m2net.experiment import variants

        fields = set(M2NetConfig.__dataclass_fields__)
        conf = {k: tuple(v) if isinstance(v, list) else v for k, v in ev.data["config"].items() if k in fields}
        self.ev = ev
        self.config = M2NetConfig(**{**conf, "variants": tuple(ev.data["arms"])})
        self.test = geo_landmarks(split="test", per_class=self.config.test_per_class, detail_p=self.config.detail_p)
        self.variants = variants(self.config)
        self.runs = {a: ev.seeds for a in ev.data["arms"]}

    def values(self, variant: str, metric: str) -> list[float]:
        if variant == "full":
            return [float(v) for v in self.ev.values("m2net", f"full_{metric}")]
        return [float(v) for v in self.ev.values(variant, metric)]

    def location_values(self, variant: str, setting: str, metric: str = "acc_lookalike") -> list[float]:
        return self.values(variant, f"location_{setting}_{metric}")

    def usage(self, variant: str, seed: int = 0) -> np.ndarray:
        u = np.asarray(self.ev.values(variant, "usage")[seed], float)
        return u.reshape(self.test.num_classes, -1)


def undecided_cities(res, variant: str = "m2net", *, seed: int = 0, within: float = 0.15) -> list[str]:
    """Cities whose classes' block usage stays within ``within`` of 0.5 on average (paths left undecided)."""
    u = usage(res, variant, seed)
    city = res.test.city
    y = res.test.tensors[2]
    out = []
    for t, (name, *_) in enumerate(CITIES):
        classes = sorted({int(c) for c in y[city == t].unique()})
        if np.abs(u[classes] - 0.5).mean() < within:
            out.append(name)
    return out


def class_order(res: M2NetResult) -> list[int]:
    """Classes ordered by location: city first, then super-category."""
    S, T = len(SUPERCATS), len(CITIES)
    return [s * T + t for t in range(T) for s in range(S)]


def usage(res: M2NetResult, variant: str, seed: int = 0) -> np.ndarray:
    """``[C, K]`` block usage ``P(u_k = 1 | class c)`` of the greedy test paths."""
    if isinstance(res, Shipped):
        return res.usage(variant, seed)
    u, y = res.runs[variant][seed].u, res.test.tensors[2]
    C = res.test.num_classes
    return np.stack([u[y == c].mean(0).numpy() if (y == c).any() else np.zeros(u.shape[1]) for c in range(C)])


def usage_heatmap(res: M2NetResult, variants=("m2net", "blockdrop")):
    """Class × block usage heat maps, rows ordered by city (location)."""
    variants = [v for v in variants if v in res.runs]
    fig, axes = figure(len(variants), width=3.6, height=5.2)
    axes = np.atleast_1d(axes)
    order = class_order(res)
    names = res.test.class_names
    hard = {int(c) for c in res.test.tensors[2][res.test.hard].unique()}
    S = len(SUPERCATS)
    for ax, v in zip(axes, variants):
        m = usage(res, v)[order]
        im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_title(res.variants[v].label)
        ax.set_xticks(range(m.shape[1]), [str(k + 1) for k in range(m.shape[1])])
        ax.set_xlabel("block k")
        ax.set_yticks(range(len(order)), [names[c] + (" *" if c in hard else "") for c in order]
                      if ax is axes[0] else [""] * len(order), fontsize=7)
        for i in range(1, len(CITIES)):
            ax.axhline(i * S - 0.5, color="w", lw=1.5)
        ax.grid(False)
    fig.colorbar(im, ax=list(axes), shrink=0.6, label="P(block kept | class)")
    return fig


def _mean_sem(xs: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean over seeds (0 for one seed): the error bars."""
    x = np.asarray(xs, float)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else 0.0


def _bars(ax, res, names, metric, *, title, ylabel, scale=1.0):
    means, ses = zip(*(_mean_sem([x * scale for x in res.values(n, metric)]) for n in names))
    labels = ["full net" if n == "full" else res.variants[n].label for n in names]
    ax.bar(range(len(names)), means, yerr=ses, color=[PALETTE[i % len(PALETTE)] for i in range(len(names))])
    ax.set_xticks(range(len(names)), labels, rotation=35, ha="right", fontsize=8)
    ax.set(title=title, ylabel=ylabel)


def diversity_panel(res: M2NetResult):
    """Mean pairwise Hamming distance (saturated), information of the greedy test path about the class and
    about the city (bits, permutation-corrected), and accuracy, per variant."""
    names = list(res.runs)
    fig, (a, b, c, d) = figure(4, width=2.5, height=3.0)
    _bars(a, res, names, "hamming", title="mean pairwise Hamming", ylabel="fraction of blocks")
    _bars(b, res, names, "info_class", title="I(path; class)", ylabel="bits")
    _bars(c, res, names, "info_city", title="I(path; city)", ylabel="bits")
    _bars(d, res, names, "acc", title="test accuracy", ylabel="%", scale=100)
    return fig


def tradeoff(res: M2NetResult):
    """Accuracy (all classes, look-alike classes) against FLOPs and blocks used, per variant and
    for the full network."""
    fig, (a, b) = figure(2, width=3.6, height=3.2)
    names = ["full", *res.runs]
    K = res.config.num_blocks
    for i, n in enumerate(names):
        label = "full net" if n == "full" else res.variants[n].label
        fl = np.mean(res.values(n, "mflops"))
        for ax, metric in ((a, "acc"), (b, "acc_lookalike")):
            vals = 100 * np.array(res.values(n, metric))
            ax.errorbar(fl, vals.mean(), yerr=vals.std() if len(vals) > 1 else None, fmt="o",
                        color="k" if n == "full" else PALETTE[(i - 1) % len(PALETTE)], label=label, capsize=2)
    if isinstance(res, Shipped):  # the calibration classifiers, at full cost
        fl = np.mean(res.values("full", "mflops"))
        for n, label, marker in (("vision", "vision only", "s"), ("fusion", "late fusion", "D")):
            for ax, metric in ((a, "acc"), (b, "acc_lookalike")):
                vals = 100 * np.array(res.values("m2net", f"{n}_{metric}"))
                ax.errorbar(fl, vals.mean(), yerr=vals.std() if len(vals) > 1 else None, fmt=marker, color="grey",
                            mfc="white", label=label, capsize=2)
    for ax, t in ((a, "all classes"), (b, "look-alike classes")):
        ax.set(xlabel=f"MFLOPs (multiply-adds) per image; full = {K} blocks", ylabel="test accuracy (%)", title=t)
    b.axhline(50, color="grey", ls=":", lw=1)
    a.legend(fontsize=7, loc="lower right")
    return fig


def location_panel(res: M2NetResult, variants=("m2net", "no_location")):
    """Look-alike accuracy and path change with true, shuffled and partner-city test locations."""
    variants = [v for v in variants if v in res.runs]
    settings = ("true", "shuffled", "partner")
    fig, (a, b) = figure(2, width=3.4, height=3.0)
    w = 0.8 / len(variants)
    for i, v in enumerate(variants):
        acc = [100 * np.mean(res.location_values(v, s, "acc_lookalike")) for s in settings]
        ch = [100 * np.mean(res.location_values(v, s, "path_change")) for s in settings]
        xs = np.arange(len(settings)) + (i - (len(variants) - 1) / 2) * w
        a.bar(xs, acc, w, label=res.variants[v].label, color=PALETTE[i])
        b.bar(xs, ch, w, label=res.variants[v].label, color=PALETTE[i])
    for ax, t in ((a, "look-alike accuracy (%)"), (b, "test paths changed (%)")):
        ax.set_xticks(range(len(settings)), ["true", "shuffled", "partner city"])
        ax.set(title=t, xlabel="test location")
    a.axhline(50, color="grey", ls=":", lw=1)
    a.legend(fontsize=7)
    return fig


def training_curves(res: M2NetResult, variants=("m2net", "blockdrop")):
    """Mean reward and accuracy of the sampled paths during phases 1 and 2 (first seed)."""
    fig, (a, b) = figure(2, width=3.4, height=2.8)
    for i, v in enumerate(v for v in variants if v in res.runs):
        h = res.runs[v][0].history
        off = h["phase1"].series("reward")[0][-1] if h["phase1"].metrics else 0
        for ax, m in ((a, "reward"), (b, "acc")):
            for ph, ls in (("phase1", "-"), ("phase2", "-")):
                if m not in h[ph].metrics:
                    continue
                st, val = h[ph].series(m)
                st = np.array(st) + (off if ph == "phase2" else 0)
                k = max(1, len(val) // 15)
                sm = np.convolve(val, np.ones(k) / k, mode="valid")
                ax.plot(st[k - 1:], sm, ls, color=PALETTE[i], label=res.variants[v].label if ph == "phase1" else None)
    for ax, t in ((a, "reward of sampled paths"), (b, "accuracy of sampled paths")):
        ax.axvline(off, color="grey", ls=":", lw=1)
        ax.set(title=t, xlabel="step (dotted: phase 1 → 2)")
    a.legend(fontsize=7)
    return fig


# --- the widget's computation -------------------------------------------------------------------

@torch.no_grad()
def path_for(res: M2NetResult, landmark: int, lat: float, lon: float, *, variant: str = "m2net", index: int = 0):
    """Greedy path, blocks used and class probabilities for test image ``index`` of class
    ``landmark`` when it is placed at ``(lat, lon)``."""
    rnet, policy = res.models[variant]
    x_all, _, y = res.test.tensors
    idx = (y == landmark).nonzero().flatten()
    x = x_all[idx[index % len(idx)]][None]
    loc = dms_code(torch.tensor([[lat, lon]], dtype=torch.float64))
    rnet.eval()
    policy.eval()
    s = policy(x, loc)[0]
    u = M.greedy_path(s)
    p = torch.softmax(rnet(x, u[None]), 1)[0]
    return {"image": x[0, 0], "s": s, "u": u, "blocks": int(u.sum()), "probs": p, "pred": int(p.argmax())}


def explore(res: M2NetResult, landmark: int = 0, lat: float = 51.5074, lon: float = -0.1278, *,
            variant: str = "m2net"):
    """The widget's figure: the image, the path chosen at ``(lat, lon)`` and the top-5 predictions."""
    out = path_for(res, landmark, lat, lon, variant=variant)
    names = res.test.class_names
    fig, (a, b, c) = figure(3, width=2.6, height=2.6)
    a.imshow(out["image"], cmap="gray", vmin=0, vmax=1)
    a.set_title(f"{names[landmark]}", fontsize=8)
    a.set_axis_off()
    K = len(out["u"])
    b.bar(range(1, K + 1), out["s"].numpy(), color=[PALETTE[2] if k else "#BBBBBB" for k in out["u"].tolist()])
    b.axhline(0.5, color="grey", ls=":", lw=1)
    b.set(ylim=(0, 1), xlabel="block k", title=f"path: {out['blocks']}/{K} blocks kept")
    top = out["probs"].argsort(descending=True)[:5].tolist()
    c.barh(range(5)[::-1], out["probs"][top].numpy(),
           color=[PALETTE[0] if t == landmark else PALETTE[3] for t in top])
    c.set_yticks(range(5)[::-1], [names[t] for t in top], fontsize=7)
    c.set(xlim=(0, 1), title=f"prediction at ({lat:.2f}, {lon:.2f})")
    return fig


def ablation_markdown(res: M2NetResult) -> str:
    """The run's table: accuracy, look-alike accuracy, blocks, FLOPs, path statistics, per variant."""
    from reprobook.engine.results import fmt

    rows = ["| run | accuracy (%) | look-alike acc. (%) | blocks used | MFLOPs | unique paths | mean Hamming "
            "| I(path; class) (bits) | I(path; city) (bits) |", "|---|---|---|---|---|---|---|---|---|"]
    for n in ["full", *res.runs]:
        label = "full network (all blocks)" if n == "full" else res.variants[n].label
        rows.append("| " + " | ".join([label, fmt(res.values(n, "acc"), scale=100, digits=1),
                                       fmt(res.values(n, "acc_lookalike"), scale=100, digits=1),
                                       fmt(res.values(n, "blocks"), digits=2), fmt(res.values(n, "mflops"), digits=3),
                                       fmt(res.values(n, "unique_paths"), digits=0),
                                       fmt(res.values(n, "hamming"), digits=3),
                                       *([fmt(res.values(n, k), digits=2) for k in ("info_class", "info_city")]
                                         if n != "full" else ["—", "—"])]) + " |")
    return "\n".join(rows)


def data_samples(res: M2NetResult, per_class: int = 4):
    """A few test images of every class: rows = super-categories, column groups = cities
    (look-alike classes marked *)."""
    x, _, y = res.test.tensors
    S, T = len(SUPERCATS), len(CITIES)
    hard = res.test.hard
    fig, axes = figure(T, 1, width=2.2, height=3.4)
    from reprobook.engine.plots import image_grid

    for t, ax in enumerate(np.atleast_1d(axes)):
        imgs = []
        for s in range(S):
            idx = (y == s * T + t).nonzero().flatten()[:per_class]
            imgs.append(x[idx])
        is_hard = [bool(hard[(y == s * T + t)][0]) for s in range(S)]
        image_grid(ax, torch.cat(imgs), nrow=per_class,
                   title=f"{CITIES[t][0]}\n(* look-alike: {', '.join(SUPERCATS[s] for s in range(S) if is_hard[s])})")
        ax.title.set_fontsize(7)
    return fig


def calibration_markdown(res) -> str:
    """M²Net placed between the calibration points: accuracy and look-alike accuracy (mean ± std over seeds)
    of the design ceilings, the full network, the vision-only and late-fusion classifiers (shipped evidence)."""
    from reprobook.m2net.experiment import vision_ceiling

    def cell(xs):
        x = 100 * np.asarray(xs, float)
        return f"{x.mean():.1f} ± {x.std(ddof=1):.1f}" if x.size > 1 else f"{x.mean():.1f}"

    rows = ["| classifier | accuracy (%) | look-alike accuracy (%) |", "|---|---|---|"]
    ceiling = vision_ceiling(res.test)
    if ceiling is not None:
        rows.append(f"| vision ceiling (the data's design) | — | {100 * ceiling:.1f} |")
    rows.append(f"| pre-trained full network (vision) | {cell(res.values('full', 'acc'))} | "
                f"{cell(res.values('full', 'acc_lookalike'))} |")
    if isinstance(res, Shipped):
        rows.append(f"| vision only, trained as long as M²Net | {cell(res.values('m2net', 'vision_acc'))} | "
                    f"{cell(res.values('m2net', 'vision_acc_lookalike'))} |")
    for n in ("blockdrop", "no_location", "m2net"):
        if n in res.runs:
            rows.append(f"| {res.variants[n].label} | {cell(res.values(n, 'acc'))} | "
                        f"{cell(res.values(n, 'acc_lookalike'))} |")
    if isinstance(res, Shipped):
        rows.append(f"| late fusion (city named by the location classifier: right for "
                    f"{cell(res.values('m2net', 'fusion_city_acc'))} %) | {cell(res.values('m2net', 'fusion_acc'))} | "
                    f"{cell(res.values('m2net', 'fusion_acc_lookalike'))} |")
    if ceiling is not None:
        rows.append("| vision + location ceiling (the data's design) | 100.0 | 100.0 |")
    return "\n".join(rows)
