"""``reprobook train adasg`` / ``reprobook train adadfq``: Chapters 4-5 outside the notebook, at any preset.

The run is the chapter's experiment (:func:`reprobook.dfq.experiment.run`): the full-precision P
(trained as the chapter does, or loaded from ``fp_weights``, e.g. a pre-trained network in the
pytorchcv layout as the papers start from), the PTQ baselines, then for every bit width the
data-free game of G against Q, the chapter's method and (``baselines=True``) GDFQ and, in
Chapter 5, AdaSG. Every training run is one resumable phase of the ``reprobook train`` run
(``dfq-fp``, then one per method, bit width and seed). Under ``torchrun`` both players are
data-parallel (see :mod:`reprobook.dfq.train`).

The record holds Q's final top-1 per method and bit width (and the official best test epoch, for
reference) and the claims of :func:`reprobook.dfq.claims.record_claims` — the notebooks' rules —
with the paper's Table 2 (AdaDFQ, CVPR 2023) as the reference where the preset is one of its settings.
"""

from __future__ import annotations

import functools

from reprobook.dfq import claims, experiment
from reprobook.dfq.config import DFQConfig
from reprobook.engine import results
from reprobook.engine.training import TrainContext


def train(cfg: DFQConfig, ctx: TrainContext) -> results.Record:
    """The chapter's experiment at ``cfg``'s preset, each training run a checkpointed phase of ``ctx``."""
    res = experiment.run(cfg, progress=ctx.progress, fitter=lambda tag, key: functools.partial(ctx.fit, tag))
    record = ctx.record(cfg.seed)
    record.metrics = {**experiment.summary(res),
                      "wall_time_s": sum(h.wall_time_s for h in ctx.histories.values())}
    claims.record_claims(record, res)
    return record
