"""Chapter 2's claims and the rules that decide them (Chapter 2, §Claims checked).

Every verdict is computed from the run's numbers by :func:`reprobook.engine.results.compare`;
a claim with two conditions combines two such verdicts with :func:`both`.
"""

from __future__ import annotations

from reprobook.engine.results import Verdict, compare, fmt
from reprobook.m2net.experiment import M2NetResult

PAPER = {
    "diverse-paths": ("\"more diverse policies / inference paths improve the accuracy\"; the diversity is "
                      "\"achieved by our proposed reward function\" (Qian et al., TIP 2021, abstract; result "
                      "tables not reachable)"),
    "location-lookalike": ("Fig. 1 / abstract: landmarks that look alike in different places are told apart by "
                           "\"geographic information in combination with visual information\" (Qian et al., TIP 2021)"),
    "comparable-complexity": ("abstract: \"improved recognition accuracy with comparable complexity\" on "
                              "Landmark-420 and Landmark-732 (Qian et al., TIP 2021; numbers not reachable)"),
}


def both(a: Verdict, b: Verdict) -> Verdict:
    """Holds if both hold; does not hold if either does not hold; else inconclusive."""
    if a.verdict == b.verdict == "holds":
        v = "holds"
    elif "does not hold" in (a.verdict, b.verdict):
        v = "does not hold"
    else:
        v = "inconclusive"
    return Verdict(v, f"{a.measured}; {b.measured}",
                   f"both must hold: ({a.rule}) and ({b.rule}); does not hold if either does not hold")


def ratio_at_most(a: list[float], b: list[float], bound: float, *, names=("A", "B"), digits: int = 3) -> Verdict:
    """"mean(a)/mean(b) ≤ bound": holds if the ratio is at most ``bound``, does not hold if above
    ``1.5·bound − 0.5`` (half as far again), inconclusive in between."""
    r = (sum(a) / len(a)) / (sum(b) / len(b))
    hi = 1.5 * bound - 0.5
    v = "holds" if r <= bound else "does not hold" if r > hi else "inconclusive"
    return Verdict(v, f"{names[0]} {fmt(a, digits=digits)} vs {names[1]} {fmt(b, digits=digits)} (ratio {r:.2f})",
                   f"holds if {names[0]}/{names[1]} ≤ {bound:g}; does not hold if > {hi:g}; else inconclusive")


def _missing(res: M2NetResult, *names: str) -> Verdict | None:
    lost = [n for n in names if n not in res.runs]
    if not lost:
        return None
    return Verdict("inconclusive", f"not run in this configuration: {', '.join(lost)}",
                   f"needs the runs {', '.join(names)}")


def diverse_paths(res: M2NetResult) -> Verdict:
    """Claim 1: with the diversity term the greedy test paths are more diverse *and* more accurate
    than without it (the ablation "diversity term off")."""
    if (v := _missing(res, "m2net", "no_diversity")) is not None:
        return v
    d = compare(res.values("m2net", "hamming"), res.values("no_diversity", "hamming"),
                names=("M²Net Hamming", "diversity-off Hamming"), digits=3, min_effect=0.01)
    a = compare(res.values("m2net", "acc"), res.values("no_diversity", "acc"),
                names=("M²Net acc.", "diversity-off acc."), scale=100, digits=1, min_effect=0.01)
    return both(d, a)


def location_lookalike(res: M2NetResult) -> Verdict:
    """Claim 2: look-alike accuracy with the location branch beats the same method without it."""
    if (v := _missing(res, "m2net", "no_location")) is not None:
        return v
    return compare(res.values("m2net", "acc_lookalike"), res.values("no_location", "acc_lookalike"),
                   names=("M²Net", "location off"), scale=100, digits=1, min_effect=0.02)


def comparable_complexity(res: M2NetResult, *, bound: float = 1.25) -> Verdict:
    """Claim 3: M²Net is more accurate than BlockDrop at comparable cost (FLOPs ratio ≤ ``bound``)."""
    if (v := _missing(res, "m2net", "blockdrop")) is not None:
        return v
    a = compare(res.values("m2net", "acc"), res.values("blockdrop", "acc"), names=("M²Net acc.", "BlockDrop acc."),
                scale=100, digits=1, min_effect=0.01)
    c = ratio_at_most(res.values("m2net", "mflops"), res.values("blockdrop", "mflops"), bound,
                      names=("M²Net MFLOPs", "BlockDrop MFLOPs"))
    return both(a, c)
