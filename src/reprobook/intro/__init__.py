r"""Chapter 0: the toolkit, shown on the smallest possible experiment.

Two classifiers of scikit-learn's 8×8 digits are trained with the shared engine: a linear
(softmax regression) model :math:`p(y\mid x) = \mathrm{softmax}(Wx + b)` and a one-hidden-layer
MLP :math:`p(y\mid x) = \mathrm{softmax}(W_2\,\mathrm{ReLU}(W_1 x + b_1) + b_2)`, both by minimising
the cross-entropy :math:`-\log p(y\mid x)` with SGD. The chapter exists to show how every paper
chapter is built: a parameters cell, a run through :func:`reprobook.engine.loop.fit` with
checkpoints, a figure, a widget with its static copy, and a results record with computed verdicts.
"""

from reprobook.intro.config import PRESETS, IntroConfig, from_params
from reprobook.intro.experiment import MODELS, IntroResult, noisy_accuracy, run
from reprobook.intro.model import Classifier
from reprobook.intro import claims, figures  # noqa: E402

__all__ = ["MODELS", "PRESETS", "Classifier", "IntroConfig", "IntroResult", "from_params", "noisy_accuracy", "run"]
