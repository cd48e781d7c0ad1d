"""``reprobook train m2net``: the chapter's experiment outside the notebook, resumable and multi-process.

Per seed: pre-train the recognition network (cross-entropy, phase ``rnet-seed<s>``), then for every
variant in ``cfg.variants`` (the paper preset: M²Net and BlockDrop) phase 1 — the policy alone,
REINFORCE with the greedy self-critical baseline, the recognition network frozen; BlockDrop with
its curriculum — and phase 2, the joint fine-tuning (phases ``<variant>-seed<s>-p1``/``-p2``).
Greedy test paths are evaluated for accuracy, FLOPs and path statistics.

Under ``torchrun`` the policy and the recognition network are data-parallel with global batch norm,
and the reward's batch quantities (diversity against the batch, the baseline's too), the sampled
paths, the pre-training block drop and the unique-path count are taken over the global batch
(:mod:`reprobook.m2net.experiment`); phase 2's summed REINFORCE term is scaled so that DDP's average
is the global sum. Evaluation runs on every rank over the whole test set (same numbers everywhere).
"""

from __future__ import annotations

from reprobook.engine import results
from reprobook.engine.training import TrainContext
from reprobook.m2net import claims as C
from reprobook.m2net.config import M2NetConfig
from reprobook.m2net.experiment import M2NetResult, flat_metrics, run, vision_ceiling


def fill_record(record: results.Record, result: M2NetResult) -> None:
    """Accuracy, FLOPs and path statistics of the full network and every variant; the baselines and claims."""
    record.metrics = flat_metrics(result)
    C.record_claims(record, record.metrics, num_classes=result.config.num_classes,
                    vision_ceiling=vision_ceiling(result.test))


def train(cfg: M2NetConfig, ctx: TrainContext) -> results.Record:
    record = ctx.record(cfg.seed)
    result = run(cfg, progress=ctx.progress, fitter=ctx.fit)
    fill_record(record, result)
    return record
