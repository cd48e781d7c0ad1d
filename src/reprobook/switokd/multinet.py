r"""SwitOKD with three networks: the two basis topologies of the paper's Fig. 2 / Table 7.

Each (teacher i, student j) pair has its own :math:`G_{ij}, s, t, \varepsilon, \delta` and switch.

**2T1S** (teachers :math:`T_1, T_2`, student :math:`S`): teacher :math:`T_i` pauses (no step) when
its pair is in expert mode, else steps on
:math:`\mathrm{CE}(z_{T_i},y) + \mathrm{KL}(p_S\|p_{T_i}) + \mathrm{KL}(p_{T_{other}}\|p_{T_i})`.
The student always steps on :math:`\mathrm{CE}(z_S,y) + \mathrm{KL}(p_{T_1}\|p_S) + \mathrm{KL}(p_{T_2}\|p_S)`.

**1T2S** (teacher :math:`T`, students :math:`S_1, S_2`): gates :math:`w_j = 0` if pair
:math:`(T, S_j)` is in expert mode, else 1; :math:`w_0 = 0` iff both gates are 0;
:math:`L_T = w_0\,\mathrm{CE}(z_T,y) + w_1\,\mathrm{KL}(p_{S_1}\|p_T) + w_2\,\mathrm{KL}(p_{S_2}\|p_T)`.
Students always step on
:math:`\mathrm{CE}(z_{S_j},y) + \mathrm{KL}(p_T\|p_{S_j}) + \mathrm{KL}(p_{S_{other}}\|p_{S_j})`.

Official-code quirks, reproduced when ``official_quirks=True`` (the default of the ``paper_*``
presets) and fixed otherwise:

1. ε copy-paste: in 2T1S, :math:`\varepsilon_2` is computed from pair 1's :math:`(s, t)`; in 1T2S,
   :math:`\varepsilon_1` from pair 2's.
2. In 1T2S the teacher's optimizer steps on every batch, even when both gates are 0 (a zero loss
   still applies weight decay and momentum); fixed, it skips its step like the two-network rule.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer

from reprobook.switokd.switch import SwitchRule, kl_div, switch_stats

TOPOLOGIES = ("1T2S", "2T1S")


def _stats(z_s, z_t, y, rule, eps_from=None):
    return switch_stats(z_s.detach(), z_t.detach(), y, rule, eps_from=eps_from)


def step_2t1s(x, y, *, T1: nn.Module, T2: nn.Module, S: nn.Module, opt_T1: Optimizer, opt_T2: Optimizer,
              opt_S: Optimizer, rule: SwitchRule = SwitchRule(), official_quirks: bool = True) -> dict[str, float]:
    """One 2T1S step; returns both pairs' scalars (suffix 1, 2) and which teachers paused."""
    for m in (T1, T2, S):
        m.train()
    z1, z2, zs = T1(x), T2(x), S(x)  # each [B, C]
    st1 = _stats(zs, z1, y, rule)
    st2 = _stats(zs, z2, y, rule, eps_from=(st1.s, st1.t) if official_quirks else None)
    out = {}
    for i, (st, z, z_other, opt) in enumerate(((st1, z1, z2, opt_T1), (st2, z2, z1, opt_T2)), start=1):
        out.update({f"{k}{i}": v for k, v in st.as_metrics().items()})
        out[f"paused{i}"] = float(st.expert)
        if not st.expert:
            loss = F.cross_entropy(z, y) + kl_div(zs, z, rule.tau) + kl_div(z_other, z, rule.tau)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    loss_s = F.cross_entropy(zs, y) + kl_div(z1, zs, rule.tau) + kl_div(z2, zs, rule.tau)
    opt_S.zero_grad(set_to_none=True)
    loss_s.backward()
    opt_S.step()
    return out


def step_1t2s(x, y, *, T: nn.Module, S1: nn.Module, S2: nn.Module, opt_T: Optimizer, opt_S1: Optimizer,
              opt_S2: Optimizer, rule: SwitchRule = SwitchRule(), official_quirks: bool = True) -> dict[str, float]:
    """One 1T2S step; returns both pairs' scalars, the gates w0, w1, w2 and whether T stepped."""
    for m in (T, S1, S2):
        m.train()
    zt, z1, z2 = T(x), S1(x), S2(x)  # each [B, C]
    st2 = _stats(z2, zt, y, rule)
    st1 = _stats(z1, zt, y, rule, eps_from=(st2.s, st2.t) if official_quirks else None)
    w1, w2 = float(not st1.expert), float(not st2.expert)
    w0 = 0.0 if (w1 == 0 and w2 == 0) else 1.0
    stepped = official_quirks or w0 == 1.0
    if stepped:
        loss_t = w0 * F.cross_entropy(zt, y) + w2 * kl_div(z2, zt, rule.tau) + w1 * kl_div(z1, zt, rule.tau)
        opt_T.zero_grad(set_to_none=True)
        loss_t.backward()
        opt_T.step()
    for z, z_other, opt in ((z1, z2, opt_S1), (z2, z1, opt_S2)):
        loss = F.cross_entropy(z, y) + kl_div(zt, z, rule.tau) + kl_div(z_other, z, rule.tau)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    out = {f"{k}1": v for k, v in st1.as_metrics().items()}
    out.update({f"{k}2": v for k, v in st2.as_metrics().items()})
    out.update({"w0": w0, "w1": w1, "w2": w2, "teacher_stepped": float(stepped)})
    return out
