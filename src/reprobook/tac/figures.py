"""Chapter 1 figures and tables, drawn from per-seed numbers (:class:`~reprobook.tac.experiment.Measured`:
a live run or the shipped evidence) and, for sizes and the live panel, from a run's networks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import ticker

from reprobook.engine.plots import PALETTE, figure
from reprobook.engine.results import fmt
from reprobook.engine.stats import mean_interval
from reprobook.tac.accounting import Accounting, account
from reprobook.tac.experiment import MAIN_VARIANTS, Measured, TACResult, live_compression

LABELS = {"fp": "FP", "xnor_all": "XNOR-all", "xnor_conv": "XNOR conv-only", "fc_binary": "FC-binary-only",
          "tac": "TAC"}
COLORS = dict(zip(MAIN_VARIANTS, PALETTE))  # one colour per variant in every figure
TYPE_LABELS = {"first": "conv1", "conv": "conv", "fc": "FC", "classifier": "last FC", "bn": "BN"}


def interval(xs: Sequence[float], scale: float = 1.0) -> tuple[float, float, float]:
    """Mean and 95 % Student-t interval (``lo``, ``hi``) of ``xs`` (no interval for one value)."""
    m, lo, hi, _ = mean_interval(np.asarray(xs, dtype=float) * scale)
    return (m, m, m) if not np.isfinite(lo) else (m, lo, hi)


def _ci_text(xs: Sequence[float], scale: float = 100, digits: int = 1) -> str:
    m, lo, hi = interval(xs, scale)
    if len(xs) < 2:
        return f"{m:.{digits}f} (n=1)"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}] (n={len(xs)})"


def variant_table(m: Measured, costs: dict[str, Accounting]) -> str:
    """Markdown: variants × (accuracy, size, compression, speed-up, size and MAC share per layer type)."""
    types = list(TYPE_LABELS)
    head = ("| variant | test accuracy (%), mean ± std | size (KiB) | compression × | speed-up × | size share "
            f"({' / '.join(TYPE_LABELS[t] for t in types)}) % | MAC share ({' / '.join(TYPE_LABELS[t] for t in types[:4])}) % |")
    rows = [head, "|---|---|---|---|---|---|---|"]
    for v in MAIN_VARIANTS:
        c = costs[v]
        sb, sm = c.share("bits"), c.share("eff_macs")
        rows.append(f"| {LABELS[v]} | {fmt(m.acc[v], scale=100, digits=1)} | {c.bits / 8 / 1024:.1f} | "
                    f"{c.compression:.1f} | {c.speedup:.2f} | {' / '.join(f'{100 * sb[t]:.0f}' for t in types)} | "
                    f"{' / '.join(f'{100 * sm[t]:.0f}' for t in types[:4])} |")
    return "\n".join(rows)


def type_shares(arch: str, **kw) -> dict[str, dict[str, float]]:
    """Per layer type (first conv, binary-able conv, hidden FC, last FC): share of the weights, of the
    full-precision MACs and of XNOR conv-only's effective MACs (fractions)."""
    fp, conv_only = (account(build_net_arch(arch, v, **kw)) for v in ("fp", "xnor_conv"))
    params = {t: sum(r.params for r in fp.rows if r.type == t) for t in ("first", "conv", "fc", "classifier")}
    total = sum(params.values())
    macs, eff = fp.share("eff_macs"), conv_only.share("eff_macs")
    return {t: {"params": params[t] / total, "fp_macs": macs[t], "conv_only_macs": eff[t]} for t in params}


def build_net_arch(arch: str, variant: str, **kw):
    from reprobook.tac.model import TACNet

    return TACNet(arch=arch, variant=variant, **kw)


def shares_table(cfg) -> str:
    """Markdown: the book network's per-layer-type shares beside XNOR-Net's AlexNet's."""
    book = type_shares(cfg.arch)
    alex = type_shares("alexnet")
    rows = ["| layer type | weights: book / AlexNet (%) | MACs, full precision: book / AlexNet (%) | "
            "MACs, XNOR conv-only (effective): book / AlexNet (%) |", "|---|---|---|---|"]
    for t in ("first", "conv", "fc", "classifier"):
        cells = [f"{100 * book[t][k]:.1f} / {100 * alex[t][k]:.1f}" for k in ("params", "fp_macs", "conv_only_macs")]
        rows.append(f"| {TYPE_LABELS[t]} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _groups(rows: Sequence[dict], treatment: str, key: str, **match) -> list[tuple]:
    """(x, mean compression, accuracy mean/lo/hi) per value of ``key``, over seeds."""
    sel = [r for r in rows if r["treatment"] == treatment and all(r.get(k) == v for k, v in match.items())]
    groups: dict = {}
    for r in sel:
        groups.setdefault(r[key], []).append(r)
    return [(x, float(np.mean([r["compression"] for r in groups[x]])), *interval([r["acc"] for r in groups[x]], 100))
            for x in sorted(groups)]


def fc_treatments(m: Measured):
    """Plot A: accuracy (mean, 95 % interval over seeds) vs compression × for FC treatments on one
    binary conv trunk per seed."""
    cfg = m.config
    fig, ax = figure(width=6.4, height=4.0)
    q = cfg.quantizer
    curves = [("pruned, 32-bit values (rate sweep)", "FC pruned", "rate", {}, None),
              (f"pruned + {q} {cfg.bits} bit (rate sweep)", f"FC pruned + {q}", "rate",
               {"bits": cfg.bits, "order": "prune_quantize"}, (0, 4)),
              (f"pruned {100 * cfg.prune_rate:g}% + {q} (bit sweep)", f"FC pruned + {q}", "bits",
               {"rate": cfg.prune_rate, "order": "prune_quantize"}, (0, -10))]
    for color, (label, treatment, key, match, offset) in zip(PALETTE, curves):
        pts = _groups(m.sweep, treatment, key, **match)
        if not pts:
            continue
        xs, ys = [p[1] for p in pts], [p[2] for p in pts]
        err = [[p[2] - p[3] for p in pts], [p[4] - p[2] for p in pts]]
        ax.errorbar(xs, ys, yerr=err, fmt="o-", color=color, capsize=2, ms=4, lw=1, label=label)
        if offset is None:
            continue
        # rate labels above the points' intervals (the highest rate's below); the bit sweep's points lie close
        # together, so only its two ends are labelled, below
        shown = pts if key == "rate" else [pts[0], pts[-1]] if len(pts) > 1 else pts
        for i, (x, comp, acc, lo, hi) in enumerate(shown):
            below = key == "bits" or i == len(shown) - 1 and len(shown) > 1
            ax.annotate(f"{100 * x:g}%" if key == "rate" else f"{x} b", (comp, lo if below else hi), fontsize=7,
                        color=color, textcoords="offset points", xytext=(0, -10 if below else 4), ha="center")
    for marker, color, treatment, label in (("s", PALETTE[3], "FC binary", "FC binary (XNOR-all's FC)"),
                                            ("D", "k", "FC full precision", "FC full precision (XNOR conv-only)")):
        pts = _groups(m.sweep, treatment, "bits")
        if pts:
            p = pts[0]
            ax.errorbar([p[1]], [p[2]], yerr=[[p[2] - p[3]], [p[4] - p[2]]], fmt=marker, color=color, ms=7,
                        capsize=3, label=label)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}" if v in (2, 3, 5, 7) else ""))
    ax.set(xlabel="compression × (whole network, vs FP)", ylabel="test accuracy (%)",
           title=f"conv binary; FC treatments (mean, 95 % interval over {len({r['seed'] for r in m.sweep})} seeds)")
    ax.legend(fontsize=7, loc="lower left")
    return fig


def speedup_vs_drop(m: Measured):
    """Plot B: accuracy drop vs theoretical speed-up when binarizing conv only, FC only, both (+ TAC);
    the drop's mean and paired 95 % interval over seeds."""
    fig, ax = figure(width=5.6, height=3.7)
    fp = np.array(m.acc["fp"])
    for v in ("xnor_conv", "fc_binary", "xnor_all", "tac"):
        drop, lo, hi = interval(100 * (fp - np.array(m.acc[v])))
        s = float(np.mean(m.speedup[v]))
        ax.errorbar([s], [drop], yerr=[[drop - lo], [hi - drop]], fmt="*" if v == "tac" else "o",
                    ms=12 if v == "tac" else 8, color=COLORS[v], capsize=3, label=LABELS[v])
        ax.annotate(f"{s:.1f}×", (s, drop), textcoords="offset points", xytext=(7, -3), fontsize=8)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="theoretical speed-up × (log scale)", ylabel="accuracy drop vs FP (points)",
           title=f"mean, 95 % interval over {m.n} paired seeds")
    ax.legend(fontsize=8)
    return fig


def live_panel(result: TACResult, rate: float = 0.9, bits: int = 5):
    """Widget figure: FC layers of the trained binary-conv network pruned to ``rate`` and shared with
    ``bits`` bits, without retraining, placed among the trained variants. The accuracy axis is fixed by
    the trained variants; a live point below it is drawn on its lower edge (▼) with its value."""
    pt = live_compression(result, rate, bits)
    fig, (ax1, ax2) = figure(2, width=3.6, height=3.2)
    accs = [100 * np.mean(result.acc(v)) for v in MAIN_VARIANTS]
    lo, hi = min(accs) - 8, max(accs) + 3
    for v, a in zip(MAIN_VARIANTS, accs):
        c = result.costs[v]
        ax1.plot(c.compression, a, "o", color=COLORS[v], label=LABELS[v])
        ax2.plot(c.speedup, a, "o", color=COLORS[v])
    live = 100 * pt["acc"]
    for ax, x in ((ax1, pt["compression"]), (ax2, pt["speedup"])):
        if live >= lo:
            ax.plot(x, live, "*", color="k", ms=14, label="live (no retraining)")
        else:
            ax.plot(x, lo + 0.5, "v", color="k", ms=10, label="live (no retraining), below the axis")
            ax.annotate(f"{live:.0f}%", (x, lo + 0.5), textcoords="offset points", xytext=(6, 2), fontsize=7)
        ax.set_xscale("log")
        ax.set_ylim(lo, hi)
        ax.set_ylabel("test accuracy (%)")
    ax1.set_xlabel("compression ×")
    ax2.set_xlabel("theoretical speed-up ×")
    ax1.legend(fontsize=6, loc="lower right")
    fig.suptitle(f"FC pruned {100 * rate:g}% + {bits}-bit: acc {live:.1f}%, "
                 f"{1024 * pt['size_mb']:.0f} KiB, {pt['compression']:.1f}×, {pt['speedup']:.1f}×", fontsize=9)
    return fig


def ablation_table(m: Measured) -> str:
    """Markdown: the sweep's rows, accuracy mean and 95 % interval over seeds, FC-treatment ablations."""
    if not m.sweep:
        return "(no sweep in these numbers: `sweep_seeds = 0`)"
    keys: dict = {}
    for r in m.sweep:
        k = (r["treatment"], r.get("rate", 0.0), r.get("bits", 32), r.get("order", "—"))
        keys.setdefault(k, []).append(r)
    rows = ["| FC treatment | pruning rate | bits | order | test accuracy (%), mean [95 % interval] | "
            "compression × | speed-up × |", "|---|---|---|---|---|---|---|"]
    for (t, rate, bits, order), rs in keys.items():
        rows.append(f"| {t} | {100 * rate:g}% | {bits} | {order.replace('_', ' → ')} | "
                    f"{_ci_text([r['acc'] for r in rs])} | {np.mean([r['compression'] for r in rs]):.1f} | "
                    f"{np.mean([r['speedup'] for r in rs]):.2f} |")
    return "\n".join(rows)
