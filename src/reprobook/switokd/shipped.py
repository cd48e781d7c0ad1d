"""Chapter 3's shipped evidence: every method, ablation and teacher width on the same paired seeds.

:data:`GRID` (``reprobook evidence switokd``) trains, for each seed, one *cell* per arm:

- ``vanilla``: the teacher and the student each on its own cross-entropy, then **offline KD** from
  that (frozen) vanilla teacher into a fresh student of the same seed (two phases);
- ``dml`` and ``switokd``: the main comparison;
- ``fixed<δ>``, ``no_tlts`` (the rule without ``t < s``), ``figure_eps`` (the figure's ε),
  ``tau<τ>``: SwitOKD with one part of its rule changed;
- ``width<w>``: DML and SwitOKD with a teacher of width ``w`` (the capacity-gap sweep; the main
  teacher width is the ``dml``/``switokd`` arms).

The arms are parsed from their names, so a smoke config runs the same grid on tiny schedules.
Every run is a phase ``<key>-seed<k>`` whose logged curves the record keeps (all batch scalars for
the main runs, the mode bits for the ablations); a cell's metrics are each run's final-epoch
accuracies and mode fractions, keyed ``<key>/<quantity>``. :func:`result_from_record` turns a
record back into a :class:`~reprobook.switokd.experiment.SwitOKDResult`, so the notebook's
figures and claims read shipped and live runs alike.
"""

from __future__ import annotations

from dataclasses import replace

from reprobook.engine.evidence import EvidenceRecord, Grid
from reprobook.engine.loop import PhaseFit
from reprobook.switokd.config import PRESETS, SwitOKDConfig
from reprobook.switokd.experiment import (PairRun, SwitOKDResult, datasets, phase_name, rule_of, torch_threads,
                                          train_pair)

MAIN_KEYS = ("main/vanilla", "main/kd", "main/dml", "main/switokd")
MODE_KEYS = ("expert", "paused")  # what an ablation run logs per step


def arms_of(cfg: SwitOKDConfig) -> tuple[str, ...]:
    """The grid's arms for ``cfg``'s ablation settings."""
    return (("vanilla", "dml", "switokd") + tuple(f"fixed{d:g}" for d in cfg.fixed_deltas) + ("no_tlts", "figure_eps")
            + tuple(f"tau{t:g}" for t in cfg.taus if t != cfg.tau)
            + tuple(f"width{w}" for w in cfg.gap_widths if w != cfg.teacher_width))


def _run_metrics(run: PairRun) -> dict[str, float]:
    out = {f"{run.key}/student": run.final_s, f"{run.key}/teacher": run.final_t,
           f"{run.key}/expert": run.fraction("expert"), f"{run.key}/paused": run.fraction("paused")}
    if "t" in run.series:  # training-batch errors in the last epoch (the precondition's teacher runaway)
        out[f"{run.key}/t_last"] = run.per_epoch("t")[-1]
        out[f"{run.key}/s_last"] = run.per_epoch("s")[-1]
    return out


def evidence_cell(cfg: SwitOKDConfig, arm: str, seed: int, *, fit: PhaseFit, progress: bool = True) -> dict:
    """One cell of :data:`GRID` (see the module docstring); returns its runs' metrics."""
    train, test = datasets(cfg)
    kw = dict(seed=seed, train=train, test=test, progress=progress, fit_fn=fit)
    base = rule_of(cfg)
    runs = []
    with torch_threads(cfg.threads):
        if arm == "vanilla":
            r, teacher, _ = train_pair(cfg, method="vanilla", **kw)
            runs += [r, train_pair(cfg, method="kd", kd_teacher=teacher, **kw)[0]]
        elif arm in ("dml", "switokd"):
            runs.append(train_pair(cfg, method=arm, **kw)[0])
        elif arm.startswith("width"):
            w = int(arm[len("width"):])
            runs += [train_pair(cfg, method=m, teacher_width=w, key=f"{arm}/{m}", logged=MODE_KEYS, **kw)[0]
                     for m in ("dml", "switokd")]
        else:
            if arm.startswith("fixed"):
                rule, key = replace(base, fixed_delta=float(arm[len("fixed"):])), arm
            elif arm.startswith("tau"):
                rule, key = replace(base, tau=float(arm[len("tau"):])), arm
            elif arm == "no_tlts":
                rule, key = replace(base, require_t_lt_s=False), "no_t<s"
            elif arm == "figure_eps":
                rule, key = replace(base, epsilon_form="figure" if base.epsilon_form == "code" else "code"), arm
            else:
                raise ValueError(f"unknown SwitOKD evidence arm {arm!r}")
            runs.append(train_pair(cfg, method="switokd", rule=rule, key=f"{key}/switokd", logged=MODE_KEYS, **kw)[0])
    return {"metrics": {k: v for r in runs for k, v in _run_metrics(r).items()}}


def _run_from_cell(cfg: SwitOKDConfig, cell: dict, key: str, seed: int) -> PairRun:
    curves = cell["curves"][phase_name(f"{key}-seed{seed}")]
    steps = curves["expert"]["step"]
    variant, method = key.split("/")
    width = int(variant[len("width"):]) if variant.startswith("width") else cfg.teacher_width
    return PairRun(key=key, method=method, seed=seed, teacher_width=width, steps_per_epoch=len(steps) // cfg.epochs,
                   steps=steps, series={k: v["value"] for k, v in curves.items() if not k.startswith("acc_")},
                   eval_steps=curves["acc_t"]["step"], acc_t=curves["acc_t"]["value"],
                   acc_s=curves["acc_s"]["value"], wall_s=0.0)


def result_from_record(ev: EvidenceRecord, cfg: SwitOKDConfig) -> SwitOKDResult:
    """The shipped grid as a :class:`SwitOKDResult` (one run per seed and key, seeds in order).

    ``cfg`` is the record's config (:func:`record_config`). The main teacher width also appears
    as ``width<w>`` in the sweep, from the main runs, as :func:`~reprobook.switokd.experiment.run`
    does.
    """
    res = SwitOKDResult(cfg, wall_s=float(ev.data["wall_time_s"]))
    for arm in ev.data["arms"]:
        for seed in ev.seeds:
            cell = ev.cell(arm, seed)
            keys = dict.fromkeys(k.rsplit("/", 1)[0] for k in cell["metrics"])
            for key in keys:
                res.runs.setdefault(key, []).append(_run_from_cell(cfg, cell, key, seed))
    if cfg.teacher_width in cfg.gap_widths:
        for m in ("dml", "switokd"):
            if f"main/{m}" in res.runs:
                res.runs[f"width{cfg.teacher_width}/{m}"] = [replace(r, key=f"width{cfg.teacher_width}/{m}")
                                                             for r in res.runs[f"main/{m}"]]
    return res


def record_config(ev: EvidenceRecord) -> SwitOKDConfig:
    """The config the record's grid ran with (its preset, smoke flag and ``--set`` values)."""
    from reprobook import chapters
    from reprobook.engine.training import build_config

    d = ev.data
    return build_config(chapters.CHAPTERS["switokd"], preset=d["preset"], smoke=d["smoke"], data_root=None,
                        sets=d["set"])


# On the record's CPU, torch version and thread count a replay is bit-equal. Elsewhere float rounding can flip the
# mode of a batch whose G sits within rounding of δ, after which the two trajectories drift apart; a whole-cell
# replay is then compared at 5 % (relative) on every logged quantity and accuracy.
GRID = Grid("switokd", "reprobook.switokd", arms=arms_of(PRESETS["book"]), run_cell=evidence_cell, seeds=10,
            tolerance=0.05, replay_arm="switokd", replay_seed=0)
