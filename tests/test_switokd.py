"""Chapter 3 (SwitOKD): switching quantities, losses, update rules, topologies, configs."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reprobook.switokd import claims
from reprobook.switokd.multinet import step_1t2s, step_2t1s
from reprobook.switokd.okd import lr_at, okd_step, student_loss, teacher_loss
from reprobook.switokd.switch import (SwitchRule, decide, distillation_gap, epsilon, kl_div, label_error,
                                      switch_stats, threshold)


# ----------------------------------------------------------------------------- batch scalars
def test_label_error_and_gap_by_hand():
    z = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]))  # softmax(z) = these rows
    y = torch.tensor([0, 1])
    # ||p - y||_1 = 2 (1 - p_y): rows 0.6 and 1.4, batch mean 1.0
    assert label_error(z, y).item() == pytest.approx(1.0, abs=1e-6)
    z2 = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.3, 0.6]]))
    # row 0: |0.7-0.5| + |0.2-0.25| + |0.1-0.25| = 0.4; row 1: 0 -> mean 0.2
    assert distillation_gap(z, z2).item() == pytest.approx(0.2, abs=1e-6)
    # temperature flattens both distributions: the gap shrinks
    assert distillation_gap(z, z2, tau=4.0).item() < 0.2


def test_epsilon_and_threshold_formulas():
    s, t = 0.8, 0.3
    assert epsilon(s, t, "code") == pytest.approx(math.exp(-0.3 / 1.1))
    assert epsilon(s, t, "figure") == pytest.approx(math.exp(-0.3 / 0.8))
    assert threshold(s, t) == pytest.approx(0.8 - math.exp(-0.3 / 1.1) * 0.3)
    # bounds: s - t <= delta <= s; with t < s the code's eps lies in (e^{-1/2}, 1]
    for s_, t_ in [(1.2, 0.1), (0.5, 0.49), (1.9, 1.0)]:
        d = threshold(s_, t_)
        assert s_ - t_ <= d <= s_
        assert math.exp(-0.5) < epsilon(s_, t_) <= 1.0
    assert epsilon(0.0, 0.0) == 1.0 and epsilon(0.0, 0.5, "figure") == 0.0  # 0/0 and t/0
    with pytest.raises(ValueError, match="code, figure"):
        epsilon(1.0, 1.0, "paper")


def test_switching_rule_needs_gap_above_delta_and_t_below_s():
    d = threshold(0.8, 0.3)
    assert decide(d + 1e-3, 0.8, 0.3).expert
    assert not decide(d - 1e-3, 0.8, 0.3).expert
    assert not decide(d, 0.8, 0.3).expert  # strict inequality
    # t >= s: learning mode whatever G, unless the condition is dropped (ablation)
    assert not decide(1.9, 0.5, 0.6).expert
    assert decide(1.9, 0.5, 0.6, SwitchRule(require_t_lt_s=False)).expert
    fixed = decide(0.61, 0.8, 0.3, SwitchRule(fixed_delta=0.6))
    assert fixed.expert and fixed.delta == 0.6
    st = decide(0.5, 0.8, 0.3)
    assert st.as_metrics() == {"G": 0.5, "s": 0.8, "t": 0.3, "eps": st.eps, "delta": st.delta, "expert": 0.0}


def test_switch_stats_from_logits_and_eps_quirk():
    torch.manual_seed(0)
    zs, zt, y = torch.randn(6, 5), torch.randn(6, 5), torch.randint(0, 5, (6,))
    st = switch_stats(zs, zt, y)
    s, t = label_error(zs, y).item(), label_error(zt, y).item()
    assert (st.s, st.t) == (pytest.approx(s), pytest.approx(t))
    assert st.delta == pytest.approx(s - math.exp(-t / (s + t)) * t)
    q = switch_stats(zs, zt, y, eps_from=(1.5, 0.1))  # epsilon from another pair's (s, t)
    assert q.eps == pytest.approx(math.exp(-0.1 / 1.6)) and q.delta == pytest.approx(s - q.eps * t)


# ----------------------------------------------------------------------------- losses
def test_kl_div_formula_direction_and_detach():
    torch.manual_seed(1)
    zt, zs = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    p, q = F.softmax(zt, 1), F.softmax(zs, 1)
    by_hand = (p * (p.log() - q.log())).sum(1).mean()  # KL(p_t || p_s), batch mean, no tau^2
    assert kl_div(zt, zs).item() == pytest.approx(by_hand.item(), abs=1e-6)
    assert kl_div(zt, zs).item() == pytest.approx(F.kl_div(q.log(), p, reduction="batchmean").item(), abs=1e-6)
    kl_div(zt, zs, tau=2.0).backward()
    assert zt.grad is None and zs.grad is not None  # the target is detached
    assert kl_div(zs, zs).item() == pytest.approx(0.0, abs=1e-7)
    # no tau^2 factor: equals the plain KL of the tempered distributions
    p2, q2 = F.softmax(zt / 2, 1), F.softmax(zs / 2, 1)
    assert kl_div(zt, zs, 2.0).item() == pytest.approx((p2 * (p2.log() - q2.log())).sum(1).mean().item(), abs=1e-6)


def test_student_and_teacher_losses_are_ce_plus_kl_in_opposite_directions():
    torch.manual_seed(2)
    zs, zt, y = torch.randn(5, 4), torch.randn(5, 4), torch.randint(0, 4, (5,))
    assert student_loss(zs, zt, y, 1.0).item() == pytest.approx((F.cross_entropy(zs, y) + kl_div(zt, zs)).item())
    assert teacher_loss(zt, zs, y, 1.0).item() == pytest.approx((F.cross_entropy(zt, y) + kl_div(zs, zt)).item())


# ----------------------------------------------------------------------------- the training step
def _pair(seed=0, classes=3):
    torch.manual_seed(seed)
    T, S = nn.Linear(4, classes), nn.Linear(4, classes)
    return T, S


def _sgd(m, **kw):
    return torch.optim.SGD(m.parameters(), lr=0.1, **kw)


def _expert_setup():
    """A confident, correct teacher (t ≈ 0) and a uniform student (s ≈ 4/3): expert mode."""
    T, S = _pair()
    with torch.no_grad():
        T.weight.zero_(); T.bias.copy_(torch.tensor([10.0, 0.0, 0.0]))
        S.weight.zero_(); S.bias.zero_()
    return T, S, torch.randn(8, 4), torch.zeros(8, dtype=torch.long)


def test_expert_mode_skips_the_teacher_step_entirely():
    T, S, x, y = _expert_setup()
    opt_t, opt_s = _sgd(T, momentum=0.9, weight_decay=5e-4), _sgd(S, momentum=0.9, weight_decay=5e-4)
    before = {k: v.clone() for k, v in T.state_dict().items()}
    out = okd_step(x, y, teacher=T, student=S, opt_t=opt_t, opt_s=opt_s, method="switokd")
    assert out["expert"] == 1.0 and out["paused"] == 1.0
    assert all(torch.equal(before[k], v) for k, v in T.state_dict().items())  # not even weight decay
    assert len(opt_t.state) == 0  # no momentum buffer was created: no optimizer step at all
    assert all(p.grad is None for p in T.parameters())
    assert not torch.equal(S.bias, torch.zeros(3))  # the student learned


def test_dml_logs_the_would_be_mode_but_always_updates_the_teacher():
    T, S, x, y = _expert_setup()
    before = T.bias.clone()
    out = okd_step(x, y, teacher=T, student=S, opt_t=_sgd(T), opt_s=_sgd(S), method="dml")
    assert out["expert"] == 1.0 and out["paused"] == 0.0
    assert not torch.equal(T.bias, before)


def test_learning_mode_update_is_the_dml_update_on_pre_step_logits():
    T, S = _pair(3)
    x, y = torch.randn(6, 4), torch.randint(0, 3, (6,))
    rule = SwitchRule(fixed_delta=2.0)  # G <= 2 always: learning mode
    T0, S0 = _pair(3)
    zt, zs = T0(x), S0(x)
    g_t = torch.autograd.grad(teacher_loss(zt, zs.detach(), y, 1.0), list(T0.parameters()))
    g_s = torch.autograd.grad(student_loss(zs, zt.detach(), y, 1.0), list(S0.parameters()))
    out = okd_step(x, y, teacher=T, student=S, opt_t=_sgd(T), opt_s=_sgd(S), method="switokd", rule=rule)
    assert out["paused"] == 0.0
    for p, p0, g in zip(T.parameters(), T0.parameters(), g_t):
        assert torch.allclose(p, p0 - 0.1 * g, atol=1e-6)
    for p, p0, g in zip(S.parameters(), S0.parameters(), g_s):
        assert torch.allclose(p, p0 - 0.1 * g, atol=1e-6)


def test_vanilla_is_cross_entropy_only_and_kd_keeps_the_teacher_fixed():
    T, S = _pair(4)
    x, y = torch.randn(6, 4), torch.randint(0, 3, (6,))
    _, S0 = _pair(4)
    g = torch.autograd.grad(F.cross_entropy(S0(x), y), list(S0.parameters()))
    okd_step(x, y, teacher=T, student=S, opt_t=_sgd(T), opt_s=_sgd(S), method="vanilla")
    assert all(torch.allclose(p, p0 - 0.1 * gg, atol=1e-6) for p, p0, gg in zip(S.parameters(), S0.parameters(), g))
    T, S = _pair(5)
    before = T.weight.clone()
    okd_step(x, y, teacher=T, student=S, opt_t=None, opt_s=_sgd(S), method="kd")
    assert torch.equal(T.weight, before)
    with pytest.raises(ValueError, match="switokd, dml, vanilla, kd"):
        okd_step(x, y, teacher=T, student=S, opt_t=None, opt_s=_sgd(S), method="ONE")


def test_step_learning_rate_schedule():
    assert lr_at(0.1, 0, (100, 150, 200)) == 0.1
    assert lr_at(0.1, 98, (100, 150, 200)) == 0.1  # epoch 99 (1-based)
    assert lr_at(0.1, 99, (100, 150, 200)) == pytest.approx(0.01)  # epoch 100: first decay
    assert lr_at(0.1, 250, (100, 150, 200)) == pytest.approx(1e-4)


# ----------------------------------------------------------------------------- three networks
def _three(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(4, 3), nn.Linear(4, 3), nn.Linear(4, 3)


def test_2t1s_eps_quirk_and_pausing():
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    for quirks in (True, False):
        T1, T2, S = _three(1)
        zs, z1, z2 = S(x), T1(x), T2(x)
        st1, st2 = switch_stats(zs, z1, y), switch_stats(zs, z2, y)
        out = step_2t1s(x, y, T1=T1, T2=T2, S=S, opt_T1=_sgd(T1), opt_T2=_sgd(T2), opt_S=_sgd(S),
                        official_quirks=quirks)
        want = epsilon(st1.s, st1.t) if quirks else epsilon(st2.s, st2.t)
        assert out["eps2"] == pytest.approx(want) and out["eps1"] == pytest.approx(st1.eps)
    # a paused teacher keeps its weights
    T1, T2, S = _three(2)
    with torch.no_grad():
        T1.weight.zero_(); T1.bias.copy_(torch.tensor([10.0, 0.0, 0.0])); S.weight.zero_(); S.bias.zero_()
    w = T1.weight.clone()
    out = step_2t1s(x, torch.zeros(8, dtype=torch.long), T1=T1, T2=T2, S=S, opt_T1=_sgd(T1), opt_T2=_sgd(T2),
                    opt_S=_sgd(S), rule=SwitchRule(fixed_delta=0.0))
    assert out["paused1"] == 1.0 and torch.equal(T1.weight, w)


def test_1t2s_gates_and_the_always_stepping_teacher_quirk():
    x, y = torch.randn(8, 4), torch.zeros(8, dtype=torch.long)
    for quirks in (True, False):
        T, S1, S2 = _three(3)
        with torch.no_grad():
            T.weight.zero_(); T.bias.copy_(torch.tensor([10.0, 0.0, 0.0]))
        before = T.bias.clone()
        out = step_1t2s(x, y, T=T, S1=S1, S2=S2, opt_T=_sgd(T, momentum=0.9, weight_decay=0.1), opt_S1=_sgd(S1),
                        opt_S2=_sgd(S2), rule=SwitchRule(fixed_delta=0.0), official_quirks=quirks)
        assert (out["w0"], out["w1"], out["w2"]) == (0.0, 0.0, 0.0)
        assert out["teacher_stepped"] == float(quirks)
        # quirk: all-zero loss, but weight decay still moves the teacher; fixed: untouched
        assert torch.equal(T.bias, before) != quirks
    T, S1, S2 = _three(4)
    out = step_1t2s(x, y, T=T, S1=S1, S2=S2, opt_T=_sgd(T), opt_S1=_sgd(S1), opt_S2=_sgd(S2),
                    rule=SwitchRule(fixed_delta=2.0))
    assert (out["w0"], out["w1"], out["w2"]) == (1.0, 1.0, 1.0)


# ----------------------------------------------------------------------------- claims
def test_every_claim_rule_can_fail():
    from reprobook.engine import stats

    assert stats.falsification_problems(claims.RULES) == []


def test_claim_rules_on_hand_made_seeds():
    sw, dml = [0.90, 0.91, 0.92, 0.93], [0.89, 0.90, 0.91, 0.92]  # SwitOKD one point above DML on every seed
    v = claims.student_beats_dml_and_vanilla(sw, dml, [0.80, 0.81, 0.83, 0.82])
    assert v.verdict == "holds" and [p.test for p in v.parts] == ["paired t (no spread)", "paired t"]
    assert v.parts[0].estimate == pytest.approx(1.0)
    # a one-point teacher gap is at the on-par margin: not shown on par; a tiny one is
    assert claims.teacher_on_par_with_dml(sw, dml).verdict != "holds"
    assert claims.teacher_on_par_with_dml([0.950, 0.951, 0.949], [0.949, 0.950, 0.950]).verdict == "holds"
    # the ablation runs fewer seeds: the adaptive arm's first seeds pair with them
    v = claims.adaptive_beats_fixed(sw, {"δ=0.6": [0.85, 0.87]})
    assert v.n == 2 and v.parts[0].arms["adaptive δ"] == pytest.approx(90.5)
    assert claims.expert_mode_occurs(0, 1000).verdict == "does not hold"
    assert claims.expert_mode_occurs(100, 1000).verdict == "holds"
    assert claims.reaches_paper([0.93], 92.50).verdict == "inconclusive"  # one seed: no interval
    assert claims.rule_key("2T1S-T1-table7") == claims.TABLE7_ID and claims.rule_key("distillation-precondition") in claims.RULES


@pytest.mark.parametrize("preset", ["paper_2t1s", "paper_1t2s"])
def test_multinet_claims_on_fake_histories_are_covered_and_use_the_final_epoch(preset):
    from reprobook import switokd
    from reprobook.engine.loop import History
    from reprobook.engine.results import Record

    cfg = switokd.PRESETS[preset]
    hists = []
    for seed in range(3):
        h = History()
        for k in range(1, 5):  # four batches, the first pair in expert mode on the last two
            h.log(k, {"paused1": float(k > 2), "paused2": 0.0, "expert1": float(k > 2), "expert2": 0.0})
        for epoch, acc in ((1, 0.9), (2, 0.6 + 0.01 * seed)):  # a best epoch on the test set that must be ignored
            h.log(epoch, {"acc_teacher": acc, "acc_student": acc, "acc_third": acc})
        hists.append(h)
    rec = Record("switokd", parameters={})
    claims.multinet_claims(rec, cfg, hists)
    ids = [c.id for c in rec.claims]
    assert len(ids) == 4 and {claims.rule_key(i) for i in ids} <= set(claims.RULES)
    expert = rec.claims[0]
    assert expert.kind == "check" and "6 of 24" in expert.measured
    table7 = rec.claims[1:]
    assert all(c.kind == "paper" and c.verdict == "does not hold" for c in table7)  # final epochs near 61 %
    assert all(c.estimate == pytest.approx(61.0) for c in table7)
