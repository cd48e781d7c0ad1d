"""Verdict rules of Chapter 3's claims that the engine's :func:`~reprobook.engine.results.compare` lacks:
an equivalence test ("on a par") and the conjunction of several comparisons."""

from __future__ import annotations

import math
from collections.abc import Sequence

from reprobook.engine.results import Verdict, fmt, mean_se


def on_par(a: Sequence[float], b: Sequence[float], *, tol: float, names: tuple[str, str] = ("A", "B"),
           n_se: float = 2.0, digits: int = 2, scale: float = 1.0) -> Verdict:
    """Verdict for "mean(a) is on a par with mean(b)", i.e. within ``tol``.

    Rule: with d = mean(a) − mean(b) and se its Welch standard error, *holds* if
    |d| + n_se·se < tol, *does not hold* if |d| − n_se·se > tol, else *inconclusive*.
    """
    (ma, sa), (mb, sb) = mean_se(a), mean_se(b)
    d, se = ma - mb, math.sqrt(sa ** 2 + sb ** 2)
    verdict = "holds" if abs(d) + n_se * se < tol else "does not hold" if abs(d) - n_se * se > tol else "inconclusive"
    measured = (f"{names[0]} {fmt(a, digits=digits, scale=scale)} vs {names[1]} {fmt(b, digits=digits, scale=scale)}"
                f" (difference {d * scale:+.{digits}f})")
    rule = (f"holds if |{names[0]} − {names[1]}| + {n_se:g}·SE < {tol * scale:g}; does not hold if "
            f"|difference| − {n_se:g}·SE > {tol * scale:g}; else inconclusive")
    return Verdict(verdict, measured, rule)


def all_of(verdicts: Sequence[Verdict]) -> Verdict:
    """Conjunction: *holds* if every part holds, *does not hold* if any part does not, else *inconclusive*."""
    vs = [v.verdict for v in verdicts]
    verdict = "holds" if all(v == "holds" for v in vs) else "does not hold" if "does not hold" in vs else "inconclusive"
    measured = "; ".join(f"{v.measured} [{v.verdict}]" for v in verdicts)
    rule = "every part must hold (each: " + verdicts[0].rule + ")"
    return Verdict(verdict, measured, rule)


def not_run(what: str) -> Verdict:
    """Verdict of a claim whose runs this preset skips (e.g. ablations off): *inconclusive*."""
    return Verdict("inconclusive", f"not measured: {what} not run with this preset",
                   "a claim without measurements is inconclusive")
