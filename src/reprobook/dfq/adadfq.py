r"""AdaDFQ: adaptive data-free quantization (Chapter 5).

Qian et al. (CVPR 2023) re-derive AdaSG's game statistically. Samples that P and Q *disagree*
on (H' → 0, largest adaptability) form the lower boundary; samples they *agree* on (H' → 1)
form the upper boundary. Pure disagreement makes a low-bit Q underfit, pure agreement makes a
high-bit Q overfit ("the largest adaptability is not the best"), so G is trained to keep H'
inside a margin :math:`[\lambda_l, \lambda_u]`:

.. math:: L_G = \mathbb E[\mathrm{relu}(\lambda_l - H')] + \mathbb E[\mathrm{relu}(H' - \lambda_u)]
          + \beta(\alpha_{ds}\,\mathrm{CE}(z_p - z_q, y) + \alpha_{as}\,\mathrm{CE}(z_p + z_q, y))
          + \gamma L_{BNS}.

The balance weights :math:`\alpha_{ds}, \alpha_{as}` and the band depend on network and bit
width (:data:`HYPERPARAMETERS`, from the official configs and their comments). Q's step is
AdaSG's.
"""

from __future__ import annotations

from reprobook.dfq.methods import Method
from reprobook.dfq.quant import check_bits

# (model, bits) -> (alpha_ds, alpha_as, lambda_l, lambda_u), from the official hocon files
# (3-bit values) and their comments for 4/5-bit; beta = gamma = 1 everywhere.
HYPERPARAMETERS: dict[tuple[str, int], tuple[float, float, float, float]] = {
    **{(m, b): (0.2, 0.1, 0.1, 0.8) for m in ("resnet20", "digits_resnet") for b in (2, 3, 4, 5)},
    ("resnet18", 3): (0.2, 0.1, 0.1, 0.8),
    ("resnet18", 4): (0.2, 0.1, 0.3, 0.8),
    ("resnet18", 5): (0.3, 0.1, 0.3, 0.8),
    ("mobilenetv2", 3): (0.2, 0.1, 0.1, 0.8),
    ("mobilenetv2", 4): (0.3, 0.1, 0.1, 0.8),
    ("mobilenetv2", 5): (0.2, 0.1, 0.1, 0.8),
    ("resnet50", 3): (0.2, 0.1, 0.4, 0.8),
    ("resnet50", 4): (0.1, 0.1, 0.3, 0.8),
    ("resnet50", 5): (0.2, 0.1, 0.3, 0.8),
}


def hyperparameters(model: str, bits: int) -> tuple[float, float, float, float]:
    """``(alpha_ds, alpha_as, lambda_l, lambda_u)`` for ``model`` at ``bits``; the 3-bit values
    where the official configs say nothing about a bit width."""
    check_bits(bits)
    return HYPERPARAMETERS.get((model, bits), HYPERPARAMETERS.get((model, 3), (0.2, 0.1, 0.1, 0.8)))


def adadfq_method(model: str, bits: int, *, name: str = "AdaDFQ", alpha_ds: float | None = None,
                  alpha_as: float | None = None, lambda_l: float | None = None,
                  lambda_u: float | None = None) -> Method:
    """AdaDFQ's losses for ``model`` at ``bits``; any given value overrides the table."""
    a_ds, a_as, l_l, l_u = hyperparameters(model, bits)
    pick = lambda v, d: d if v is None else v  # noqa: E731
    return Method(name, alpha_ds=pick(alpha_ds, a_ds), alpha_as=pick(alpha_as, a_as),
                  lambda_l=pick(lambda_l, l_l), lambda_u=pick(lambda_u, l_u))


def ablations(model: str, bits: int) -> dict[str, Method]:
    """The paper's two single-loss ablations next to the full method."""
    return {"w/o L_ds": adadfq_method(model, bits, name="w/o L_ds", alpha_ds=0.0),
            "w/o L_as": adadfq_method(model, bits, name="w/o L_as", alpha_as=0.0),
            "AdaDFQ": adadfq_method(model, bits)}
