r"""Chapter 2: M²Net, geo-aware inference-path selection for landmark recognition.

Qian, Wang, Hong, Wang, Shao, *Diversifying Inference Path Selection: Moving-Mobile-Network for
Landmark Recognition*, IEEE TIP 30 (2021), arXiv:1912.00418.

A policy network looks at the image **and its geo-location** and chooses, per image, which
residual blocks of a ResNet to run (the *inference path* :math:`u \in \{0,1\}^K`); the ResNet
then classifies through that path. The policy is trained with REINFORCE on a reward that pays
for correct predictions through short paths (:math:`R_\mathrm{sp}`) that differ from the other
paths of the batch (:math:`R_\mathrm{div}`), first with the ResNet frozen, then jointly with it.
BlockDrop (Wu et al., CVPR 2018) is the image-only, sparsity-only special case.

- :mod:`~reprobook.m2net.model`: recognition network (flat ResNet with droppable blocks), policy
  network (image branch + location branch, fused), FLOP counting.
- :mod:`~reprobook.m2net.method`: bounded Bernoulli sampling, greedy baseline, rewards, losses,
  path statistics.
- :mod:`~reprobook.m2net.data`: the generated geo-tagged landmark set and the Landmark-732 lists.
- :mod:`~reprobook.m2net.experiment`: pre-training, phase 1, phase 2, evaluation, location test.
- :mod:`~reprobook.m2net.claims`, :mod:`~reprobook.m2net.figures`: verdict rules (paired over seeds) and figures.
"""

from reprobook.m2net.config import PRESETS, SMOKE, M2NetConfig, from_params
from reprobook.m2net.experiment import M2NetResult, run
from reprobook.m2net import claims, figures  # noqa: E402

__all__ = ["PRESETS", "SMOKE", "M2NetConfig", "M2NetResult", "claims", "figures", "from_params", "run"]
