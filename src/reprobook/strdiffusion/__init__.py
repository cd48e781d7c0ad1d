r"""Chapter 7: StrDiffusion — structure-guided diffusion for image inpainting (Liu et al., CVPR 2024).

StrDiffusion runs two mean-reverting SDEs of IR-SDE side by side: a **texture** process from
the image :math:`I` to the masked image :math:`I\odot m`, and a **structure** process from the
grayscale image :math:`G` to its masked Canny edge map :math:`E\odot m`. The structure is
semantically sparse at large t, so denoising it first and injecting it (SPADE) into the texture
denoiser reduces the discrepancy between the dense known region and the empty hole. In the early
stage of sampling the structure net guides the texture, with adaptive resampling judged by a
time-conditioned discriminator; in the late stage the texture's own grayscale does.

- :mod:`~reprobook.strdiffusion.sde`: the SDE, marginals, posterior mean, reverse steps.
- :mod:`~reprobook.strdiffusion.unet`: the structure net, the SPADE-guided texture net, IR-SDE's net.
- :mod:`~reprobook.strdiffusion.discriminator`: the time-conditioned discriminator.
- :mod:`~reprobook.strdiffusion.losses`: the three training objectives.
- :mod:`~reprobook.strdiffusion.sampler`: IR-SDE / guided / adaptive-resampling inpainting.
- :mod:`~reprobook.strdiffusion.data`, :mod:`~reprobook.strdiffusion.fitting`,
  :mod:`~reprobook.strdiffusion.experiment`, :mod:`~reprobook.strdiffusion.figures`.
"""

from reprobook.strdiffusion.config import PRESETS, SMOKE, StrDiffusionConfig, from_params

__all__ = ["PRESETS", "SMOKE", "StrDiffusionConfig", "from_params"]
