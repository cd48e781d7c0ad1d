r"""SwitOKD's switching quantities and losses (Chapter 3, §The idea).

Notation (paper, Eq. 1-5 and the official code): :math:`z_t, z_s` are teacher and student logits
``[B, C]``, :math:`p^\tau = \mathrm{softmax}(z/\tau)`, :math:`y` the one-hot label. Every norm is
an L1 norm over classes **averaged over the mini-batch**, so each quantity is one scalar per batch.

- distillation gap :math:`G = \lVert p_s^\tau - p_t^\tau\rVert_1`;
- student and teacher errors :math:`s = \lVert p_s - y\rVert_1`, :math:`t = \lVert p_t - y\rVert_1`
  (always at :math:`\tau = 1`);
- adaptive switching threshold :math:`\delta = s - \varepsilon\, t` with
  :math:`\varepsilon = e^{-t/(s+t)}` (official code and README formula, ``form="code"``) or
  :math:`\varepsilon = e^{-t/s}` (the overview figure, ``form="figure"``);
- **expert mode** iff :math:`G > \delta` *and* :math:`t < s` (the second test is in the code only),
  else **learning mode**.

Losses (no :math:`\tau^2` factor, batch-mean reduction, targets detached):

.. math::
    L_s = \mathrm{CE}(z_s, y) + \mathrm{KL}(p_t^\tau \,\|\, p_s^\tau), \qquad
    L_t = \mathrm{CE}(z_t, y) + \mathrm{KL}(p_s^\tau \,\|\, p_t^\tau).

In expert mode only the student steps; in learning mode both do.

Under ``torchrun`` each process holds a slice of the global batch; :func:`batch_scalars` sums
the per-sample values over all processes in one all-reduce, which hands every rank the same
bits, so every rank computes the same G, s, t and takes the same branch (its teacher's
backward and step are skipped everywhere at once).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from reprobook.engine import distributed

EPSILON_FORMS = ("code", "figure")


def kl_div(z_target: torch.Tensor, z: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    r""":math:`\mathrm{KL}(p^\tau_{target} \| p^\tau)`, summed over classes, averaged over the batch.

    The target distribution is detached: only ``z`` receives a gradient.
    """
    p = F.softmax(z_target.detach() / tau, dim=-1)  # [B, C]
    log_p = F.log_softmax(z_target.detach() / tau, dim=-1)
    log_q = F.log_softmax(z / tau, dim=-1)
    return (p * (log_p - log_q)).sum(1).mean()


@torch.no_grad()
def label_error(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r""":math:`\lVert \mathrm{softmax}(z) - y\rVert_1` averaged over the batch (= 2(1 − mean p_y))."""
    return label_error_rows(z, y).mean()


@torch.no_grad()
def label_error_rows(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Per-sample :math:`\lVert \mathrm{softmax}(z_i) - y_i\rVert_1`: ``[B]``."""
    p = F.softmax(z.float(), dim=-1)  # [B, C]
    onehot = F.one_hot(y, p.shape[1]).to(p.dtype)
    return (p - onehot).abs().sum(1)


@torch.no_grad()
def distillation_gap(z_s: torch.Tensor, z_t: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    r""":math:`G = \lVert p_s^\tau - p_t^\tau\rVert_1` averaged over the batch."""
    return distillation_gap_rows(z_s, z_t, tau).mean()


@torch.no_grad()
def distillation_gap_rows(z_s: torch.Tensor, z_t: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    r"""Per-sample :math:`\lVert p_{s,i}^\tau - p_{t,i}^\tau\rVert_1`: ``[B]``."""
    return (F.softmax(z_s.float() / tau, -1) - F.softmax(z_t.float() / tau, -1)).abs().sum(1)


@torch.no_grad()
def batch_scalars(z_s: torch.Tensor, z_t: torch.Tensor, y: torch.Tensor,
                  tau: float = 1.0) -> tuple[float, float, float]:
    """``(G, s, t)`` of the global batch: batch means over every process.

    One process: the plain batch means. Several: this rank's per-sample sums and its count,
    summed over ranks in a single all-reduce; every rank receives the same numbers, hence the
    same mode.
    """
    if not distributed.current().enabled:
        return (distillation_gap(z_s, z_t, tau).item(), label_error(z_s, y).item(), label_error(z_t, y).item())
    rows = torch.stack([distillation_gap_rows(z_s, z_t, tau), label_error_rows(z_s, y), label_error_rows(z_t, y)], 1)
    sums = torch.cat([rows.double().sum(0), rows.new_tensor([len(rows)], dtype=torch.float64)])  # [4]
    tot = distributed.all_reduce(sums, "sum")
    G, s, t = (tot[:3] / tot[3]).tolist()
    return G, s, t


def epsilon(s: float, t: float, form: str = "code") -> float:
    r""":math:`\varepsilon = e^{-t/(s+t)}` (``code``) or :math:`e^{-t/s}` (``figure``); 1 when the ratio is 0/0."""
    if form not in EPSILON_FORMS:
        raise ValueError(f"epsilon form must be one of {', '.join(EPSILON_FORMS)}; got {form!r}")
    den = s + t if form == "code" else s
    if den <= 0:
        return 1.0 if t <= 0 else 0.0
    return math.exp(-t / den)


def threshold(s: float, t: float, form: str = "code") -> float:
    r""":math:`\delta = s - \varepsilon\,t`, between the bounds :math:`s - t` (ε = 1) and :math:`s` (ε = 0)."""
    return s - epsilon(s, t, form) * t


@dataclass(frozen=True)
class SwitchRule:
    """How the mode is decided: SwitOKD's rule and the chapter's ablations of it."""

    tau: float = 1.0  # temperature of G and of the KL terms (s, t stay at tau = 1)
    epsilon_form: Literal["code", "figure"] = "code"
    fixed_delta: float | None = None  # ablation: a constant threshold instead of the adaptive one
    require_t_lt_s: bool = True  # the code's extra condition t < s

    def __post_init__(self):
        if not self.tau > 0:
            raise ValueError(f"tau must be > 0, got {self.tau}")
        if self.epsilon_form not in EPSILON_FORMS:
            raise ValueError(f"epsilon_form must be one of {', '.join(EPSILON_FORMS)}; got {self.epsilon_form!r}")


@dataclass(frozen=True)
class SwitchStats:
    """The batch scalars of one step and the mode they select."""

    G: float
    s: float
    t: float
    eps: float
    delta: float
    expert: bool

    def as_metrics(self) -> dict[str, float]:
        return {"G": self.G, "s": self.s, "t": self.t, "eps": self.eps, "delta": self.delta,
                "expert": float(self.expert)}


def decide(G: float, s: float, t: float, rule: SwitchRule = SwitchRule()) -> SwitchStats:
    """Expert mode iff ``G > delta`` (and ``t < s`` when the rule asks for it)."""
    eps = epsilon(s, t, rule.epsilon_form)
    delta = rule.fixed_delta if rule.fixed_delta is not None else s - eps * t
    expert = G > delta and (t < s or not rule.require_t_lt_s)
    return SwitchStats(G=G, s=s, t=t, eps=eps, delta=delta, expert=bool(expert))


@torch.no_grad()
def switch_stats(z_s: torch.Tensor, z_t: torch.Tensor, y: torch.Tensor,
                 rule: SwitchRule = SwitchRule(), *, eps_from: tuple[float, float] | None = None) -> SwitchStats:
    """G, s, t, ε, δ and the mode of one batch (all from detached logits).

    ``eps_from=(s', t')`` computes ε from another pair's errors: the official multi-network
    scripts' copy-paste quirk (see :mod:`reprobook.switokd.multinet`).
    """
    G, s, t = batch_scalars(z_s, z_t, y, rule.tau)  # global-batch means: the same on every rank
    st = decide(G, s, t, rule)
    if eps_from is not None and rule.fixed_delta is None:
        eps = epsilon(*eps_from, rule.epsilon_form)
        delta = s - eps * t
        st = SwitchStats(G=G, s=s, t=t, eps=eps, delta=delta,
                         expert=bool(G > delta and (t < s or not rule.require_t_lt_s)))
    return st
