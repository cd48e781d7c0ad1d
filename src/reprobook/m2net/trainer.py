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

import math

from reprobook.engine import results
from reprobook.engine.training import TrainContext
from reprobook.m2net import claims as C
from reprobook.m2net.config import M2NetConfig
from reprobook.m2net.experiment import M2NetResult, run

METRICS = ("acc", "acc_lookalike", "acc_other", "blocks", "blocks_std", "mflops", "unique_paths", "hamming",
           "city_share")


def fill_record(record: results.Record, result: M2NetResult) -> None:
    """Accuracy, FLOPs and path statistics of the full network and every variant; the claims."""
    metrics = {}
    for n in ["full", *result.runs]:
        for k in METRICS:
            rows = result.full if n == "full" else [r.metrics for r in result.runs[n]]
            vals = [m[k] for m in rows if k in m]
            if vals and not all(math.isnan(v) for v in vals):
                metrics[f"{n}_{k}"] = vals
    for n, runs in result.runs.items():
        for setting in runs[0].location:
            for k in ("acc", "acc_lookalike", "path_change"):
                vals = [r.location[setting][k] for r in runs]
                if not all(math.isnan(v) for v in vals):
                    metrics[f"{n}_location_{setting}_{k}"] = vals
    metrics["full_network_mflops"] = (result.flops[0] + sum(result.flops[1])) / 1e6
    record.metrics = metrics
    record.claim("diverse-paths", "More diverse inference paths go with higher accuracy (diversity term on vs off)",
                 C.PAPER["diverse-paths"], C.diverse_paths(result))
    record.claim("location-lookalike", "The location input improves recognition of look-alike landmarks",
                 C.PAPER["location-lookalike"], C.location_lookalike(result))
    record.claim("comparable-complexity",
                 "M²Net is more accurate than BlockDrop at comparable complexity (FLOPs ratio ≤ 1.25)",
                 C.PAPER["comparable-complexity"], C.comparable_complexity(result))


def train(cfg: M2NetConfig, ctx: TrainContext) -> results.Record:
    record = ctx.record(cfg.seed)
    result = run(cfg, progress=ctx.progress, fitter=ctx.fit)
    fill_record(record, result)
    return record
