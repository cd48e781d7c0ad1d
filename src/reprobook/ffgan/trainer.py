"""``reprobook train ffgan``: Chapter 6's pipeline outside the notebook, at any preset, on N processes.

Phases, each one resumable checkpoint under ``OUT/checkpoints/`` (the same phase functions as the
notebook's ``retrain=True`` and ``reprobook evidence ffgan``, see :func:`~.experiment.train_all`):

1. ``damsm``: the DAMSM text/image encoders on the word and sentence matching losses, then frozen;
2. book data only: ``damsm-eval`` (an independent encoder pair for R-precision) and ``clf`` (the
   attribute classifier);
3. ``gan-<variant>`` for every variant: every :math:`D_i`, then :math:`G` through the updated
   :math:`D_i`, then the EMA copy :math:`\\bar G`.

Then the evaluation of the EMA generators, judged by the rules of :mod:`.claims` over caption folds of
this run's one generator per variant. Book data: attribute accuracy, R-precision with the independent
encoder, attention entropy and localization, Fréchet distance, and the notebook's claims (the gates and
the attention claims; comparisons between variants need the seed-level evidence, ``reprobook evidence
ffgan``, and are recorded as not tested). CUB
(``paper``): R-precision as the official code computes it (DAMSM codes, 1 + 99 captions,
``n_folds`` folds), compared with the published CUB R-precision of FF-GAN's code ancestors; FF-GAN's
own table could not be obtained, and FID/IS are not computed.

Under ``torchrun`` every rank computes the same numbers (see :mod:`.experiment` for how each network
is kept in step); :func:`check_synchronised` verifies that the trained networks are identical on all
ranks after each phase. Only rank 0 writes.
"""

from __future__ import annotations

import torch

from reprobook.engine import distributed, results
from reprobook.engine.training import TrainContext
from reprobook.ffgan.claims import record_cub_claims
from reprobook.ffgan.config import FFGANConfig
from reprobook.ffgan.evaluate import evaluate, evaluate_cub, record_results
from reprobook.ffgan.experiment import _device, test_set, train_all

def check_synchronised(module: torch.nn.Module, what: str) -> None:
    """Raise if ``module``'s parameters differ between ranks (a checksum per tensor; no-op for one process)."""
    ctx = distributed.current()
    if not ctx.enabled:
        return
    x = torch.stack([p.detach().double().sum().cpu() for p in module.parameters()])
    lo, hi = distributed.all_reduce(x, "min"), distributed.all_reduce(x, "max")
    if not torch.allclose(lo, hi, rtol=1e-6, atol=1e-8):
        raise RuntimeError(f"{what} differs between ranks after training (max gap {float((hi - lo).abs().max()):.3g})")


def train(cfg: FFGANConfig, ctx: TrainContext) -> results.Record:
    record = ctx.record(cfg.seed)
    models = train_all(cfg, data_root=ctx.data_root, fit=ctx.fit)
    for name, m in (("DAMSM text encoder", models.text_enc), ("DAMSM image encoder", models.img_enc),
                    *((f"EMA generator [{v}]", g) for v, g in models.generators.items())):
        check_synchronised(m, name)
    test = test_set(cfg, ctx.data_root)
    if cfg.dataset == "ffgan_shapes":  # evaluated redundantly on every rank (CPU, deterministic)
        return record_results(record, evaluate(models, cfg, test, seed=cfg.seed), cfg)
    folds = {v: evaluate_cub(G, models.eval_text, models.eval_img, test, cfg, seed=cfg.seed, device=_device(cfg))
             ["r_precision"] for v, G in models.generators.items()}
    record.metrics = {"r_precision": {v: results.fmt(f, scale=100) for v, f in folds.items()},
                      "folds": folds, "fid": "not computed (needs Inception weights)"}
    return record_cub_claims(record, folds, r_candidates=cfg.r_candidates)
