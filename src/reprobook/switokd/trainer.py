"""``reprobook train switokd``: SwitOKD's main experiment outside the notebook, one or many processes.

``topology="pair"`` (Table 4): for each seed, the teacher/student pair is trained with SwitOKD
first, then with every comparison method of ``cfg.methods`` (DML, vanilla, offline KD; switch
them off with ``--set "methods=('switokd',)"``), then the ablations if ``cfg.ablations``. Each run
is one resumable phase ``<variant>-<method>-seed<k>``. ``1T2S``/``2T1S`` (Table 7) train the
three networks, one phase ``<topology>-seed<k>`` per seed.

Multi-process (``torchrun``): every network is wrapped for data-parallel training, each process
sees its slice of every global batch, and the mode switch is decided from G, s, t of the *global*
batch (one all-reduce, :func:`~reprobook.switokd.switch.batch_scalars`), so all ranks skip their
teacher's backward and optimizer step together in expert mode; DDP then never waits for a
gradient that one rank does not produce. Teacher logits enter the student's loss detached (and
vice versa), so no gradient crosses from one network's DDP module into another's.
"""

from __future__ import annotations

from reprobook.engine import results
from reprobook.engine.training import TrainContext
from reprobook.switokd import claims, experiment
from reprobook.switokd.config import SwitOKDConfig

ORDER = ("switokd", "dml", "vanilla", "kd")  # SwitOKD first, baselines as later phases


def _summary(res: experiment.SwitOKDResult) -> dict:
    """Flat headline numbers (one value per seed): final-epoch top-1 and mode fractions per method."""
    out = {}
    for key, rs in res.runs.items():
        if not key.startswith("main/"):
            continue
        m = key.split("/")[1]
        out[f"{m}_teacher_top1"] = [r.final_t for r in rs]
        out[f"{m}_student_top1"] = [r.final_s for r in rs]
        if m in ("switokd", "dml"):  # DML logs the mode it would have taken
            out[f"{m}_expert_fraction"] = [r.fraction("expert") for r in rs]
            out[f"{m}_learning_fraction"] = [1 - r.fraction("expert") for r in rs]
    return out


def train_pair_experiment(cfg: SwitOKDConfig, ctx: TrainContext) -> results.Record:
    record = ctx.record(cfg.seed)
    res = experiment.run(cfg, progress=ctx.progress, fit_fn=ctx.fit, order=ORDER)
    record.metrics = {**_summary(res), "runs": experiment.metrics(res)}
    claims.pair_claims(record, res)
    return record


def _multinet_metrics(cfg: SwitOKDConfig, hists: list) -> dict:
    names = experiment.MULTINET_ROLES[cfg.topology]
    out = {}
    for role, name in names.items():
        out[f"{name}_top1"] = [h.last(f"acc_{role}") for h in hists]  # final epoch, never the best on test
    for k in ("expert1", "expert2", "paused1", "paused2", "teacher_stepped"):
        if k in hists[0].metrics:
            out[f"{k}_fraction"] = [sum(h.series(k)[1]) / len(h.series(k)[1]) for h in hists]
    return out


def train_multinet_experiment(cfg: SwitOKDConfig, ctx: TrainContext) -> results.Record:
    record = ctx.record(cfg.seed)
    hists = [experiment.run_multinet(cfg, seed=cfg.seed + i, progress=ctx.progress, fit_fn=ctx.fit)[0]
             for i in range(cfg.n_seeds)]
    record.metrics = _multinet_metrics(cfg, hists)
    claims.multinet_claims(record, cfg, hists)
    return record


def train(cfg: SwitOKDConfig, ctx: TrainContext) -> results.Record:
    """The chapter's experiment at ``cfg``'s preset, every run through ``ctx.fit``."""
    if cfg.topology == "pair":
        return train_pair_experiment(cfg, ctx)
    with experiment.torch_threads(cfg.threads):
        return train_multinet_experiment(cfg, ctx)
