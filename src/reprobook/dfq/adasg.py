r"""AdaSG: data-free quantization as a zero-sum game (Chapter 4).

Qian et al. (AAAI 2023) cast data-free quantization as a game over the sample adaptability
:math:`R(\theta_g, \theta_q) = \mathbb E_{z,y}[1 - H'_{info}(p_{ds})]`:

.. math:: \min_{\theta_q} \max_{\theta_g} R(\theta_g, \theta_q).

The generator (player 1) takes the *max* step, producing samples Q still disagrees with; the
quantized net (player 2) takes the *min* step, calibrating itself on those samples so that
their adaptability drops. The reward of G, :math:`R(\theta_g^*, \theta_q) - R(\theta_g, \theta_q)`,
and the loss of Q, :math:`R(\theta_g^*, \theta_q^*) - R(\theta_g^*, \theta_q)`, sum to zero over a
round. The *Balance Gap* keeps the game stationary; in the official code it is the band
:math:`\lambda_l = 0.3, \lambda_u = 0.8` on :math:`H'` enforced by a hinge, with the balance
loss weights :math:`\alpha_{ds} = \alpha_{as} = 0.1` (hard-coded for every network and bit width).

:func:`balance_gap` reads the game from a trace of the loop: per probe, the mean adaptability
after the max step and after the min step, and their difference.
"""

from __future__ import annotations

import numpy as np

from reprobook.dfq.methods import Method

LAMBDA_L, LAMBDA_U, ALPHA_DS, ALPHA_AS = 0.3, 0.8, 0.1, 0.1


def adasg_method(*, hinge: bool = True) -> Method:
    """AdaSG's losses with the official, hard-coded band and balance weights."""
    return Method("AdaSG", alpha_ds=ALPHA_DS, alpha_as=ALPHA_AS, lambda_l=LAMBDA_L, lambda_u=LAMBDA_U, hinge=hinge)


def balance_gap(trace: dict[str, list]) -> dict[str, np.ndarray]:
    """Per probe: ``step``, ``R_max`` (after G's step), ``R_min`` (after Q's step) and ``gap = |R_max − R_min|``.

    The gap is how far one min step moves the adaptability back from where the max step left it;
    it shrinks under the multistep learning-rate decay (reconstruction: the official code has no such curve).
    """
    step = np.asarray(trace["step"], dtype=float)
    r_max, r_min = np.asarray(trace["R_max"], dtype=float), np.asarray(trace["R_min"], dtype=float)
    return {"step": step, "R_max": r_max, "R_min": r_min, "gap": np.abs(r_max - r_min)}


def per_epoch(values: np.ndarray, steps: np.ndarray, iters_per_epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` per epoch (epochs counted from 1): ``(epochs, means)``."""
    ep = ((np.asarray(steps) - 1) // iters_per_epoch).astype(int) + 1
    uniq = np.unique(ep)
    return uniq, np.array([np.mean(np.asarray(values)[ep == e]) for e in uniq])


def gap_early_late(trace: dict[str, list], *, iters_per_epoch: int, warmup_epochs: int) -> tuple[float, float]:
    """Mean balance gap in the first epoch where Q learns (after warm-up) and in the last epoch."""
    g = balance_gap(trace)
    epochs, gaps = per_epoch(g["gap"], g["step"], iters_per_epoch)
    after = gaps[epochs > warmup_epochs]
    if len(after) == 0:
        raise ValueError("no probe after the warm-up epochs; increase epochs or trace more often")
    return float(after[0]), float(after[-1])
