r"""Chapter 3: SwitOKD, switchable online knowledge distillation (Qian et al., ECCV 2022).

Online KD trains a teacher and a student together, each distilling from the other (DML). When
the teacher is much larger, the two drift apart and the student's distillation term stops
helping. SwitOKD watches, per mini-batch, the distillation gap
:math:`G = \lVert p_s^\tau - p_t^\tau\rVert_1` against an adaptive threshold
:math:`\delta = s - e^{-t/(s+t)}\,t` built from the student and teacher errors
:math:`s = \lVert p_s - y\rVert_1`, :math:`t = \lVert p_t - y\rVert_1`; when :math:`G > \delta`
(and :math:`t < s`) it pauses the teacher (**expert mode**: only the student learns),
otherwise both learn mutually (**learning mode**).

- :mod:`~reprobook.switokd.switch`: G, s, t, ε, δ, the switching rule, the KL term.
- :mod:`~reprobook.switokd.okd`: one training step of SwitOKD, DML, vanilla or offline KD.
- :mod:`~reprobook.switokd.multinet`: the 1T2S and 2T1S topologies (three networks).
- :mod:`~reprobook.switokd.models`, :mod:`~reprobook.switokd.architectures`: book MLPs, official networks.
- :mod:`~reprobook.switokd.data`, :mod:`~reprobook.switokd.config`, :mod:`~reprobook.switokd.experiment`,
  :mod:`~reprobook.switokd.figures`, :mod:`~reprobook.switokd.claims`.
- :mod:`~reprobook.switokd.shipped`: the evidence grid (``reprobook evidence switokd``) and its record read back.
- :mod:`~reprobook.switokd.trainer`: ``reprobook train switokd`` (paper scale, one or many processes).
"""

from reprobook.switokd.config import PRESETS, SMOKE, SwitOKDConfig, from_params
from reprobook.switokd.experiment import PairRun, SwitOKDResult, run, run_multinet
from reprobook.switokd.switch import SwitchRule, SwitchStats, decide, epsilon, switch_stats, threshold
from reprobook.switokd import claims, figures, shipped  # noqa: E402

__all__ = ["PRESETS", "SMOKE", "PairRun", "SwitOKDConfig", "SwitOKDResult", "SwitchRule", "SwitchStats", "claims",
           "decide", "epsilon", "figures", "from_params", "run", "run_multinet", "shipped", "switch_stats",
           "threshold"]
