"""``reprobook train intro``: chapter 0's experiment outside the notebook, the template for the others.

The training code is the notebook's (:func:`~reprobook.intro.experiment.train_one`); only the
phase checkpoints differ: each (model, seed) pair is one resumable phase of the run directory.
Under ``torchrun`` the logged losses are those of a single-process run with the same batch size.
"""

from __future__ import annotations

from reprobook.engine import results
from reprobook.engine.training import TrainContext
from reprobook.intro.claims import record_claims
from reprobook.intro.config import IntroConfig
from reprobook.intro.experiment import MODELS, accuracy, splits, train_one


def train(cfg: IntroConfig, ctx: TrainContext) -> results.Record:
    record = ctx.record(cfg.seed)
    train_set, val_set, test_set = splits()
    acc = {m: [] for m in MODELS}
    for m in MODELS:
        for s in range(cfg.n_seeds):
            model, _ = train_one(cfg, m, cfg.seed + s, train_set, val_set, progress=ctx.progress, fit=ctx.fit)
            acc[m].append(accuracy(model, *test_set.tensors))
    record.metrics = {f"test_acc_{m}": a for m, a in acc.items()}
    record_claims(record, acc)
    return record
