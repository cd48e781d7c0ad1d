"""Chapter 1 figures and tables, drawn from a run's :class:`~reprobook.tac.experiment.TACResult`."""

from __future__ import annotations

import numpy as np

from reprobook.engine.plots import PALETTE, figure
from reprobook.engine.results import fmt
from reprobook.tac.experiment import MAIN_VARIANTS, TACResult, live_compression

LABELS = {"fp": "FP", "xnor_all": "XNOR-all", "xnor_conv": "XNOR conv-only", "fc_binary": "FC-binary-only",
          "tac": "TAC"}
COLORS = dict(zip(MAIN_VARIANTS, PALETTE))  # one colour per variant in every figure
TYPE_LABELS = {"first": "conv1", "conv": "conv", "fc": "FC", "classifier": "last FC", "bn": "BN"}


def variant_table(result: TACResult) -> str:
    """Markdown: variants × (accuracy, size, compression, speed-up, size and MAC share per layer type)."""
    types = list(TYPE_LABELS)
    head = ("| variant | test accuracy (%) | size (KiB) | compression × | speed-up × | size share "
            f"({' / '.join(TYPE_LABELS[t] for t in types)}) % | MAC share ({' / '.join(TYPE_LABELS[t] for t in types[:4])}) % |")
    rows = [head, "|---|---|---|---|---|---|---|"]
    for v in MAIN_VARIANTS:
        c = result.costs[v]
        sb, sm = c.share("bits"), c.share("eff_macs")
        rows.append(f"| {LABELS[v]} | {fmt(result.acc(v), scale=100, digits=1)} | {c.bits / 8 / 1024:.1f} | "
                    f"{c.compression:.1f} | {c.speedup:.1f} | {' / '.join(f'{100 * sb[t]:.0f}' for t in types)} | "
                    f"{' / '.join(f'{100 * sm[t]:.0f}' for t in types[:4])} |")
    return "\n".join(rows)


def _sweep_mean(result: TACResult, treatment: str, key: str, **match):
    rows = [r for r in result.sweep if r["treatment"] == treatment and all(r.get(k) == v for k, v in match.items())]
    groups: dict = {}
    for r in rows:
        groups.setdefault(r[key], []).append(r)
    xs = sorted(groups)
    return [(x, np.mean([r["compression"] for r in groups[x]]), np.mean([r["acc"] for r in groups[x]]),
             np.mean([r["speedup"] for r in groups[x]])) for x in xs]


def fc_treatments(result: TACResult):
    """Plot A: accuracy vs compression × for FC treatments on one binary conv trunk."""
    cfg = result.config
    fig, ax = figure(width=6.0, height=3.8)
    q = cfg.quantizer
    for color, (label, treatment, key, match) in zip(PALETTE, [
            ("pruned, FP values (rate sweep)", "FC pruned", "rate", {}),
            (f"pruned + {q} {cfg.bits} bit (rate sweep)", f"FC pruned + {q}", "rate",
             {"bits": cfg.bits, "order": "prune_quantize"}),
            (f"pruned {100 * cfg.prune_rate:g}% + {q} (bit sweep)", f"FC pruned + {q}", "bits",
             {"rate": cfg.prune_rate, "order": "prune_quantize"})]):
        pts = _sweep_mean(result, treatment, key, **match)
        if not pts:
            continue
        ax.plot([p[1] for p in pts], [100 * p[2] for p in pts], "o-", color=color, label=label)
        for x, comp, acc, _ in pts:
            ax.annotate(f"{100 * x:g}%" if key == "rate" else f"{x}b", (comp, 100 * acc), fontsize=7,
                        textcoords="offset points", xytext=(3, 3), color=color)
    for marker, color, treatment in (("s", PALETTE[3], "FC binary"), ("D", "k", "FC full precision")):
        pts = _sweep_mean(result, treatment, "bits")
        if pts:
            ax.plot([p[1] for p in pts], [100 * p[2] for p in pts], marker, color=color, ms=8,
                    label=f"{treatment} (XNOR-all's FC)" if treatment == "FC binary" else "FC full precision (XNOR conv-only)")
    ax.set_xscale("log")
    ax.set(xlabel="compression × (whole network, vs FP)", ylabel="test accuracy (%)",
           title=f"conv binary; FC treatments (seeds: {len({r['seed'] for r in result.sweep})})")
    ax.legend(fontsize=7, loc="lower left")
    return fig


def speedup_vs_drop(result: TACResult):
    """Plot B: accuracy drop vs theoretical speed-up when binarizing conv only, FC only, both (+ TAC)."""
    fig, ax = figure(width=5.4, height=3.6)
    fp = np.array(result.acc("fp"))
    for v in ("xnor_conv", "fc_binary", "xnor_all", "tac"):
        color = COLORS[v]
        drop = 100 * (fp - np.array(result.acc(v)))
        s = result.costs[v].speedup
        ax.errorbar([s], [drop.mean()], yerr=[drop.std(ddof=1) if len(drop) > 1 else 0], fmt="*" if v == "tac" else "o",
                    ms=12 if v == "tac" else 8, color=color, capsize=3, label=LABELS[v])
        ax.annotate(f"{s:.1f}×", (s, drop.mean()), textcoords="offset points", xytext=(6, -10), fontsize=8)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="theoretical speed-up × (log scale)", ylabel="accuracy drop vs FP (points)",
           title=f"mean ± std over {len(fp)} seeds")
    ax.legend(fontsize=8)
    return fig


def live_panel(result: TACResult, rate: float = 0.9, bits: int = 5):
    """Widget figure: FC layers of the trained binary-conv network pruned to ``rate`` and shared with
    ``bits`` bits, without retraining, placed among the trained variants."""
    pt = live_compression(result, rate, bits)
    fig, (ax1, ax2) = figure(2, width=3.6, height=3.2)
    for v in MAIN_VARIANTS:
        color = COLORS[v]
        c = result.costs[v]
        a = 100 * np.mean(result.acc(v))
        ax1.plot(c.compression, a, "o", color=color, label=LABELS[v])
        ax2.plot(c.speedup, a, "o", color=color)
    for ax, x in ((ax1, pt["compression"]), (ax2, pt["speedup"])):
        ax.plot(x, 100 * pt["acc"], "*", color="k", ms=14, label="live (no retraining)")
        ax.set_xscale("log")
        ax.set_ylabel("test accuracy (%)")
    ax1.set_xlabel("compression ×")
    ax2.set_xlabel("theoretical speed-up ×")
    ax1.legend(fontsize=7)
    fig.suptitle(f"FC pruned {100 * rate:g}% + {bits}-bit: acc {100 * pt['acc']:.1f}%, "
                 f"{1024 * pt['size_mb']:.0f} KiB, {pt['compression']:.1f}×, {pt['speedup']:.1f}×", fontsize=9)
    return fig


def ablation_table(result: TACResult) -> str:
    """Markdown: the sweep's rows (mean over sweep seeds), FC-treatment ablations."""
    if not result.sweep:
        return "(no sweep in this run: `sweep_seeds = 0`)"
    keys: dict = {}
    for r in result.sweep:
        k = (r["treatment"], r.get("rate", 0.0), r.get("bits", 32), r.get("order", "—"))
        keys.setdefault(k, []).append(r)
    rows = ["| FC treatment | pruning rate | bits | order | test accuracy (%) | compression × | speed-up × |",
            "|---|---|---|---|---|---|---|"]
    for (t, rate, bits, order), rs in keys.items():
        rows.append(f"| {t} | {100 * rate:g}% | {bits} | {order.replace('_', ' → ')} | "
                    f"{fmt([r['acc'] for r in rs], scale=100, digits=1)} | {np.mean([r['compression'] for r in rs]):.1f} | "
                    f"{np.mean([r['speedup'] for r in rs]):.1f} |")
    return "\n".join(rows)
