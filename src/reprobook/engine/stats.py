"""Verdict rules a statistician would sign: paired intervals over seeds, margins, equivalence, parts.

Every claim of the book is judged by one of these rules (the project's evidence standard, §2):

* the **estimate** is the mean of the per-seed (or per-sample) differences ``d_i = a_i − b_i``,
  oriented so that the claim predicts a value *above* the margin ``m``;
* its 95 % **interval** comes from Student's t with ``n − 1`` degrees of freedom (paired);
  Welch–Satterthwaite degrees of freedom when the arms cannot be paired; a BCa bootstrap of the
  mean where asked for (differences far from normal);
* the claim **holds** when the whole interval lies above ``m``, **does not hold** when the whole
  interval lies below ``m`` (``m = 0``: the opposite is shown), and is **inconclusive** otherwise;
  the record then gives the smallest effect this ``n`` could have detected, the interval's
  half-width;
* an **on-par** claim ``|A − B| < m`` holds when the interval lies inside ``(−m, m)`` and does
  not hold when it lies wholly outside ``[−m, m]``;
* a claim of several **parts** holds when every part holds and does not hold when any part does
  not hold.

A single run (``n = 1``) has no interval: its verdict is *inconclusive*, never *holds*.

The rules return a :class:`Verdict`, which :meth:`reprobook.engine.results.Record.claim` turns into
a claim of the results record. Numbers in a verdict are in display units (``scale`` applied).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as _st

# "not tested": the claim could not be judged here (its precondition failed, an arm was not run): no measurement,
# so neither holds nor inconclusive (evidence standard §1, "a regime where the effect can appear")
VERDICTS = ("holds", "does not hold", "inconclusive", "not tested")
CONFIDENCE = 0.95
DIRECTIONS = ("greater", "less")


@dataclass(frozen=True)
class Verdict:
    """A computed verdict with what it rests on.

    ``estimate`` and ``ci`` are oriented so that the claim predicts a value above ``margin``;
    ``detectable`` is the half-width of the interval (the smallest effect this ``n`` could show);
    ``arms`` holds each arm's mean (display units) and ``higher_is_better`` says which way is
    better for those means (used to flag comparisons that a reference baseline beats).
    """

    verdict: str
    measured: str
    rule: str
    n: int | None = None
    estimate: float | None = None
    ci: tuple[float, float] | None = None
    test: str | None = None
    margin: float | None = None
    detectable: float | None = None
    unit: str = ""
    parts: tuple[Verdict, ...] = ()
    arms: dict[str, float] = field(default_factory=dict)
    higher_is_better: bool = True

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}; got {self.verdict!r}")

    def to_dict(self) -> dict[str, Any]:
        """The fields a results record keeps for this verdict (``parts`` recursively)."""
        d = {"n": self.n, "estimate": _num(self.estimate), "ci": None if self.ci is None else [_num(x) for x in self.ci],
             "test": self.test, "margin": _num(self.margin), "detectable": _num(self.detectable), "unit": self.unit}
        if self.parts:
            d["parts"] = [{"measured": p.measured, "rule": p.rule, "verdict": p.verdict, **p.to_dict()}
                          for p in self.parts]
        return d

    def summary(self) -> str:
        """``+2.31 [0.52, 4.10] points (n = 8, paired t)``: the estimate line of the claims table."""
        if self.parts:
            return "; ".join(f"{p.summary()} → {p.verdict}" for p in self.parts)
        if self.estimate is None:
            return ""
        u = f" {self.unit}" if self.unit else ""
        lo, hi = self.ci if self.ci is not None else (math.nan, math.nan)
        return f"{_f(self.estimate)} [{_f(lo)}, {_f(hi)}]{u} (n = {self.n}, {self.test})"


def _num(x: float | None) -> float | str | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else "nan")


def _f(x: float, digits: int = 3) -> str:
    if not math.isfinite(x):
        return "∞" if x > 0 else "−∞" if x < 0 else "n/a"
    return f"{x:+.{digits}g}" if abs(x) < 1e4 else f"{x:+.3e}"


def _values(xs: Sequence[float] | float, what: str) -> np.ndarray:
    v = np.atleast_1d(np.asarray(xs, dtype=float))
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"{what}: need a non-empty list of numbers, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{what}: values must be finite, got {v.tolist()}")
    return v


def _direction(direction: str) -> float:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}; got {direction!r}")
    return 1.0 if direction == "greater" else -1.0


def mean_interval(d: np.ndarray, *, method: str = "t") -> tuple[float, float, float, str]:
    """Mean of ``d`` and its 95 % interval: ``(mean, low, high, test name)``.

    ``method="t"``: Student's t with ``n − 1`` degrees of freedom; ``"bootstrap"``: scipy's BCa
    bootstrap of the mean (9,999 resamples, fixed seed), percentile where BCa is undefined.
    ``n = 1`` gives an infinite interval.
    """
    n = d.size
    m = float(d.mean())
    if n < 2:
        return m, -math.inf, math.inf, "single value, no interval"
    if method == "t":
        sd = float(d.std(ddof=1))
        if sd == 0.0:
            return m, m, m, "t (no spread)"
        h = float(_st.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
        return m, m - h, m + h, "t"
    if method == "bootstrap":
        if float(d.std()) == 0.0:
            return m, m, m, "bootstrap (no spread)"
        for how in ("BCa", "percentile"):
            res = _st.bootstrap((d,), np.mean, confidence_level=CONFIDENCE, n_resamples=9999, method=how,
                                random_state=np.random.default_rng(0))
            lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
            if math.isfinite(lo) and math.isfinite(hi):
                return m, lo, hi, f"bootstrap {how}"
        return m, -math.inf, math.inf, "bootstrap (undefined)"
    raise ValueError(f"method must be 't' or 'bootstrap'; got {method!r}")


def _decide(lo: float, hi: float, margin: float) -> str:
    return "holds" if lo > margin else "does not hold" if hi < margin else "inconclusive"


def _arm(xs: np.ndarray, scale: float, digits: int, unit: str) -> str:
    xs = xs * scale
    u = f" {unit}" if unit else ""
    if xs.size == 1:
        return f"{xs[0]:.{digits}f}{u}"
    return f"{xs.mean():.{digits}f} ± {xs.std(ddof=1):.{digits}f}{u}"


def _rule_text(op: str, margin: float, unit: str, test: str) -> str:
    u = f" {unit}" if unit else ""
    m = f"{margin:g}{u}"
    return (f"95 % interval of {op} ({test}): holds if wholly above {m}, does not hold if wholly below {m}, "
            f"else inconclusive")


def paired(a: Sequence[float], b: Sequence[float], *, margin: float = 0.0, direction: str = "greater",
           names: tuple[str, str] = ("A", "B"), scale: float = 1.0, digits: int = 2, unit: str = "",
           method: str = "t") -> Verdict:
    """"A beats B (by more than ``margin``)": paired over seeds, ``d_i = ±(a_i − b_i)``.

    ``a[i]`` and ``b[i]`` must come from the same seed ``i`` (same initial weights, data order
    and noise). ``direction="less"`` judges "A is below B" (e.g. an error or a distance).
    ``margin`` is in display units (after ``scale``).
    """
    s = _direction(direction)
    a, b = _values(a, names[0]), _values(b, names[1])
    if a.size != b.size:
        raise ValueError(f"paired comparison needs one value per seed in both arms; got {a.size} and {b.size}")
    d = s * (a - b) * scale
    m, lo, hi, how = mean_interval(d, method=method)
    test = f"paired {how}"
    op = f"{names[0]} − {names[1]}" if s > 0 else f"{names[1]} − {names[0]}"
    measured = f"{names[0]} {_arm(a, scale, digits, unit)} vs {names[1]} {_arm(b, scale, digits, unit)}"
    return Verdict(_decide(lo, hi, margin), measured, _rule_text(op, margin, unit, test), n=int(d.size), estimate=m,
                   ci=(lo, hi), test=test, margin=margin, detectable=(hi - lo) / 2, unit=unit,
                   arms={names[0]: float(a.mean() * scale), names[1]: float(b.mean() * scale)},
                   higher_is_better=s > 0)


def unpaired(a: Sequence[float], b: Sequence[float], *, margin: float = 0.0, direction: str = "greater",
             names: tuple[str, str] = ("A", "B"), scale: float = 1.0, digits: int = 2, unit: str = "") -> Verdict:
    """"A beats B" for arms that cannot be paired: Welch's interval (Welch–Satterthwaite df)."""
    s = _direction(direction)
    a, b = _values(a, names[0]) * scale, _values(b, names[1]) * scale
    m = s * float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        lo, hi = -math.inf, math.inf
    else:
        va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
        se = math.sqrt(va + vb)
        if se == 0.0:
            lo = hi = m
        else:
            df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
            h = float(_st.t.ppf(0.5 + CONFIDENCE / 2, df)) * se
            lo, hi = m - h, m + h
    test = "Welch t"
    op = f"{names[0]} − {names[1]}" if s > 0 else f"{names[1]} − {names[0]}"
    measured = (f"{names[0]} {_arm(a, 1.0, digits, unit)} (n = {a.size}) vs "
                f"{names[1]} {_arm(b, 1.0, digits, unit)} (n = {b.size})")
    return Verdict(_decide(lo, hi, margin), measured, _rule_text(op, margin, unit, test), n=int(min(a.size, b.size)),
                   estimate=m, ci=(lo, hi), test=test, margin=margin, detectable=(hi - lo) / 2, unit=unit,
                   arms={names[0]: float(a.mean()), names[1]: float(b.mean())}, higher_is_better=s > 0)


def one_sample(xs: Sequence[float], bound: float, *, direction: str = "greater", name: str = "value",
               scale: float = 1.0, digits: int = 2, unit: str = "", method: str = "t") -> Verdict:
    """"The mean of ``xs`` is above (``direction="less"``: below) ``bound``"; ``bound`` in display units.

    The estimate is the mean (negated for ``"less"``, so the claim still predicts a value above
    the margin, which is then ``−bound``).
    """
    s = _direction(direction)
    x = _values(xs, name) * scale
    m, lo, hi, how = mean_interval(s * x, method=method)
    test = f"one-sample {how}"
    op = name if s > 0 else f"−({name})"
    measured = f"{name} {_arm(x, 1.0, digits, unit)}"
    return Verdict(_decide(lo, hi, s * bound), measured, _rule_text(op, s * bound, unit, test), n=int(x.size),
                   estimate=m, ci=(lo, hi), test=test, margin=s * bound, detectable=(hi - lo) / 2, unit=unit,
                   arms={name: float(x.mean())}, higher_is_better=s > 0)


def on_par(a: Sequence[float], b: Sequence[float], margin: float, *, names: tuple[str, str] = ("A", "B"),
           scale: float = 1.0, digits: int = 2, unit: str = "", pair: bool = True) -> Verdict:
    """"A is on par with B": ``|A − B| < margin`` by an equivalence test on the 95 % interval.

    Holds when the interval of the (paired, else Welch) mean difference lies inside
    ``(−margin, margin)``; does not hold when it lies wholly outside ``[−margin, margin]``.
    """
    if not margin > 0:
        raise ValueError(f"an on-par claim needs a positive margin; got {margin}")
    v = paired(a, b, names=names, scale=scale, digits=digits, unit=unit) if pair else \
        unpaired(a, b, names=names, scale=scale, digits=digits, unit=unit)
    lo, hi = v.ci
    verdict = "holds" if -margin < lo and hi < margin else "does not hold" if lo > margin or hi < -margin \
        else "inconclusive"
    u = f" {unit}" if unit else ""
    rule = (f"equivalence on the 95 % interval of {names[0]} − {names[1]} ({v.test}): holds if inside "
            f"(−{margin:g}, {margin:g}){u}, does not hold if wholly outside, else inconclusive")
    return Verdict(verdict, v.measured, rule, n=v.n, estimate=v.estimate, ci=v.ci, test=f"{v.test}, equivalence",
                   margin=margin, detectable=v.detectable, unit=unit, arms=v.arms)


def proportion(k: int, n: int, bound: float, *, name: str = "fraction", scale: float = 1.0, digits: int = 3,
               unit: str = "") -> Verdict:
    """"The rate of an event exceeds ``bound``" from ``k`` events in ``n`` trials (Clopper–Pearson)."""
    if not (isinstance(k, (int, np.integer)) and isinstance(n, (int, np.integer)) and 0 <= k <= n and n > 0):
        raise ValueError(f"proportion needs integers 0 <= k <= n, n > 0; got k={k}, n={n}")
    ci = _st.binomtest(int(k), int(n)).proportion_ci(confidence_level=CONFIDENCE, method="exact")
    p, lo, hi = k / n * scale, ci.low * scale, ci.high * scale
    test = "Clopper–Pearson"
    return Verdict(_decide(lo, hi, bound), f"{name} {p:.{digits}f} ({k} of {n})",
                   _rule_text(name, bound, unit, test), n=int(n), estimate=p, ci=(lo, hi), test=test, margin=bound,
                   detectable=(hi - lo) / 2, unit=unit, arms={name: p})


def all_of(*parts: Verdict, joiner: str = "; ") -> Verdict:
    """A claim of several parts: holds when every part holds, does not hold when any part does not; otherwise
    not tested when a part was not tested, else inconclusive."""
    if not parts:
        raise ValueError("all_of needs at least one part")
    vs = [p.verdict for p in parts]
    verdict = ("does not hold" if "does not hold" in vs else "holds" if all(v == "holds" for v in vs)
               else "not tested" if "not tested" in vs else "inconclusive")
    ns = [p.n for p in parts if p.n is not None]
    return Verdict(verdict, joiner.join(p.measured for p in parts),
                   "every part holds → holds; any part does not hold → does not hold; a part not tested → not tested; "
                   "else inconclusive",
                   n=min(ns) if ns else None, test="all parts", parts=tuple(parts),
                   arms={k: v for p in parts for k, v in p.arms.items()}, higher_is_better=parts[0].higher_is_better)


def untested(reason: str) -> Verdict:
    """A claim that could not be judged in this run (a variant not run, a precondition not met)."""
    return Verdict("not tested", f"not tested: {reason}", "no measurement, no verdict")


# --- rules that can fail (evidence standard §6) ---------------------------------------------------


def synthetic_arms(effect: float, *, n: int = 8, base: float = 0.5, spread: float = 0.02,
                   seed: int = 0) -> tuple[list[float], list[float]]:
    """Paired per-seed arms ``(a, b)`` for rule tests: ``b`` scatters around ``base`` (seed effects),
    ``a = b + effect + small per-seed noise``; ``effect=0`` gives identical arms (``a == b``)."""
    rng = np.random.default_rng(seed)
    b = base + spread * rng.standard_normal(n)
    a = b.copy() if effect == 0 else b + effect + 0.1 * spread * rng.standard_normal(n)
    return a.tolist(), b.tolist()


@dataclass(frozen=True)
class Falsifiable:
    """A chapter's claim rule with three inputs (keyword arguments of ``rule``): identical arms,
    a clear effect in the claimed direction, and a clear effect the other way, in realistic units
    (accuracies in [0, 1], PSNR in dB …). A threshold no run could cross fails the "effect" case."""

    rule: Callable[..., Verdict]
    identical: Mapping[str, Any]
    effect: Mapping[str, Any]
    opposite: Mapping[str, Any]


EXPECTED = {"identical": ("does not hold", "inconclusive"), "effect": ("holds",), "opposite": ("does not hold",)}


def falsify(f: Falsifiable) -> dict[str, str]:
    """The verdict of each of the three cases."""
    return {case: getattr(f, "rule")(**getattr(f, case)).verdict for case in EXPECTED}


def falsification_problems(rules: Mapping[str, Falsifiable]) -> list[str]:
    """Every case whose verdict is not the expected one, as readable lines (empty: all rules can fail)."""
    bad = []
    for cid, f in rules.items():
        for case, got in falsify(f).items():
            if got not in EXPECTED[case]:
                bad.append(f"{cid}: {case} arms gave {got!r}, expected {' or '.join(map(repr, EXPECTED[case]))}")
    return bad
