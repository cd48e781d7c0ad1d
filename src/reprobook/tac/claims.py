r"""The chapter's two claims, each turned into a computed verdict (Chapter 1, §Claims checked).

1. *Binarizing FC layers buys little speed-up but costs accuracy.* Measured as the accuracy lost
   per doubling of theoretical speed-up, :math:`(\mathrm{acc}_{FP}-\mathrm{acc}_v)/\log_2 S_v`, for
   binarizing the FC layers only (``fc_binary``) against binarizing the conv layers only
   (``xnor_conv``), per seed; the claim holds if FC binarization is the worse trade by more than
   two standard errors.
2. *TAC beats XNOR-all in accuracy at comparable compression and speed-up.* Holds if TAC's
   accuracy exceeds XNOR-all's by more than two standard errors (over seeds) **and** TAC's
   compression and speed-up are each at least half of XNOR-all's; if they are not comparable
   the verdict is *inconclusive* whatever the accuracies.
"""

from __future__ import annotations

import math

from reprobook.engine.results import Verdict, compare
from reprobook.tac.experiment import TACResult

COMPARABLE = 0.5  # TAC's compression and speed-up must reach this fraction of XNOR-all's


def cost_per_doubling(result: TACResult, variant: str) -> list[float]:
    """Accuracy points lost per doubling of speed-up, one value per seed."""
    s = result.costs[variant].speedup
    return [100 * (a_fp - a) / math.log2(s) for a_fp, a in zip(result.acc("fp"), result.acc(variant))]


def claim_fc_binarization(result: TACResult) -> Verdict:
    fc, conv = cost_per_doubling(result, "fc_binary"), cost_per_doubling(result, "xnor_conv")
    v = compare(fc, conv, names=("FC-only binarization", "conv-only binarization"), digits=2)
    sp = (result.costs["fc_binary"].speedup, result.costs["xnor_conv"].speedup)
    measured = (f"accuracy points lost per doubling of speed-up: {v.measured}; speed-up of binarizing FC only "
                f"{sp[0]:.2f}×, conv only {sp[1]:.2f}×")
    return Verdict(v.verdict, measured, v.rule + " (per-seed values of (acc_FP − acc)/log2 speed-up)")


def claim_tac_beats_xnor(result: TACResult) -> Verdict:
    v = compare(result.acc("tac"), result.acc("xnor_all"), names=("TAC", "XNOR-all"), scale=100, digits=1)
    tac, xnor = result.costs["tac"], result.costs["xnor_all"]
    ratios = (tac.compression / xnor.compression, tac.speedup / xnor.speedup)
    comparable = min(ratios) >= COMPARABLE
    verdict = v.verdict if comparable else "inconclusive"
    measured = (f"accuracy (%) {v.measured}, difference {100 * (_mean(result.acc('tac')) - _mean(result.acc('xnor_all'))):+.1f}"
                f" points; compression {tac.compression:.1f}× vs {xnor.compression:.1f}×, speed-up "
                f"{tac.speedup:.1f}× vs {xnor.speedup:.1f}×")
    rule = (v.rule + f"; only if TAC's compression and speed-up are each ≥ {COMPARABLE:g}× XNOR-all's "
            "(else inconclusive)")
    return Verdict(verdict, measured, rule)


def _mean(xs):
    return sum(xs) / len(xs)
