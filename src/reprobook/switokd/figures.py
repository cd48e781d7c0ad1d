"""Chapter 3 figures, drawn from a run's :class:`~reprobook.switokd.experiment.SwitOKDResult`,
and the two widget panels (threshold explorer, training replay)."""

from __future__ import annotations

import numpy as np

from reprobook.engine.plots import PALETTE, figure
from reprobook.switokd.experiment import SwitOKDResult
from reprobook.switokd.switch import SwitchRule, decide, threshold

METHOD_COLORS = {"vanilla": PALETTE[2], "dml": PALETTE[1], "switokd": PALETTE[0], "kd": PALETTE[4]}
LABELS = {"vanilla": "vanilla", "dml": "DML", "switokd": "SwitOKD", "kd": "offline KD"}


def _mean_curve(runs, get):
    vals = np.array([get(r) for r in runs], dtype=float)  # [seeds, points]
    return vals.mean(0), vals.min(0), vals.max(0)


def gap_vs_threshold(res: SwitOKDResult, seed_index: int = 0):
    """Per-step G and δ of SwitOKD and of DML (same seed), expert batches shaded.

    DML never acts on the rule: its shading marks the batches where SwitOKD's rule *would* pause
    the teacher.
    """
    keys = [k for k in ("main/switokd", "main/dml") if k in res.runs]
    fig, axes = figure(len(keys), width=4.2, height=3.0, sharey=True)
    axes = np.atleast_1d(axes)
    for ax, key in zip(axes, keys):
        r = res.runs[key][seed_index]
        x = np.array(r.steps)
        ex = np.array(r.series["expert"]) > 0.5
        ax.fill_between(x, 0, 1, where=ex, step="mid", color=PALETTE[5], alpha=0.35, lw=0,
                        transform=ax.get_xaxis_transform(), label="expert batch" if key.endswith("switokd")
                        else "would-be expert")
        ax.plot(x, r.series["G"], color=PALETTE[0], lw=0.9, label="gap G")
        ax.plot(x, r.series["delta"], color=PALETTE[3], lw=0.9, label="threshold δ")
        method = key.split("/")[1]
        ax.set(title=f"{LABELS[method]} (seed {r.seed}): expert {100 * r.fraction('expert'):.0f}% of steps",
               xlabel="step")
    axes[0].set_ylabel("L1 distance (batch mean)")
    axes[0].legend(loc="upper right", fontsize=8)
    return fig


def expert_fraction(res: SwitOKDResult):
    """Share of expert batches per epoch (mean and range over seeds): SwitOKD acts, DML would."""
    fig, ax = figure(width=4.6, height=3.0)
    for method in ("switokd", "dml"):
        key = f"main/{method}"
        if key not in res.runs:
            continue
        m, lo, hi = _mean_curve(res.runs[key], lambda r: r.per_epoch("expert"))
        ep = np.arange(1, len(m) + 1)
        ax.plot(ep, m, marker="o", ms=3, color=METHOD_COLORS[method],
                label=LABELS[method] + (" (paused)" if method == "switokd" else " (would pause)"))
        ax.fill_between(ep, lo, hi, color=METHOD_COLORS[method], alpha=0.2)
    ax.set(xlabel="epoch", ylabel="expert fraction", ylim=(-0.02, 1.02))
    ax.legend(fontsize=8)
    return fig


def accuracy_curves(res: SwitOKDResult):
    """Teacher and student test accuracy per epoch for every method (mean over seeds, band: range)."""
    fig, axes = figure(2, width=3.8, height=3.0)
    for ax, who, title in zip(axes, ("t", "s"), ("teacher", "student")):
        for method in ("vanilla", "dml", "switokd", "kd"):
            key = f"main/{method}"
            if key not in res.runs or (method == "kd" and who == "t"):
                continue
            m, lo, hi = _mean_curve(res.runs[key], lambda r: getattr(r, f"acc_{who}"))
            ep = np.arange(1, len(m) + 1)
            ax.plot(ep, m, color=METHOD_COLORS[method], label=LABELS[method])
            ax.fill_between(ep, lo, hi, color=METHOD_COLORS[method], alpha=0.15)
        ax.set(title=title, xlabel="epoch", ylabel="test accuracy")
    axes[1].legend(fontsize=8, loc="lower right")
    return fig


def teacher_softness(res: SwitOKDResult):
    """Teacher softness t = ‖p_t − y‖₁ and student error s per epoch (training batches, mean over seeds)."""
    fig, axes = figure(2, width=3.8, height=3.0, sharey=True)
    for ax, key_, title in zip(axes, ("t", "s"), ("teacher softness t", "student error s")):
        for method in ("vanilla", "dml", "switokd"):
            key = f"main/{method}"
            if key not in res.runs:
                continue
            m, lo, hi = _mean_curve(res.runs[key], lambda r: r.per_epoch(key_))
            ep = np.arange(1, len(m) + 1)
            ax.plot(ep, m, color=METHOD_COLORS[method], label=LABELS[method])
            ax.fill_between(ep, lo, hi, color=METHOD_COLORS[method], alpha=0.15)
        ax.set(title=title, xlabel="epoch")
    axes[0].set_ylabel("L1 distance to the label")
    axes[0].legend(fontsize=8)
    return fig


def ablations(res: SwitOKDResult):
    """Final student accuracy of every SwitOKD rule variant next to DML and SwitOKD (dots: seeds)."""
    keys = [k for k in res.runs if k.endswith("/switokd") and not k.startswith("width")]
    keys = (["main/dml"] if "main/dml" in res.runs else []) + keys
    fig, ax = figure(width=6.4, height=3.0)
    for i, key in enumerate(keys):
        vals = [r.final_s for r in res.runs[key]]
        color = METHOD_COLORS["dml"] if key == "main/dml" else METHOD_COLORS["switokd"] if key == "main/switokd" \
            else PALETTE[5]
        ax.bar(i, np.mean(vals), color=color, alpha=0.8)
        ax.plot([i] * len(vals), vals, "k.", ms=4)
        ax.text(i, max(vals) + 0.002, f"{100 * np.mean(vals):.1f}", ha="center", va="bottom", fontsize=7)
    names = [k.split("/")[0].replace("main", "SwitOKD") if k != "main/dml" else "DML" for k in keys]
    ax.set_xticks(range(len(keys)), names, rotation=30, ha="right", fontsize=8)
    lo = min(min(r.final_s for r in res.runs[k]) for k in keys)
    ax.set(ylabel="student test accuracy", ylim=(max(0.0, lo - 0.05), None))
    return fig


def gap_sweep(res: SwitOKDResult):
    """Capacity-gap sweep: student gain of SwitOKD over DML and expert fraction vs teacher width."""
    widths = sorted({r.teacher_width for k, rs in res.runs.items() if k.startswith("width") for r in rs})
    fig, (ax1, ax2) = figure(2, width=3.6, height=3.0)
    gains, lo, hi, fr = [], [], [], []
    for w in widths:
        v = sweep_verdict(res, w)  # paired by seed, 95 % t interval (points)
        gains.append(v.estimate)
        lo.append(v.estimate - v.ci[0] if np.isfinite(v.ci[0]) else 0.0)
        hi.append(v.ci[1] - v.estimate if np.isfinite(v.ci[1]) else 0.0)
        fr.append(np.mean([r.fraction("paused") for r in res.runs[f"width{w}/switokd"]]))
    ax1.errorbar(widths, gains, yerr=[lo, hi], marker="o", color=PALETTE[0], capsize=3)
    ax1.axhline(0, color="k", lw=0.8)
    ax1.set(xscale="log", xlabel="teacher width", ylabel="student gain over DML (points)",
            title="student gain (95 % interval)")
    ax2.plot(widths, fr, marker="o", color=PALETTE[5])
    ax2.set(xscale="log", xlabel="teacher width", ylabel="expert fraction", ylim=(-0.02, 1.02),
            title="expert fraction (SwitOKD)")
    for ax in (ax1, ax2):
        ax.minorticks_off()
        ax.set_xticks(widths, [str(w) for w in widths])
    return fig


def sweep_verdict(res: SwitOKDResult, width: int):
    """SwitOKD − DML final student accuracy at teacher width ``width``: paired over seeds, 95 % t interval."""
    from reprobook.engine import stats

    return stats.paired([r.final_s for r in res.runs[f"width{width}/switokd"]],
                        [r.final_s for r in res.runs[f"width{width}/dml"]], names=("SwitOKD student", "DML student"),
                        scale=100, digits=1, unit="points")


def sweep_table(res: SwitOKDResult):
    """The capacity-gap sweep as Markdown: per teacher width, the paired SwitOKD − DML student
    difference with its 95 % interval, and how often SwitOKD paused the teacher."""
    from IPython.display import Markdown

    widths = sorted({r.teacher_width for k, rs in res.runs.items() if k.startswith("width") for r in rs})
    lines = ["| teacher width | seeds | SwitOKD − DML student (points, 95 % interval) | teacher paused |",
             "|---|---|---|---|"]
    for w in widths:
        v = sweep_verdict(res, w)
        paused = np.mean([r.fraction("paused") for r in res.runs[f"width{w}/switokd"]])
        lines.append(f"| {w} | {v.n} | {v.summary()} | {paused:.2f} |")
    return Markdown("\n".join(lines) if widths else "*(no capacity-gap sweep in this run)*")


# ----------------------------------------------------------------------------- widget panels
def threshold_panel(s: float = 0.8, t: float = 0.3, G: float = 0.6, form: str = "code"):
    """δ(t) for a student error ``s``: the code's and the figure's ε, the bounds s − t and s, and
    the mode that ``(s, t, G)`` selects."""
    st = decide(G, s, t, SwitchRule(epsilon_form=form))
    ts = np.linspace(0.0, 2.0, 201)
    fig, ax = figure(width=5.6, height=3.4)
    ax.fill_between(ts, ts * 0 + s - ts, ts * 0 + s, color="0.85", label="bounds s − t … s")
    ax.plot(ts, [threshold(s, x, "code") for x in ts], color=PALETTE[0], label="δ, ε = exp(−t/(s+t)) (code)")
    ax.plot(ts, [threshold(s, x, "figure") for x in ts], color=PALETTE[1], ls="--",
            label="δ, ε = exp(−t/s) (figure)")
    ax.axhline(G, color=PALETTE[3], lw=1, label=f"G = {G:.2f}")
    ax.axvline(s, color="0.5", lw=0.8, ls=":")
    ax.text(s, -0.95, " t = s", color="0.4", fontsize=8)
    ax.plot([t], [st.delta], "o", color="k", ms=6)
    mode = "EXPERT (teacher pauses)" if st.expert else "LEARNING (both update)"
    ax.set(xlabel="teacher error t", ylabel="threshold δ", xlim=(0, 2), ylim=(-1.0, 2.0),
           title=f"s = {s:.2f}, t = {t:.2f}: ε = {st.eps:.3f}, δ = {st.delta:.3f} → {mode}")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, loc="upper right")
    return fig


def replay_panel(res: SwitOKDResult, step: int | None = None, *, key: str = "main/switokd", seed_index: int = 0):
    """The recorded G and δ of one run up to ``step`` and the batch scalars at that step."""
    r = res.runs[key][seed_index]
    n = len(r.steps)
    i = n - 1 if step is None else int(np.clip(step, 1, n)) - 1
    x = np.array(r.steps)
    fig, ax = figure(width=5.6, height=3.2)
    ex = np.array(r.series["expert"][: i + 1]) > 0.5
    ax.fill_between(x[: i + 1], 0, 1, where=ex, step="mid", color=PALETTE[5], alpha=0.35, lw=0,
                    transform=ax.get_xaxis_transform())
    ax.plot(x, r.series["G"], color="0.85", lw=0.8)
    ax.plot(x[: i + 1], r.series["G"][: i + 1], color=PALETTE[0], lw=0.9, label="G")
    ax.plot(x[: i + 1], r.series["delta"][: i + 1], color=PALETTE[3], lw=0.9, label="δ")
    ax.axvline(x[i], color="k", lw=0.8)
    v = {k: r.series[k][i] for k in ("G", "delta", "s", "t", "eps")}
    mode = "expert" if r.series["expert"][i] > 0.5 else "learning"
    ax.set(xlabel="step", ylabel="L1 distance", xlim=(0, x[-1]),
           title=(f"step {x[i]}: G={v['G']:.3f} δ={v['delta']:.3f} s={v['s']:.3f} t={v['t']:.3f} "
                  f"ε={v['eps']:.3f} → {mode}"))
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8, loc="upper right")
    return fig
