"""``reprobook train tac``: the chapter's pipeline outside the notebook, resumable and multi-process.

Per seed (``n_seeds`` of them; the paper presets run one): the full-precision network, the three
binary variants trained from its weights (XNOR-all — the 1-bit baseline —, binary conv only,
binary FC only), then TAC: the binary-conv network's FC layers pruned and shared at low bit-width
with the conv trunk frozen (:mod:`reprobook.tac.experiment`), and the FC sweep when ``sweep_seeds``
asks for it. Every stage is one resumable phase ``<stage>-seed<s>`` of the run.

Multi-process: every stage trains a data-parallel copy of the network it updates (the whole net,
or the FC head on frozen conv features) with global batch norm; the batch order is the shared
sharded stream; k-means codebooks and pruning masks are computed from identical weights on every
rank. Test accuracy is scored on each rank's shard and summed. Dropout (AlexNet's fc7 and fc8) draws
its masks per rank: statistically the same training, not bit-identical to one process.

The record holds top-1 accuracy, compression and theoretical speed-up of each variant and the
chapter's claims (:mod:`reprobook.tac.claims`), judged paired over seeds; the paper presets run one
seed, so their comparisons are inconclusive by rule until more seeds are run.
"""

from __future__ import annotations

from reprobook.engine import results
from reprobook.engine.loop import History, fit
from reprobook.engine.training import TrainContext
from reprobook.tac import claims
from reprobook.tac.config import TACConfig
from reprobook.tac.experiment import MAIN_VARIANTS, Measured, TACResult, run


def _fitter(ctx: TrainContext):
    """Each stage is a phase of the run; a stage met again (the sweep repeats TAC's own point)
    is read back from its finished checkpoint instead of being retrained."""

    def fitter(name: str, step_fn, **kw) -> History:
        if name in ctx.histories:
            kw.update(progress=False)
            return fit(step_fn, checkpoint=ctx.checkpoint(name), resume=True, **kw)
        return ctx.fit(name, step_fn, **kw)

    return fitter


def fill_record(record: results.Record, result: TACResult) -> None:
    """Metrics (top-1, compression, speed-up, size of every variant), baselines and claim verdicts
    (:func:`reprobook.tac.claims.record_claims`, shared with the notebook)."""
    record.metrics = {
        "test_acc": {v: result.acc(v) for v in MAIN_VARIANTS},
        "compression": {v: result.costs[v].compression for v in MAIN_VARIANTS},
        "speedup": {v: result.costs[v].speedup for v in MAIN_VARIANTS},
        "size_mb": {v: result.costs[v].size_mb for v in MAIN_VARIANTS},
        "fc_share_of_macs": sum(result.costs["fp"].share("eff_macs")[t] for t in ("fc", "classifier")),
        "fc_share_of_bits": sum(result.costs["fp"].share("bits")[t] for t in ("fc", "classifier")),
    }
    if result.sweep:
        record.metrics["sweep"] = result.sweep
    claims.record_claims(record, Measured.from_result(result))


def train(cfg: TACConfig, ctx: TrainContext) -> results.Record:
    record = ctx.record(cfg.seed)
    result = run(cfg, progress=ctx.progress, fitter=_fitter(ctx))
    fill_record(record, result)
    return record
