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
chapter's claims, plus the abstract's "> 6 points" figure as a claim of its own.
"""

from __future__ import annotations

from reprobook.engine import results
from reprobook.engine.loop import History, fit
from reprobook.engine.training import TrainContext
from reprobook.tac import claims
from reprobook.tac.config import TACConfig
from reprobook.tac.experiment import MAIN_VARIANTS, TACResult, run

ABSTRACT = "(abstract, arXiv:1907.05271)"
# XNOR-Net's ImageNet AlexNet top-1 as its paper reports (Rastegari et al., ECCV 2016); the baseline
# TAC's abstract compares with is not named, this is the most likely one (chapter notes).
XNOR_ALEXNET_TOP1 = 0.442
FP_ALEXNET_TOP1 = 0.566


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
    """Metrics (top-1, compression, speed-up, size of every variant) and computed claim verdicts."""
    cfg = result.config
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
    record.claim("fc-binarization-poor-trade", "Binarizing FC layers buys little speed-up but costs accuracy",
                 "“the acceleration and compression effects of binarizing fully connected layers are not "
                 f"sufficient to compensate for the accuracy loss caused by it” {ABSTRACT}",
                 claims.claim_fc_binarization(result))
    record.claim("tac-beats-xnor-all", "TAC is more accurate than XNOR-all at comparable compression and speed-up",
                 f"“significantly improves the accuracy of 1-bit DNNs” {ABSTRACT}",
                 claims.claim_tac_beats_xnor(result))
    gain = [t - x for t, x in zip(result.acc("tac"), result.acc("xnor_all"))]
    record.claim("tac-gain-6-points", "TAC's top-1 exceeds the 1-bit baseline's (XNOR-all) by more than 6 points",
                 f"“outperforms the state-of-the-art by more than 6 percentage points” {ABSTRACT}; baseline, "
                 "network and dataset not stated",
                 results.at_least(gain, 0.06, name="TAC − XNOR-all top-1 (points)", scale=100, digits=1))
    if cfg.arch == "alexnet" and cfg.dataset == "imagenet":
        record.claim("xnor-baseline-as-published", "The XNOR-all AlexNet baseline reaches XNOR-Net's ImageNet top-1",
                     "44.2% top-1 for XNOR-Net's AlexNet (Rastegari et al., ECCV 2016; 44.87% with the public PyTorch "
                     "code); holds within 1 point",
                     results.at_least(result.acc("xnor_all"), XNOR_ALEXNET_TOP1 - 0.01, name="XNOR-all top-1 (%)",
                                      scale=100, digits=1))
        record.claim("fp-baseline-as-published", "The full-precision AlexNet reaches its published ImageNet top-1",
                     "56.6% top-1 for full-precision AlexNet (Rastegari et al., ECCV 2016); holds within 1 point",
                     results.at_least(result.acc("fp"), FP_ALEXNET_TOP1 - 0.01, name="FP top-1 (%)",
                                      scale=100, digits=1))


def train(cfg: TACConfig, ctx: TrainContext) -> results.Record:
    record = ctx.record(cfg.seed)
    result = run(cfg, progress=ctx.progress, fitter=_fitter(ctx))
    fill_record(record, result)
    return record
