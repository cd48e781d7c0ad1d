r"""Chapters 4 and 5: data-free quantization as a game (AdaSG) and with adaptive margins (AdaDFQ).

A full-precision network P is quantized to Q (W\ *k*\ A\ *k*) without touching its training
data: a conditional generator G(z|y) synthesises the calibration samples. Both papers (Qian,
Wang, Hong, Wang; AdaSG at AAAI 2023, AdaDFQ at CVPR 2023) build on GDFQ and play with the
*sample adaptability* :math:`1 - H'_{info}(\mathrm{softmax}(z_p - z_q))`: G raises it (samples Q
still gets wrong), Q lowers it (it learns them), and a band :math:`[\lambda_l, \lambda_u]` on
:math:`H'` keeps the samples neither too easy nor too hard.

Shared core: :mod:`~reprobook.dfq.quant` (fake-quantizer), :mod:`~reprobook.dfq.generator`,
:mod:`~reprobook.dfq.models` (P in the pytorchcv layout), :mod:`~reprobook.dfq.adaptability`,
:mod:`~reprobook.dfq.losses` (BNS and Q losses), :mod:`~reprobook.dfq.methods`,
:mod:`~reprobook.dfq.train` (the loop). Per paper: :mod:`~reprobook.dfq.adasg`,
:mod:`~reprobook.dfq.adadfq`. Experiments: :mod:`~reprobook.dfq.experiment`; figures:
:mod:`~reprobook.dfq.figures`; presets: :mod:`~reprobook.dfq.config`.
"""

from reprobook.dfq.config import ADADFQ_PRESETS, ADASG_PRESETS, DFQConfig, adadfq_from_params, adasg_from_params
from reprobook.dfq.methods import GDFQ, Method

__all__ = ["ADADFQ_PRESETS", "ADASG_PRESETS", "DFQConfig", "GDFQ", "Method", "adadfq_from_params",
           "adasg_from_params"]
