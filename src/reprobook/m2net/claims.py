"""Chapter 2's claims and the rules that decide them (Chapter 2, §Claims checked).

Every rule is a pure function of per-seed numbers, judged by :mod:`reprobook.engine.stats`. Seed
*k* fixes the pre-trained recognition network that every variant starts from, each variant's
policy initialisation and its batch order, and all variants are evaluated on the same test set, so
the comparisons are **paired by seed**: the unit of evidence is the per-seed difference, with its
Student-t 95 % interval over seeds.

* ``diverse-paths`` (paper): with the diversity term the greedy test paths carry more information about
  the landmark (:func:`~reprobook.m2net.method.path_information`, bits) *and* are more accurate than
  without it — two paired parts, :func:`stats.all_of`. (The mean pairwise Hamming distance cannot
  register the claim: it saturates near 0.5 for every variant, image-only ones included, because
  greedy paths flip with pixel noise.);
* ``location-lookalike`` (paper): look-alike accuracy with the location branch above the same method
  without it, paired;
* ``comparable-complexity`` (paper): M²Net more accurate than BlockDrop (paired) *and* its FLOPs at most
  :data:`FLOPS_BOUND` times BlockDrop's (one-sample interval of the per-seed ratio, below the bound);
* ``rnet-above-chance`` (check): the pre-trained recognition network (all blocks) learns the task;
* ``beyond-vision`` (check): M²Net's look-alike accuracy above the best vision alone can reach (the
  regime in which the location can act at all; one-sample interval above the ceiling);
* ``location-used`` (check): M²Net's look-alike accuracy with the true locations above the same
  networks with the test locations shuffled (paired by seed): the accuracy comes from the location.

:data:`RULES` lists every claim id :func:`record_claims` can record with three inputs that show the
rule can fail (identical arms, a clear effect, the opposite effect).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from reprobook.engine import stats
from reprobook.engine.results import Record

FLOPS_BOUND = 1.25  # "comparable complexity": M²Net's FLOPs at most this multiple of BlockDrop's

PAPER = {
    "diverse-paths": ("\"more diverse policies / inference paths improve the accuracy\"; the diversity is "
                      "\"achieved by our proposed reward function\" (Qian et al., TIP 2021, abstract; result "
                      "tables not reachable)"),
    "location-lookalike": ("Fig. 1 / abstract: landmarks that look alike in different places are told apart by "
                           "\"geographic information in combination with visual information\" (Qian et al., TIP 2021)"),
    "comparable-complexity": ("abstract: \"improved recognition accuracy with comparable complexity\" on "
                              "Landmark-420 and Landmark-732 (Qian et al., TIP 2021; numbers not reachable)"),
    "rnet-above-chance": "— (precondition, no paper)",
    "beyond-vision": "— (precondition, no paper)",
    "location-used": "— (precondition, no paper)",
}

CLAIMS = {
    "diverse-paths": ("More diverse inference paths go with higher accuracy (diversity term on vs off): paths "
                      "that tell more about the landmark, I(path; class), and a higher accuracy"),
    "location-lookalike": "The location input improves recognition of look-alike landmarks",
    "comparable-complexity": (f"M²Net is more accurate than BlockDrop at comparable complexity "
                              f"(FLOPs ratio ≤ {FLOPS_BOUND:g})"),
    "rnet-above-chance": "The pre-trained recognition network (all blocks) learns the task (top-1 above chance)",
    "beyond-vision": "M²Net's look-alike accuracy exceeds the best that vision alone can reach",
    "location-used": "M²Net's look-alike accuracy falls when the test locations are shuffled",
}

KINDS = {"diverse-paths": "paper", "location-lookalike": "paper", "comparable-complexity": "paper",
         "rnet-above-chance": "check", "beyond-vision": "check", "location-used": "check"}


# --- rules: pure functions of per-seed numbers ---------------------------------------------------

def more_accurate(a: Sequence[float], b: Sequence[float], names: tuple[str, str] = ("M²Net", "B")) -> stats.Verdict:
    """Accuracy (in [0, 1]) of ``a`` above ``b``, paired over seeds, in points."""
    return stats.paired(a, b, names=names, scale=100, digits=1, unit="points")


def diverse_paths(info_div: Sequence[float], info_nodiv: Sequence[float], acc_div: Sequence[float],
                  acc_nodiv: Sequence[float]) -> stats.Verdict:
    """Claim 1: diversity term on vs off — greedy test paths that carry more information about the class
    (bits) *and* are more accurate (paired)."""
    d = stats.paired(info_div, info_nodiv, names=("M²Net I(path; class)", "diversity-off I(path; class)"),
                     digits=3, unit="bits")
    a = more_accurate(acc_div, acc_nodiv, names=("M²Net acc.", "diversity-off acc."))
    return stats.all_of(d, a)


def location_lookalike(acc_loc: Sequence[float], acc_noloc: Sequence[float]) -> stats.Verdict:
    """Claim 2: look-alike accuracy with the location branch above the location-off ablation (paired)."""
    return more_accurate(acc_loc, acc_noloc, names=("M²Net look-alike acc.", "location-off look-alike acc."))


def beyond_vision(acc_lookalike: Sequence[float], ceiling: float) -> stats.Verdict:
    """Check: look-alike accuracy (in [0, 1]) above the vision-only ceiling (one-sample interval, points)."""
    return stats.one_sample(acc_lookalike, 100 * ceiling, name="M²Net look-alike acc.", scale=100, digits=1,
                            unit="%")


def location_used(acc_true: Sequence[float], acc_shuffled: Sequence[float]) -> stats.Verdict:
    """Check: look-alike accuracy with the true test locations above that with shuffled ones (paired)."""
    return more_accurate(acc_true, acc_shuffled, names=("true locations", "shuffled locations"))


def flops_ratio(mflops_a: Sequence[float], mflops_b: Sequence[float]) -> list[float]:
    """Per-seed FLOPs ratio ``a_k / b_k`` (same seed, same test set)."""
    a, b = np.asarray(mflops_a, float), np.asarray(mflops_b, float)
    if a.shape != b.shape:
        raise ValueError(f"FLOPs ratio needs one value per seed in both arms; got {a.size} and {b.size}")
    return (a / b).tolist()


def comparable_complexity(acc_m2net: Sequence[float], acc_blockdrop: Sequence[float], mflops_m2net: Sequence[float],
                          mflops_blockdrop: Sequence[float], *, bound: float = FLOPS_BOUND) -> stats.Verdict:
    """Claim 3: M²Net more accurate than BlockDrop (paired) and its per-seed FLOPs ratio to BlockDrop
    below ``bound`` (one-sample interval, direction "less")."""
    a = more_accurate(acc_m2net, acc_blockdrop, names=("M²Net acc.", "BlockDrop acc."))
    c = stats.one_sample(flops_ratio(mflops_m2net, mflops_blockdrop), bound, direction="less",
                         name="M²Net/BlockDrop FLOPs", digits=3)
    return stats.all_of(a, c)


def above_chance(acc: Sequence[float], num_classes: int) -> stats.Verdict:
    """Check: accuracy (in [0, 1]) above chance ``1/num_classes`` (one-sample interval, points)."""
    return stats.one_sample(acc, 100 / num_classes, name="full-network top-1", scale=100, digits=1, unit="%")


def ablation_gap(acc_m2net: Sequence[float], acc_ablation: Sequence[float], label: str) -> stats.Verdict:
    """The ablation table's comparison: M²Net's accuracy above one ablation's, paired over seeds."""
    return more_accurate(acc_m2net, acc_ablation, names=("M²Net", label))


def _arms(effect: float, *, base: float, spread: float = 0.02, seed: int = 0):
    return stats.synthetic_arms(effect, base=base, spread=spread, seed=seed)


def _diverse_case(dh: float, da: float) -> dict:
    h1, h0 = _arms(dh, base=1.0, spread=0.05)
    a1, a0 = _arms(da, base=0.75, seed=1)
    return {"info_div": h1, "info_nodiv": h0, "acc_div": a1, "acc_nodiv": a0}


def _complexity_case(da: float, ratio: float) -> dict:
    a1, a0 = _arms(da, base=0.75)
    bd = np.asarray(_arms(0.0, base=0.5, spread=0.03, seed=2)[1])
    return {"acc_m2net": a1, "acc_blockdrop": a0, "mflops_m2net": (bd * ratio).tolist(),
            "mflops_blockdrop": bd.tolist()}


RULES = {
    "diverse-paths": stats.Falsifiable(
        diverse_paths, identical=_diverse_case(0.0, 0.0), effect=_diverse_case(0.3, 0.05),
        opposite=_diverse_case(-0.3, -0.05)),
    "location-lookalike": stats.Falsifiable(
        location_lookalike, identical=dict(zip(("acc_loc", "acc_noloc"), _arms(0.0, base=0.5))),
        effect=dict(zip(("acc_loc", "acc_noloc"), _arms(0.3, base=0.5))),
        opposite=dict(zip(("acc_loc", "acc_noloc"), _arms(-0.1, base=0.5)))),
    # identical arms: same accuracy, FLOPs ratio exactly the bound (neither part holds)
    "comparable-complexity": stats.Falsifiable(
        comparable_complexity, identical=_complexity_case(0.0, FLOPS_BOUND), effect=_complexity_case(0.05, 1.0),
        opposite=_complexity_case(-0.05, 1.0)),
    "rnet-above-chance": stats.Falsifiable(
        above_chance, identical={"acc": [0.05] * 8, "num_classes": 20},
        effect={"acc": _arms(0.0, base=0.75)[0], "num_classes": 20},
        opposite={"acc": _arms(0.0, base=0.02, spread=0.005)[0], "num_classes": 20}),
    "beyond-vision": stats.Falsifiable(
        beyond_vision, identical={"acc_lookalike": [0.5] * 8, "ceiling": 0.5},
        effect={"acc_lookalike": _arms(0.0, base=0.75)[0], "ceiling": 0.5},
        opposite={"acc_lookalike": _arms(0.0, base=0.35)[0], "ceiling": 0.5}),
    "location-used": stats.Falsifiable(
        location_used, identical=dict(zip(("acc_true", "acc_shuffled"), _arms(0.0, base=0.6))),
        effect=dict(zip(("acc_true", "acc_shuffled"), _arms(0.3, base=0.4))),
        opposite=dict(zip(("acc_true", "acc_shuffled"), _arms(-0.1, base=0.5)))),
    # not recorded: the ablation table's rows (one per ablation variant)
    "ablation-gap": stats.Falsifiable(
        lambda a, b: ablation_gap(a, b, "ablation"), identical=dict(zip("ab", _arms(0.0, base=0.75))),
        effect=dict(zip("ab", _arms(0.05, base=0.75))), opposite=dict(zip("ab", _arms(-0.05, base=0.75)))),
}


# --- the record ----------------------------------------------------------------------------------

def _get(metrics: Mapping[str, Sequence[float]], *keys: str) -> list[list[float]] | None:
    """Per-seed values of ``keys``; ``None`` if any is missing or not finite (not run, not annotated)."""
    out = []
    for k in keys:
        v = metrics.get(k)
        if v is None or not all(math.isfinite(float(x)) for x in v) or len(v) == 0:
            return None
        out.append([float(x) for x in v])
    return out


def _untested(metrics: Mapping[str, Sequence[float]], *keys: str) -> stats.Verdict:
    lost = [k for k in keys if _get(metrics, k) is None]
    return stats.untested(f"no per-seed values for {', '.join(lost)} in this configuration")


def _mean(xs: Sequence[float]) -> float:
    return float(np.mean(xs))


def record_claims(record: Record, metrics: Mapping[str, Sequence[float]], *, num_classes: int,
                  vision_ceiling: float | None = None) -> None:
    """Declare the baselines and add the chapter's claims from per-seed metrics ``metrics["<run>_<metric>"]``
    (runs: ``full`` and the variants; metrics ``acc``, ``acc_lookalike``, ``hamming``, ``mflops`` …).

    ``vision_ceiling`` is the best look-alike accuracy vision alone can reach (the generated set:
    one over the number of look-alike cities per kind); ``None`` where unknown.
    """
    record.baseline("chance", 100 / num_classes, f"uniform guess over the {num_classes} classes (%)")
    acc_base, look_base = ["chance"], ["chance"]
    if (full := _get(metrics, "full_acc")) is not None:
        record.baseline("full network", 100 * _mean(full[0]),
                        "pre-trained recognition network, all blocks, no location: accuracy ceiling at full cost (%)")
    if (full_look := _get(metrics, "full_acc_lookalike")) is not None:
        record.baseline("full network, look-alikes", 100 * _mean(full_look[0]),
                        "pre-trained recognition network, all blocks, no location, on the look-alike classes (%)")
        look_base.append("full network, look-alikes")
    if (vis := _get(metrics, "vision_acc", "vision_acc_lookalike")) is not None:
        record.baseline("vision only", 100 * _mean(vis[0]),
                        "the pre-trained network trained on as long as M²Net's, all blocks, no location (%)")
        record.baseline("vision only, look-alikes", 100 * _mean(vis[1]),
                        "the same vision-only classifier on the look-alike classes (%)")
        look_base.append("vision only, look-alikes")
    if (fus := _get(metrics, "fusion_acc", "fusion_acc_lookalike")) is not None:
        city = _get(metrics, "fusion_city_acc")
        named = f" (right for {100 * _mean(city[0]):.1f} % of the test photos)" if city else ""
        record.baseline("late fusion", 100 * _mean(fus[0]),
                        "the vision-only classifier's choice among the classes of the city a location-only "
                        f"classifier names{named}: location used by the classifier itself, all blocks (%)")
        record.baseline("late fusion, look-alikes", 100 * _mean(fus[1]),
                        "the late-fusion classifier on the look-alike classes (%)")
    if vision_ceiling is not None:
        record.baseline("vision ceiling, look-alikes", 100 * vision_ceiling,
                        "best look-alike accuracy from pixels alone, by the data's design (%)")
        look_base.append("vision ceiling, look-alikes")
        record.baseline("vision + location ceiling", 100.0,
                        "kind from the pixels and city from the location identify every class, by the data's "
                        "design (%)")

    keys = ("full_acc",)
    v = above_chance(_get(metrics, *keys)[0], num_classes) if _get(metrics, *keys) else _untested(metrics, *keys)
    record.claim("rnet-above-chance", CLAIMS["rnet-above-chance"], PAPER["rnet-above-chance"], v,
                 kind=KINDS["rnet-above-chance"])

    if vision_ceiling is not None:
        keys = ("m2net_acc_lookalike",)
        vals = _get(metrics, *keys)
        record.claim("beyond-vision", CLAIMS["beyond-vision"], PAPER["beyond-vision"],
                     beyond_vision(vals[0], vision_ceiling) if vals else _untested(metrics, *keys),
                     kind=KINDS["beyond-vision"])
    keys = ("m2net_location_true_acc_lookalike", "m2net_location_shuffled_acc_lookalike")
    vals = _get(metrics, *keys)
    if vals or vision_ceiling is not None:
        record.claim("location-used", CLAIMS["location-used"], PAPER["location-used"],
                     location_used(*vals) if vals else _untested(metrics, *keys), kind=KINDS["location-used"])

    keys = ("m2net_info_class", "no_diversity_info_class", "m2net_acc", "no_diversity_acc")
    vals = _get(metrics, *keys)
    record.claim("diverse-paths", CLAIMS["diverse-paths"], PAPER["diverse-paths"],
                 diverse_paths(*vals) if vals else _untested(metrics, *keys), kind=KINDS["diverse-paths"],
                 baselines=acc_base if vals else ())

    keys = ("m2net_acc_lookalike", "no_location_acc_lookalike")
    vals = _get(metrics, *keys)
    record.claim("location-lookalike", CLAIMS["location-lookalike"], PAPER["location-lookalike"],
                 location_lookalike(*vals) if vals else _untested(metrics, *keys), kind=KINDS["location-lookalike"],
                 baselines=look_base if vals else ())

    keys = ("m2net_acc", "blockdrop_acc", "m2net_mflops", "blockdrop_mflops")
    vals = _get(metrics, *keys)
    record.claim("comparable-complexity", CLAIMS["comparable-complexity"], PAPER["comparable-complexity"],
                 comparable_complexity(*vals) if vals else _untested(metrics, *keys),
                 kind=KINDS["comparable-complexity"], baselines=acc_base if vals else ())


def ablation_markdown(metrics: Mapping[str, Sequence[float]], labels: Mapping[str, str]) -> str:
    """Each ablation against M²Net, paired over seeds: accuracy and look-alike accuracy (points)."""
    rows = ["| ablation | accuracy: M²Net − ablation | look-alike accuracy: M²Net − ablation |", "|---|---|---|"]
    for n, label in labels.items():
        cells = [label]
        for k in ("acc", "acc_lookalike"):
            vals = _get(metrics, f"m2net_{k}", f"{n}_{k}")
            if vals is None:
                cells.append("not measured")
                continue
            v = ablation_gap(*vals, label)
            cells.append(f"{v.measured}; {v.summary()}: M²Net higher **{v.verdict}**")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def seeds_note(record: Record, n_seeds: int) -> str:
    """A sentence on what this number of seeds can show: degrees of freedom, and for each inconclusive
    claim (or part) the smallest effect it could have detected."""
    dof = (f"each paired interval rests on {n_seeds - 1} degree{'' if n_seeds == 2 else 's'} of freedom"
           if n_seeds > 1 else "no claim has an interval")
    open_claims = [c for c in record.claims if c.verdict == "inconclusive"]
    out = [f"{len(open_claims)} of {len(record.claims)} claims are inconclusive"]
    for c in open_claims:
        parts = c.parts or [{"measured": c.measured, "detectable": c.detectable, "unit": c.unit,
                             "verdict": c.verdict}]
        eff = [f"±{p['detectable']:.3g}{' ' + p['unit'] if p.get('unit') else ''}" for p in parts
               if p["verdict"] == "inconclusive" and isinstance(p.get("detectable"), float)
               and math.isfinite(p["detectable"])]
        if eff:
            out.append(f"{c.id} could have detected {' and '.join(eff)}")
    seeds = f"{n_seeds} seed{'' if n_seeds == 1 else 's'}"
    return f"This run has n = {seeds} per variant, so {dof}; " + "; ".join(out) + "."
