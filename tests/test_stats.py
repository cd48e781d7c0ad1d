"""The verdict rules of the evidence standard (§2), checked against hand-computed intervals."""

import math

import numpy as np
import pytest
from scipy import stats as st

from reprobook.engine import stats
from reprobook.engine.results import Claim, Record


def test_paired_interval_by_hand():
    a, b = [0.9, 0.85, 0.88, 0.95], [0.8, 0.78, 0.80, 0.83]
    d = np.array(a) - np.array(b)  # 0.10, 0.07, 0.08, 0.12
    h = st.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    v = stats.paired(a, b)
    assert v.n == 4 and v.estimate == pytest.approx(d.mean()) and v.test == "paired t"
    assert v.ci == pytest.approx((d.mean() - h, d.mean() + h)) and v.detectable == pytest.approx(h)
    assert v.verdict == "holds"  # 0.0925 ± 0.035 lies above 0


def test_two_seeds_need_the_t_critical_value_of_one_degree_of_freedom():
    # The old "d > 2·SE" rule passed this (d = 1.0, SE = 0.1); t(1) = 12.7 does not.
    v = stats.paired([2.0, 2.2], [1.0, 1.0])
    assert v.verdict == "inconclusive" and v.detectable == pytest.approx(12.706 * 0.1, rel=1e-3)


def test_margin_and_direction():
    a, b = stats.synthetic_arms(0.05)
    assert stats.paired(a, b, margin=0.01).verdict == "holds"
    assert stats.paired(a, b, margin=0.10).verdict == "does not hold"  # "by more than m" fails below m
    assert stats.paired(b, a, direction="less").verdict == "holds"
    assert stats.paired(a, b, direction="less").verdict == "does not hold"
    with pytest.raises(ValueError, match="direction must be one of"):
        stats.paired(a, b, direction="up")
    with pytest.raises(ValueError, match="one value per seed"):
        stats.paired([1, 2], [1])
    with pytest.raises(ValueError, match="finite"):
        stats.paired([1, math.nan], [1, 2])


def test_single_run_is_never_a_verdict():
    v = stats.paired([0.9], [0.1])
    assert v.verdict == "inconclusive" and math.isinf(v.detectable)


@pytest.mark.parametrize("rule", ["paired", "unpaired", "one_sample", "bootstrap"])
def test_every_primitive_can_fail(rule):
    def judge(effect):
        a, b = stats.synthetic_arms(effect, n=10)
        if rule == "paired":
            return stats.paired(a, b).verdict
        if rule == "bootstrap":
            return stats.paired(a, b, method="bootstrap").verdict
        if rule == "unpaired":
            return stats.unpaired(a, b).verdict
        return stats.one_sample(np.array(a) - np.array(b), 0.0).verdict

    assert judge(0.0) != "holds"
    assert judge(0.1) == "holds"
    assert judge(-0.1) == "does not hold"


def test_welch_interval_matches_scipy():
    a, b = [1.0, 1.2, 0.9, 1.4], [0.5, 0.7, 0.2, 0.4, 0.6]
    v = stats.unpaired(a, b)
    ref = st.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert v.ci == pytest.approx((ref.low, ref.high)) and v.test == "Welch t"


def test_on_par_equivalence():
    a, b = stats.synthetic_arms(0.0, n=10)
    b2 = [x + 0.001 for x in b]
    assert stats.on_par(a, b2, 0.01).verdict == "holds"
    a3, b3 = stats.synthetic_arms(0.05, n=10)
    assert stats.on_par(a3, b3, 0.01).verdict == "does not hold"
    noisy_a = (np.array(b) + 0.03 * np.random.default_rng(1).standard_normal(10)).tolist()
    assert stats.on_par(noisy_a, b, 0.01).verdict == "inconclusive"
    with pytest.raises(ValueError, match="positive margin"):
        stats.on_par(a, b, 0)


def test_proportion_clopper_pearson():
    v = stats.proportion(3, 100, 0.0)
    ref = st.binomtest(3, 100).proportion_ci(method="exact")
    assert v.ci == pytest.approx((ref.low, ref.high)) and v.verdict == "holds"
    assert stats.proportion(0, 100, 0.0).verdict == "inconclusive"  # the interval starts at 0 exactly
    assert stats.proportion(1, 100, 0.5).verdict == "does not hold"


def test_parts():
    h, n, i = stats.paired(*stats.synthetic_arms(0.1)), stats.paired(*stats.synthetic_arms(-0.1)), \
        stats.paired(*stats.synthetic_arms(0.0))
    assert stats.all_of(h, h).verdict == "holds"
    assert stats.all_of(h, i).verdict == "inconclusive"
    assert stats.all_of(h, i, n).verdict == "does not hold"
    v = stats.all_of(h, i)
    assert len(v.to_dict()["parts"]) == 2 and v.to_dict()["parts"][1]["verdict"] == "inconclusive"


def test_falsification_harness_catches_a_rule_that_cannot_fail():
    always = stats.Falsifiable(lambda a, b: stats.one_sample([1.0, 1.1], 0.0),
                               identical={"a": [1], "b": [1]}, effect={"a": [2], "b": [1]}, opposite={"a": [0], "b": [1]})
    assert stats.falsification_problems({"always": always})
    # a threshold no run can cross: the claim asks for more than the whole gap to full precision (1.0)
    unreachable = stats.Falsifiable(lambda a, b: stats.paired(a, b, margin=1.0),
                                    identical=dict(zip("ab", stats.synthetic_arms(0.0, base=0.5))),
                                    effect=dict(zip("ab", stats.synthetic_arms(0.3, base=0.5))),
                                    opposite=dict(zip("ab", stats.synthetic_arms(-0.3, base=0.5))))
    assert any("effect" in p for p in stats.falsification_problems({"unreachable": unreachable}))


def test_record_claim_fields_kinds_and_baselines(tmp_path):
    import json

    r = Record("intro", parameters={})
    r.baseline("harmonic fill", 30.0)
    a, b = stats.synthetic_arms(2.0, base=20.0, spread=0.5)
    r.claim("x", "A beats B", "paper: 1 dB (Table 1)", stats.paired(a, b, unit="dB"), baselines=("harmonic fill",))
    r.claim("y", "true by the SDE", "—", stats.one_sample([1.0, 1.0, 1.0], 0.0), kind="check", by_construction=True)
    with pytest.raises(ValueError, match="undeclared baselines"):
        r.claim("z", "c", "p", stats.paired(a, b), baselines=("chance",))
    with pytest.raises(ValueError, match="kind must be one of"):
        r.claim("z", "c", "p", stats.paired(a, b), kind="headline")
    with pytest.raises(ValueError, match="by construction"):
        Claim("q", "c", "p", "m", "r", "holds", kind="paper", by_construction=True)
    rec = json.loads(r.save(tmp_path).read_text())
    c = rec["claims"][0]
    for key in ("kind", "n", "estimate", "ci", "test", "margin", "detectable"):
        assert key in c
    assert c["n"] == 8 and c["test"] == "paired t" and c["beaten_by"] == ["harmonic fill"]
    assert rec["claims"][1]["by_construction"] and rec["baselines"]["harmonic fill"]["value"] == 30.0
    md = r.claims_markdown()
    assert "not a reproduction" in md and "check (by construction)" in md


def test_inconclusive_shows_the_detectable_effect():
    r = Record("intro", parameters={})
    r.claim("x", "A beats B", "—", stats.paired([1.0, 1.5, 0.7], [1.0, 1.0, 1.0], unit="points"))
    assert "smallest detectable effect at this n: ±" in r.claims_markdown()


def test_a_claim_that_could_not_be_judged_is_not_tested_not_inconclusive():
    u = stats.untested("the precondition does not hold")
    assert u.verdict == "not tested" and u.measured.startswith("not tested:")
    h = stats.paired([0.9, 0.91, 0.92], [0.5, 0.52, 0.51])
    i = stats.paired([0.9, 0.5, 0.92], [0.5, 0.52, 0.51])
    d = stats.paired([0.5, 0.52, 0.51], [0.9, 0.91, 0.92])
    assert h.verdict == "holds" and i.verdict == "inconclusive" and d.verdict == "does not hold"
    assert stats.all_of(h, u).verdict == "not tested" and stats.all_of(i, u).verdict == "not tested"
    assert stats.all_of(d, u).verdict == "does not hold"  # a part shown false decides the whole
