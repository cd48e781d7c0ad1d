r"""Chapter 1: TAC — targeted acceleration and compression of 1-bit networks.

Qian & Wang, *A Targeted Acceleration and Compression Framework for Low bit Neural Networks*,
arXiv:1907.05271 (2019). Only the abstract is public and no code was released; everything here
beyond the abstract is a reconstruction, each choice a config parameter.

The thesis: in a 1-bit network (XNOR-Net: binary weights *and* activations), binarizing the fully
connected layers buys little speed-up (they hold most parameters but few MACs) while costing
accuracy. TAC therefore treats the layer types separately: conv layers are binarized
(:mod:`~reprobook.tac.binarize`), FC layers are pruned and quantized to low-bit shared weights
(:mod:`~reprobook.tac.compress`). :mod:`~reprobook.tac.accounting` counts size and theoretical
cost per layer type; :mod:`~reprobook.tac.model` builds every variant from one code path;
:mod:`~reprobook.tac.experiment` runs the chapter.
"""

from reprobook.tac.accounting import Accounting, account
from reprobook.tac.config import PRESETS, SMOKE, TACConfig, from_params
from reprobook.tac.experiment import ARM, Measured, TACResult, build_net, live_compression, run
from reprobook.tac.model import ARCHS, VARIANTS, TACNet
from reprobook.tac import figures  # noqa: E402

__all__ = ["ARCHS", "PRESETS", "SMOKE", "VARIANTS", "Accounting", "TACConfig", "TACNet", "TACResult", "account", "ARM", "Measured",
           "build_net", "from_params", "live_compression", "run"]
