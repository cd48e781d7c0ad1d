r"""Chapter 6: FF-GAN — fine-grained cross-modal fusion based refinement for text-to-image synthesis.

Sun, Wang, Liu, Qian, *Chinese Journal of Electronics* 32(6), 2023 (arXiv:2302.08706). A stacked
text-to-image GAN (DM-GAN/AttnGAN lineage): stage 0 draws a coarse image from the sentence
(conditioning augmentation + noise); every refinement stage fuses the words into the image
features with the **FF-Block** (pixel-to-word attention, then convolutions that give a
per-pixel scale and shift, :math:`h_f = h\odot W(c) + b(c)`) and the sentence with **GSR**
(a sentence-weighted spatial attention per channel), then upsamples. Per-stage discriminators
(BCE, conditional + unconditional), the DAMSM word/sentence matching loss and CA's KL term
train it.

Modules: :mod:`.data` (two-shapes captions, CUB reader), :mod:`.damsm` (encoders and matching
losses), :mod:`.model` (G, D, FF-Block, GSR), :mod:`.losses`, :mod:`.experiment` (training
through the engine), :mod:`.metrics` and :mod:`.evaluate`, :mod:`.claims` (the verdict rules), :mod:`.figures`,
:mod:`.shipped` (the seed-level evidence grid, variant × seed, ``reprobook evidence ffgan``),
:mod:`.trainer` (``reprobook train ffgan``).
"""

from reprobook.ffgan.config import PRESETS, SMOKE, FFGANConfig, from_params
from reprobook.ffgan.experiment import Models, get_models, load_weights, test_set, train_all
from reprobook.ffgan.evaluate import Evaluation, compose, evaluate, evaluate_cub, generate, record_results
from reprobook.ffgan import claims  # noqa: E402
from reprobook.ffgan import figures  # noqa: E402
from reprobook.ffgan import shipped  # noqa: E402

__all__ = ["PRESETS", "SMOKE", "Evaluation", "FFGANConfig", "Models", "claims", "compose", "evaluate", "evaluate_cub", "figures",
           "from_params", "generate", "get_models", "load_weights", "record_results", "shipped", "test_set",
           "train_all"]
