"""``reprobook train strdiffusion``: the four networks, then the chapter's evaluation, outside the notebook.

One resumable phase per network, in the order of :data:`~reprobook.strdiffusion.fitting.NETS`: the
structure net :math:`\\epsilon_\\phi` (gray→edge SDE), the SPADE-guided texture net
:math:`\\tilde\\epsilon_\\varphi` (teacher-forced ideal structure), the IR-SDE baseline (same U-Net
without SPADE) and the time-conditioned discriminator :math:`D` of adaptive resampling. Each is
trained by :func:`~reprobook.strdiffusion.fitting.train_one`, the function the notebook's ``retrain``
and the evidence grid (``reprobook evidence strdiffusion``) use; the networks are independent, so the phases never interleave. Then
:func:`~reprobook.strdiffusion.experiment.evaluate` inpaints the test set with IR-SDE and
StrDiffusion (without and with adaptive resampling, plus the ablations), and the record gets the
notebook's metrics and claims, plus StrDiffusion against IR-SDE and against the official
Paris StreetView table.

Under ``torchrun`` each network is data-parallel (D inside a
:class:`~reprobook.strdiffusion.discriminator.ThreeScores`, one forward per backward); the
per-sample draws (mask, t, the noises) are made for the global batch and sliced; D's minibatch-stddev
groups are those of the global batch. Evaluation runs whole on every process (deterministic
generators, so every process gets the same numbers); only rank 0 writes.
"""

from __future__ import annotations

from functools import partial

from reprobook.engine import results
from reprobook.engine.runtime import seed_everything
from reprobook.engine.training import TrainContext
from reprobook.strdiffusion import claims, experiment
from reprobook.strdiffusion.config import StrDiffusionConfig
from reprobook.strdiffusion.fitting import NETS, train_one, trained_info, training_data

def train(cfg: StrDiffusionConfig, ctx: TrainContext) -> results.Record:
    record = ctx.record(cfg.seed)
    seed_everything(cfg.seed)
    data = training_data(cfg, ctx.data_root)
    nets, info = {}, {}
    for name in NETS:
        nets[name], hist = train_one(cfg, name, data, fit=partial(ctx.fit, name), progress=ctx.progress)
        info[name] = trained_info(cfg, name, hist)
    res = experiment.evaluate(cfg, nets, info, data_root=ctx.data_root, progress=ctx.progress and ctx.is_main)
    record.metrics = experiment.summary_metrics(res)
    num = experiment.claim_numbers(res)
    claims.record_claims(record, num)
    claims.record_paper_claims(record, num)
    return record
