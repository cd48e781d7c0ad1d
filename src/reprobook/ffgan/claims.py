"""Chapter 6's claims, judged by the engine's rules (:mod:`reprobook.engine.stats`).

**What n counts.** With the shipped evidence (:mod:`.shipped`) every variant is trained with
several seeds; seed *k* gives every variant the same encoders, data, noise and evaluation captions,
so the comparisons are **paired by training seed** and n counts seeds. Without it (a retrained
pipeline: one generator per variant) only properties of that one generator can be judged, over
disjoint folds of held-out captions (n counts folds); comparisons between variants then need
training seeds and are recorded as not tested.

**Gates.** Two checks come first: the word attention *localises* (its per-pixel entropy over the
words clearly below its maximum: the mean ratio's interval below :data:`ENTROPY_BOUND`) and the
generated images carry the *attributes* (attribute accuracy's interval above chance plus
:data:`ATTR_MARGIN`). The claims about the FF-Block and the GSR are judged only when both hold;
otherwise they are recorded as not tested, with the gates' verdicts as the reason (a comparison of
two generators whose attention is uniform, or whose images are at chance, is not the paper's).

Every rule is a pure function of per-unit numbers, listed in :data:`RULES` with three inputs that
show it can fail (identical arms, a clear effect, the opposite effect). Units in which the colour
segmentation found no object give NaN attention values; they are left out of the attention rules
(pairwise), and a claim with no unit left is untested.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from reprobook.engine import stats
from reprobook.engine.results import Record
from reprobook.ffgan.data import ATTR_CLASSES, COLORS, LAYOUTS, SHAPES, SIZES

SRC = "Sun et al. 2023, abstract and Fig. 'attention_map'"
FOLDS = "n = caption folds of one trained generator per variant, not training seeds"
SEEDS = "n = training seeds, paired across variants"
LIFT_MARGIN = 1.1  # attention mass on the object: at least 10 % above the area-proportional chance level
ENTROPY_BOUND = 0.9  # attention localises: per-pixel entropy over the words below 90 % of its maximum
ATTR_MARGIN = 0.05  # attributes above chance: at least 5 points above a uniform guess

# Attribute accuracy of a uniform guess: the layout and, per object, colour, shape and size.
CHANCE_ATTR_ACC = (1 / len(LAYOUTS) + 2 * (1 / len(COLORS) + 1 / len(SHAPES) + 1 / len(SIZES))) / 7

# Exact-caption accuracy of a uniform guess: all seven attributes right.
CHANCE_EXACT_ACC = math.prod(1 / n for n in ATTR_CLASSES)

# Published CUB R-precision (%, mean ± std over 10 folds) of FF-GAN's code ancestors, as the notes quote them.
CUB_R_PRECISION = {"DM-GAN": (72.31, 0.91), "AttnGAN": (67.82, 4.43)}
CUB_SOURCE = ("Zhu et al., DM-GAN, CVPR 2019, Table 1, as listed in the DM-GAN README (AttnGAN's row likewise); "
              "FF-GAN's own CUB numbers: paper text unavailable; its README (2023-02-24) only says the released "
              "checkpoint 'obtain[s] FID=14.56 on CUB-200 which is better than the result in our paper'")

ABLATIONS = {"no_ff": "FF-Block", "no_gsr": "GSR"}


def _finite(*arms: Sequence[float]) -> list[list[float]]:
    """The folds where every arm is finite (pairs kept together)."""
    rows = [r for r in zip(*arms) if all(math.isfinite(float(x)) for x in r)]
    return [[float(r[i]) for r in rows] for i in range(len(arms))]


def attr_acc_gain(full: Sequence[float], ablated: Sequence[float], what: str = "FF-Block") -> stats.Verdict:
    """Attribute accuracy of FF-GAN above the ablation's, paired over caption folds (points)."""
    return stats.paired(full, ablated, names=("FF-GAN", f"− {what}"), scale=100, digits=1, unit="points")


def r_precision_gain(full: Sequence[float], ablated: Sequence[float], what: str = "GSR") -> stats.Verdict:
    """R-precision of FF-GAN above the ablation's, paired over caption folds (points)."""
    return stats.paired(full, ablated, names=("FF-GAN", f"− {what}"), scale=100, digits=2, unit="points")


def attention_localises(entropy_ratio: Sequence[float]) -> stats.Verdict:
    """Gate: FF-GAN's per-pixel attention entropy / its maximum (last stage) below :data:`ENTROPY_BOUND`."""
    (x,) = _finite(entropy_ratio)
    if not x:
        return stats.untested("no attention maps")
    return stats.one_sample(x, ENTROPY_BOUND, direction="less", name="entropy / max", digits=3)


def attributes_above_chance(attr_acc: Sequence[float]) -> stats.Verdict:
    """Gate: FF-GAN's attribute accuracy above chance + :data:`ATTR_MARGIN` (in %)."""
    return stats.one_sample(attr_acc, 100 * (CHANCE_ATTR_ACC + ATTR_MARGIN), name="FF-GAN attribute accuracy",
                            scale=100, digits=1, unit="%")


def attention_on_object(lift: Sequence[float]) -> stats.Verdict:
    """Attention mass on the word's object over chance (mass / area fraction) above :data:`LIFT_MARGIN`."""
    (x,) = _finite(lift)
    if not x:
        return stats.untested("no fold with an object found by colour")
    return stats.one_sample(x, LIFT_MARGIN, name="mass / chance", digits=2)


def attention_sharper_later(later: Sequence[float], earlier: Sequence[float]) -> stats.Verdict:
    """Mass/chance at the later refinement stage above the earlier stage's, paired over folds."""
    a, b = _finite(later, earlier)
    if not a:
        return stats.untested("no fold with an object found by colour")
    return stats.paired(a, b, names=("stage 2", "stage 1"), digits=2)


def r_precision_at_least(full: Sequence[float], published: float, name: str = "DM-GAN") -> stats.Verdict:
    """FF-GAN's per-fold CUB R-precision above a published mean (``published`` in %)."""
    return stats.one_sample(full, published, name="FF-GAN R-precision", scale=100, digits=2, unit="%")


def _gain_cases(rule, base: float, effect: float) -> stats.Falsifiable:
    arms = {e: stats.synthetic_arms(e, n=5, base=base, spread=0.02) for e in (0.0, effect, -effect)}
    return stats.Falsifiable(rule, identical=dict(zip(("full", "ablated"), arms[0.0])),
                             effect=dict(zip(("full", "ablated"), arms[effect])),
                             opposite=dict(zip(("full", "ablated"), arms[-effect])))


def _cub_case(name: str) -> stats.Falsifiable:
    pub = CUB_R_PRECISION[name][0]
    return stats.Falsifiable(
        r_precision_at_least, identical={"full": [pub / 100] * 10, "published": pub},
        effect={"full": stats.synthetic_arms(0, n=10, base=pub / 100 + 0.05, spread=0.01)[0], "published": pub},
        opposite={"full": stats.synthetic_arms(0, n=10, base=pub / 100 - 0.05, spread=0.01)[0], "published": pub})


RULES: dict[str, stats.Falsifiable] = {
    "attention-localises": stats.Falsifiable(
        attention_localises, identical={"entropy_ratio": [ENTROPY_BOUND] * 3},
        effect={"entropy_ratio": stats.synthetic_arms(0, n=3, base=0.6, spread=0.02)[0]},
        opposite={"entropy_ratio": stats.synthetic_arms(0, n=3, base=0.99, spread=0.002)[0]}),
    "attributes-above-chance": stats.Falsifiable(
        attributes_above_chance, identical={"attr_acc": [CHANCE_ATTR_ACC + ATTR_MARGIN] * 3},
        effect={"attr_acc": stats.synthetic_arms(0, n=3, base=0.8, spread=0.02)[0]},
        opposite={"attr_acc": stats.synthetic_arms(0, n=3, base=CHANCE_ATTR_ACC, spread=0.01)[0]}),
    "ffblock-consistency": _gain_cases(attr_acc_gain, 0.6, 0.08),
    "gsr-global": _gain_cases(r_precision_gain, 0.3, 0.08),
    "attention-on-object": stats.Falsifiable(
        attention_on_object, identical={"lift": [LIFT_MARGIN] * 5},
        effect={"lift": stats.synthetic_arms(0, n=5, base=1.6, spread=0.05)[0]},
        opposite={"lift": stats.synthetic_arms(0, n=5, base=0.95, spread=0.03)[0]}),
    "attention-sharper-later": stats.Falsifiable(
        attention_sharper_later, identical=dict(zip(("later", "earlier"), stats.synthetic_arms(0.0, n=5, base=1.3))),
        effect=dict(zip(("later", "earlier"), stats.synthetic_arms(0.3, n=5, base=1.3, spread=0.05))),
        opposite=dict(zip(("later", "earlier"), stats.synthetic_arms(-0.3, n=5, base=1.3, spread=0.05)))),
    **{f"cub-r-precision-vs-{name.lower()}": _cub_case(name) for name in CUB_R_PRECISION},
    **{f"cub-{v}": _gain_cases(r_precision_gain, 0.7, 0.05) for v in ABLATIONS},
}


def declare_baselines(record: Record, r_candidates: int, *, attributes: bool = True,
                      real_attr_acc: float | None = None) -> None:
    """The references a reader asks about, in the claims' display units (%, or mass/chance)."""
    record.baseline("chance R-precision", 100 / r_candidates,
                    f"the true caption ranked first among {r_candidates} by a random ranking")
    if attributes:
        record.baseline("chance attribute accuracy", 100 * CHANCE_ATTR_ACC,
                        "a uniform guess of the layout and each object's colour, shape and size")
        record.baseline("uniform attention", 1.0, "attention spread evenly over the image: mass / chance = 1")
    if real_attr_acc is not None:
        record.baseline("real images (ceiling)", 100 * real_attr_acc,
                        "the attribute classifier on real test images: a ceiling, not a bar to beat")


def _mean(xs: Sequence[float]) -> float:
    x = [float(v) for v in xs if math.isfinite(float(v))]
    return sum(x) / len(x) if x else math.nan


def _fd_text(values: Mapping[str, Mapping[str, Sequence[float]]], variants: Sequence[str]) -> str:
    """The Fréchet distance of the compared variants and its real-data floor, from the numbers."""
    if not all("fd" in values.get(v, {}) for v in variants):
        return ""
    from reprobook.ffgan.figures import LABELS

    parts = ", ".join(f"{LABELS[v]} {_mean(values[v]['fd']):.3g}" for v in variants)
    floor = values[variants[0]].get("fd_real")
    return f"; Fréchet distance {parts}" + (f" (real-data floor {_mean(floor):.3g})" if floor else "")


def _params_text(values: Mapping[str, Mapping[str, Sequence[float]]], variants: Sequence[str]) -> str:
    """The compared generators' parameter counts, from the numbers."""
    if not all("n_params" in values.get(v, {}) for v in variants):
        return ""
    from reprobook.ffgan.figures import LABELS

    counts = [int(round(_mean(values[v]["n_params"]))) for v in variants]
    same = "parameter-matched: " if len(set(counts)) == 1 else "parameters not matched: "
    return "; " + same + ", ".join(f"{LABELS[v]} {c:,}" for v, c in zip(variants, counts)) + " parameters"


def gate_reason(localises: stats.Verdict, above_chance: stats.Verdict) -> str | None:
    """Why the FF-Block/GSR claims are not judged (``None`` when both gates hold)."""
    if localises.verdict == "holds" and above_chance.verdict == "holds":
        return None
    return (f"the gates do not both hold (attention-localises: {localises.verdict}; attributes-above-chance: "
            f"{above_chance.verdict}), so FF-GAN is not compared with its ablations")


def record_claims(record: Record, values: Mapping[str, Mapping[str, Sequence[float]]], *, branch_num: int,
                  r_candidates: int, real_attr_acc: float | None = None, over: str = "seeds",
                  command: str | None = None, missing: Mapping[str, str] | None = None) -> Record:
    """Book data: the claims from per-unit metrics ``values[variant][metric]``.

    ``over="seeds"``: one value per training seed, paired across variants (the shipped evidence);
    ``over="folds"``: caption folds of one generator per variant: the gates and the attention
    claims are judged over folds, the comparisons between variants are not tested (they need
    training seeds; ``command`` names the command that computes them). ``missing`` maps an ablated
    variant without values (a partial record) to why: its comparison is recorded as not tested.
    """
    missing = dict(missing or {})
    if over not in ("seeds", "folds"):
        raise ValueError(f"over must be 'seeds' or 'folds', got {over!r}")
    unit = SEEDS if over == "seeds" else FOLDS
    declare_baselines(record, r_candidates, real_attr_acc=real_attr_acc)
    full = values["full"]
    last = branch_num - 1
    chance = f"chance {100 * CHANCE_ATTR_ACC:.1f} %"
    loc = attention_localises(full.get(f"attn_entropy_stage{last}", [])) if last >= 1 else \
        stats.untested("no refinement stage")
    uniform = _mean(full.get(f"attn_uniform_stage{last}", [math.nan]))
    record.claim("attention-localises", "Gate: FF-GAN's word attention localises (per-pixel entropy over the words "
                 f"at the last refinement stage below {ENTROPY_BOUND:g} of its maximum; largest weight "
                 f"{_mean(full.get(f'attn_max_stage{last}', [math.nan])):.3f} vs uniform 1/words {uniform:.3f}; "
                 f"{unit})", "precondition of the FF-Block claims (the paper's attention maps are local)", loc,
                 kind="check")
    acc = attributes_above_chance(full["attr_acc"])
    record.claim("attributes-above-chance", f"Gate: FF-GAN's images carry the caption's attributes (attribute "
                 f"accuracy above {chance} + {100 * ATTR_MARGIN:g} points; exact-caption accuracy "
                 f"{100 * _mean(full.get('exact_acc', [math.nan])):.1f} % vs chance {100 * CHANCE_EXACT_ACC:.3f} %"
                 f"{_fd_text(values, ['full'])}; {unit})",
                 "precondition of the consistency claims", acc, kind="check", baselines=("chance attribute accuracy",))
    reason = gate_reason(loc, acc)
    untested_pair = (f"comparing variants needs several training seeds per variant (the chapter's seed-level "
                     f"evidence: {command})" if command else
                     "comparing variants needs several training seeds per variant") if over == "folds" else reason

    def judged(verdict_fn, variant: str):
        if variant in missing:
            return stats.untested(missing[variant])
        return stats.untested(untested_pair) if untested_pair else verdict_fn()

    if "no_ff" in values or "no_ff" in missing:
        record.claim("ffblock-consistency", "The FF-Block improves text–image consistency over the model without it "
                     f"(attribute accuracy of generated images, {chance}{_params_text(values, ['full', 'no_ff'])}"
                     f"{_fd_text(values, ['full', 'no_ff'])}; {unit})",
                     f"'the FF-Block ... improves the text-image consistency' ({SRC}); ablation numbers not available",
                     judged(lambda: attr_acc_gain(full["attr_acc"], values["no_ff"]["attr_acc"]), "no_ff"),
                     kind="paper", baselines=("chance attribute accuracy",))
    on_object = attention_on_object(full.get(f"attn_lift_stage{last}", []))
    record.claim("attention-on-object", "Attribute words attend to their objects (attention mass inside the object, "
                 f"as a multiple of the area-proportional chance level, last refinement stage, above {LIFT_MARGIN:g}; "
                 f"uniform attention = 1; {unit})",
                 f"'blue', 'white', 'throat' highlight the matching parts ({SRC}, qualitative)",
                 on_object, kind="paper", baselines=("uniform attention",))
    if branch_num >= 3:
        # Which stage is sharper means something only once the attention localises at all: a difference
        # between two near-uniform maps is not the paper's phenomenon (the mechanism never engaged).
        sharper = attention_sharper_later(full["attn_lift_stage2"], full["attn_lift_stage1"]) \
            if on_object.verdict == "holds" else stats.untested(
                f"the attention does not localise on the objects (attention-on-object: {on_object.verdict}), so "
                "the stages' sharpness is not compared")
        record.claim("attention-sharper-later", "Attribute-word attention is sharper at the later refinement stage "
                     f"(mass/chance at stage 2 above stage 1; uniform attention = 1; {unit})",
                     f"maps at 128² are more local than at 64² ({SRC}, qualitative)",
                     sharper, kind="paper", baselines=("uniform attention",))
    if "no_gsr" in values or "no_gsr" in missing:
        record.claim("gsr-global", "GSR improves global text–image consistency (R-precision with the evaluation "
                     f"encoder, chance {100 / r_candidates:.1f} %{_params_text(values, ['full', 'no_gsr'])}"
                     f"{_fd_text(values, ['full', 'no_gsr'])}; {unit})",
                     "'global semantic refinement ... improves global consistency' (abstract); numbers not available",
                     judged(lambda: r_precision_gain(full["r_precision"], values["no_gsr"]["r_precision"]), "no_gsr"),
                     kind="paper", baselines=("chance R-precision",))
    return record


def finding(record: Record, values: Mapping[str, Mapping[str, Sequence[float]]], *, gan_steps: int,
            branch_num: int, over: str = "seeds") -> str:
    """The chapter's finding in one paragraph, every number and verdict read from ``record``'s claims and ``values``.

    It says whether the gates hold (with the attention's entropy and the attribute accuracy), what the attention
    on the objects shows, and whether the FF-Block and GSR comparisons could be judged; the other variants'
    attention entropy is given beside FF-GAN's, as description (no verdict rests on it).
    """
    from reprobook.ffgan.figures import LABELS

    by = {c.id: c for c in record.claims}
    loc, acc = by["attention-localises"], by["attributes-above-chance"]
    units = f"{loc.n} training seed{'s' if loc.n != 1 else ''}" if over == "seeds" else \
        f"{loc.n} caption fold{'s' if loc.n != 1 else ''} of one generator"
    last = branch_num - 1
    ent = _mean(values["full"].get(f"attn_entropy_stage{last}", [math.nan]))
    ci = f" (95 % interval [{-loc.ci[1]:.3f}, {-loc.ci[0]:.3f}])" if loc.ci and all(
        isinstance(x, (int, float)) and math.isfinite(x) for x in loc.ci) else ""
    gate = {"holds": "localises", "does not hold": "does not localise",
            "inconclusive": "may or may not localise (inconclusive)", "not tested": "was not measured"}[loc.verdict]
    out = [f"**Finding.** After {gan_steps:,} GAN steps ({units}), FF-GAN's word attention {gate} by the gate's "
           f"rule: its per-pixel entropy over the words is {ent:.3f} of its maximum{ci}, against the bound "
           f"{ENTROPY_BOUND:g}. The gate on the images' attributes: {acc.verdict} (attribute accuracy "
           f"{100 * _mean(values['full']['attr_acc']):.1f} % against chance {100 * CHANCE_ATTR_ACC:.1f} %)."]
    if "attention-on-object" in by:
        obj = by["attention-on-object"]
        out.append(f"Attribute words put {_mean(values['full'].get(f'attn_lift_stage{last}', [math.nan])):.2f} "
                   f"times the area-proportional chance of their attention inside their objects "
                   f"(attention-on-object: {obj.verdict}).")
    others = [v for v in values if v != "full" and f"attn_entropy_stage{last}" in values[v]]
    if others:
        out.append("For comparison (description, no verdict): the entropy ratio is "
                   + ", ".join(f"{_mean(values[v][f'attn_entropy_stage{last}']):.3f} for {LABELS[v]}" for v in others)
                   + ".")
    compared = [by[k] for k in ("ffblock-consistency", "gsr-global") if k in by]
    if compared and all(c.verdict == "not tested" for c in compared):
        out.append("The FF-Block and GSR comparisons need several training seeds per variant, so this run does not "
                   "test them." if over == "folds" else "The FF-Block and GSR comparisons are therefore not tested: "
                   + ("at this scale the gate on the attention is not met." if loc.verdict != "holds"
                      else "see the claims' reasons."))
    elif compared:
        out.append("With both gates holding, the comparisons are judged: " + "; ".join(
            f"{c.id} {c.verdict}" for c in compared) + ".")
    return " ".join(out)


def record_cub_claims(record: Record, folds: Mapping[str, Sequence[float]], *, r_candidates: int) -> Record:
    """CUB (``paper`` preset): per-fold R-precision ``folds[variant]`` against published numbers and ablations."""
    declare_baselines(record, r_candidates, attributes=False)
    full = folds["full"]
    for name, (mean, sd) in CUB_R_PRECISION.items():
        record.claim(f"cub-r-precision-vs-{name.lower()}",
                     f"FF-GAN's CUB R-precision is at least that of {name} (with this run's DAMSM, trained as the "
                     f"official one on the frozen Inception-v3; {FOLDS})",
                     f"{name}: {mean:.2f} ± {sd:.2f} % ({CUB_SOURCE})",
                     r_precision_at_least(full, mean, name), kind="paper", baselines=("chance R-precision",))
    for v, what in ABLATIONS.items():
        if v in folds:
            record.claim(f"cub-{v}", f"The {what} raises CUB R-precision (ablation; {FOLDS})",
                         "'FF-Block ... and GSR ... improve consistency' (abstract); ablation numbers not available",
                         r_precision_gain(full, folds[v], what), kind="paper", baselines=("chance R-precision",))
    return record
