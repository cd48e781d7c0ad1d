r"""One training step of online distillation between a teacher and a student (Chapter 3, §The run).

``method`` selects what the step does with the same two networks and the same batch:

- ``switokd``: SwitOKD. Both forwards run in train mode, then the batch scalars
  (:func:`~reprobook.switokd.switch.switch_stats`) pick the mode. **Expert mode**: only the
  student takes a step on :math:`L_s = \mathrm{CE}(z_s,y) + \mathrm{KL}(p_t^\tau\|p_s^\tau)`;
  the teacher's optimizer does not step at all (no weight decay, no momentum drift).
  **Learning mode**: the teacher also steps, on :math:`L_t = \mathrm{CE}(z_t,y) +
  \mathrm{KL}(p_s^\tau\|p_t^\tau)` (the DML update).
- ``dml``: deep mutual learning = SwitOKD that never switches; the would-be mode is logged only.
- ``vanilla``: each network on its own cross-entropy (no distillation term), same loop.
- ``kd``: offline KD reference: a fixed, pre-trained teacher (eval mode, no optimizer) and the
  student's :math:`L_s`.

Learning rates follow a step schedule: ``lr = base · gamma^k`` where ``k`` counts the milestones
(1-based epochs, as the official ``adjust_learning_rate``) reached by the current epoch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reprobook.switokd.switch import SwitchRule, kl_div, switch_stats

METHODS = ("switokd", "dml", "vanilla", "kd")


def lr_at(base: float, epoch: int, milestones: tuple[int, ...], gamma: float = 0.1) -> float:
    """Learning rate in 0-based ``epoch``: ``base · gamma^#{m ∈ milestones : m ≤ epoch + 1}``."""
    return base * gamma ** sum(1 for m in milestones if m <= epoch + 1)


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


def student_loss(z_s: torch.Tensor, z_t: torch.Tensor, y: torch.Tensor, tau: float) -> torch.Tensor:
    r""":math:`L_s = \mathrm{CE}(z_s, y) + \mathrm{KL}(p_t^\tau \| p_s^\tau)` (teacher logits detached)."""
    return F.cross_entropy(z_s, y) + kl_div(z_t, z_s, tau)


def teacher_loss(z_t: torch.Tensor, z_s: torch.Tensor, y: torch.Tensor, tau: float) -> torch.Tensor:
    r""":math:`L_t = \mathrm{CE}(z_t, y) + \mathrm{KL}(p_s^\tau \| p_t^\tau)` (student logits detached)."""
    return F.cross_entropy(z_t, y) + kl_div(z_s, z_t, tau)


def okd_step(x: torch.Tensor, y: torch.Tensor, *, teacher: nn.Module, student: nn.Module,
             opt_t: torch.optim.Optimizer | None, opt_s: torch.optim.Optimizer, method: str = "switokd",
             rule: SwitchRule = SwitchRule()) -> dict[str, float]:
    """One step of ``method`` on batch ``(x [B,...], y [B])``; returns the logged batch scalars.

    ``expert`` is the mode the rule selects (for DML/vanilla/KD: the would-be mode);
    ``paused`` is 1 when the teacher really skipped its step.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    student.train()
    if method == "kd":
        teacher.eval()
        with torch.no_grad():
            z_t = teacher(x)  # [B, C]
    else:
        teacher.train()
        z_t = teacher(x)  # [B, C], graph kept: the mode is not known yet
    z_s = student(x)  # [B, C]
    st = switch_stats(z_s.detach(), z_t.detach(), y, rule)
    pause = method == "switokd" and st.expert
    train_teacher = method in ("switokd", "dml", "vanilla") and not pause

    # 1. student: every method, every step
    if method == "vanilla":
        loss_s = F.cross_entropy(z_s, y)
    else:
        loss_s = student_loss(z_s, z_t, y, rule.tau)
    opt_s.zero_grad(set_to_none=True)
    loss_s.backward()
    # 2. teacher: learning mode only (expert mode = no backward and no optimizer step)
    if train_teacher:
        loss_t = F.cross_entropy(z_t, y) if method == "vanilla" else teacher_loss(z_t, z_s, y, rule.tau)
        opt_t.zero_grad(set_to_none=True)
        loss_t.backward()
        opt_t.step()
    opt_s.step()
    return {**st.as_metrics(), "paused": float(pause), "loss_s": loss_s.item()}
