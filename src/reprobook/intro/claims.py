"""Chapter 0's claims: the toolkit's sanity checks, judged by the engine's paired rules.

Every rule is a pure function of per-seed numbers (paired by seed), listed in :data:`RULES` with
three inputs that show it can fail (identical arms, a clear effect, the opposite effect).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reprobook.engine import stats
from reprobook.engine.results import Record

N_CLASSES = 10


def mlp_beats_linear(mlp: Sequence[float], linear: Sequence[float]) -> stats.Verdict:
    """MLP test accuracy above the linear model's, paired over seeds (points)."""
    return stats.paired(mlp, linear, names=("MLP", "linear"), scale=100, digits=1, unit="points")


def linear_beats_chance(linear: Sequence[float]) -> stats.Verdict:
    """The weaker model is far above chance (1/10): the task is learnt at all."""
    return stats.one_sample(linear, 100 / N_CLASSES, name="linear top-1", scale=100, digits=1, unit="%")


RULES = {
    "mlp-beats-linear": stats.Falsifiable(
        mlp_beats_linear,
        identical=dict(zip(("mlp", "linear"), stats.synthetic_arms(0.0, base=0.93))),
        effect=dict(zip(("mlp", "linear"), stats.synthetic_arms(0.03, base=0.93))),
        opposite=dict(zip(("mlp", "linear"), stats.synthetic_arms(-0.03, base=0.93)))),
    "linear-above-chance": stats.Falsifiable(
        linear_beats_chance, identical={"linear": [0.1] * 8}, effect={"linear": stats.synthetic_arms(0, base=0.9)[0]},
        opposite={"linear": stats.synthetic_arms(0, base=0.05, spread=0.005)[0]}),
}


def record_claims(record: Record, acc: Mapping[str, Sequence[float]]) -> None:
    """Add chapter 0's claims from per-seed test accuracies ``acc[model]``."""
    record.baseline("chance", 100 / N_CLASSES, "uniform guess over the 10 digits")
    record.claim("linear-above-chance", "The linear model learns the task (top-1 above chance)",
                 "— (precondition, no paper)", linear_beats_chance(acc["linear"]), kind="check")
    record.claim("mlp-beats-linear", "A one-hidden-layer MLP classifies digits more accurately than a linear model",
                 "— (sanity check, no paper)", mlp_beats_linear(acc["mlp"], acc["linear"]), kind="check",
                 baselines=("chance",))
