r"""The training loop shared by GDFQ, AdaSG and AdaDFQ, in the official update order (Chapters 4-5, §Loop).

One iteration (``DFQTrainer.step``), with P frozen and in eval mode, Q in eval mode throughout
(its BN statistics stay P's; its BN affine parameters learn) and G in train mode:

1. :math:`z \sim \mathcal N(0, I)`, :math:`y \sim U\{0..C-1\}`, :math:`x = G(z|y)`;
2. :math:`z_p = P(x)` (hooks record BN statistics), :math:`z_q = Q(x)` (range update #1 while
   calibrating);
3. G's loss (the method's), **Adam step on G only**;
4. :math:`z_q' = Q(x_{detached})` on the *same* batch (range update #2 while calibrating);
5. Q's loss, **SGD step on Q only after the warm-up epochs** (during warm-up only G learns,
   while the activation ranges calibrate on G's evolving samples).

The activation ranges update during the first ``calib_epochs`` epochs (4 in the official code)
and are frozen afterwards and for every test. Both learning rates follow the multistep
schedule (×0.1 once ``epoch + 1 > step``). After each epoch Q is tested; the official code
reports the best epoch, we report best and final.

With ``trace_every`` the loop also probes the game every few iterations on a fixed probe set
of (z, y): the mean adaptability :math:`R = 1 - H'` after G's step (G new, Q old) and after Q's
step (both new). This does not change training (no gradients, frozen ranges, fixed probe noise
from its own generator).

Data parallelism (``torchrun``): G and Q are each wrapped for DDP (``distributed.wrap``); P is
frozen and not wrapped. The noise and labels of every global batch are drawn from the same
seeded stream on every rank and sliced (``local_slice``), so the global batch is the
single-process one; the BNS moments, the batch minimum in H' and the activation ranges are
global (see :mod:`~reprobook.dfq.losses`, :mod:`~reprobook.dfq.adaptability`,
:mod:`~reprobook.dfq.quant`). In G's step Q is frozen and run *unwrapped* (its DDP module must
not wait for a backward it never gets); in Q's step the DDP module runs on the detached batch,
so no gradient of one player reaches the other's DDP module. During warm-up (no Q step) Q's
second forward runs without gradients. The probes are sharded like the training batches.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch
from torch import nn

from reprobook.dfq.adaptability import entropy_ratio, normalized_entropy
from reprobook.dfq.generator import Generator, ImageNetGenerator
from reprobook.dfq.losses import BNSLoss
from reprobook.dfq.methods import Method
from reprobook.dfq.quant import frozen_ranges, quantize_model, set_running_stat
from reprobook.engine import distributed
from reprobook.engine.loop import History, fit


@dataclass(frozen=True)
class Schedule:
    """Length and optimisation settings of one data-free run (official: 400 × 200, batch 16)."""

    epochs: int = 400
    iters_per_epoch: int = 200
    batch_size: int = 16
    warmup_epochs: int = 4  # only G learns
    calib_epochs: int = 4  # activation ranges update (EMA) while epoch < calib_epochs
    lr_q: float = 1e-4  # SGD, Nesterov, momentum 0.9, weight decay 1e-4
    lr_g: float = 1e-3  # Adam (0.5, 0.999)
    lr_steps: tuple[int, ...] = (100, 200, 300)
    temperature: float = 20.0  # hard-coded: 20 CIFAR, 5 ImageNet
    latent_dim: int = 100

    def lr_factor(self, epoch: int) -> float:
        """Multistep factor of epoch ``epoch`` (0-based): 0.1 per step with ``epoch + 1 > step``."""
        return 0.1 ** sum(epoch + 1 > s for s in self.lr_steps)

    @property
    def steps(self) -> int:
        return self.epochs * self.iters_per_epoch


class Trace:
    """Game probes of one run (lists of floats), checkpointed with the run."""

    KEYS = ("step", "R_pre", "R_max", "R_min", "R_hist")

    def __init__(self):
        self.data: dict[str, list] = {k: [] for k in self.KEYS}

    def add(self, **values) -> None:
        for k in self.KEYS:
            self.data[k].append(values[k])

    def state_dict(self) -> dict:
        return {k: list(v) for k, v in self.data.items()}

    def load_state_dict(self, state: dict) -> None:
        self.data = {k: list(state[k]) for k in self.KEYS}


@dataclass
class DFQOutcome:
    method: str
    bits: int
    seed: int
    history: History
    test_acc: list[float]  # per epoch
    trace: dict[str, list] = field(default_factory=dict)  # game probes (step, R_max, R_min, R_hist)
    G: nn.Module | None = None
    Q: nn.Module | None = None

    @property
    def best(self) -> float:
        return max(self.test_acc)

    @property
    def final(self) -> float:
        return self.test_acc[-1]


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch: int = 500) -> float:
    """Top-1 of ``model`` (eval mode, ranges frozen) on ``x [N, C, H, W]``."""
    model.eval()
    with frozen_ranges(model):
        correct = sum((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
                      for i in range(0, len(x), batch))
    return correct / len(x)


def _gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenation over ranks of equal-size slices ``x`` (no gradient); ``x`` itself in one process."""
    if not distributed.current().enabled:
        return x
    parts = [torch.empty_like(x) for _ in range(distributed.world_size())]
    torch.distributed.all_gather(parts, x.contiguous())
    return torch.cat(parts)


class DFQTrainer:
    """P, its quantized copy Q, the generator G and their optimisers, for one method and bit width."""

    def __init__(self, P: nn.Module, *, method: Method, bits: int, classes: int, img_size: int, channels: int,
                 schedule: Schedule, ema: str = "plain", gen_width: int = 128, imagenet_generator: bool = False,
                 trace_every: int = 0, probe_batches: int = 2, probe_seed: int = 12345,
                 device: torch.device | str = "cpu"):
        self.device, self.method, self.bits, self.schedule = torch.device(device), method, bits, schedule
        self.classes, self.trace_every = classes, trace_every
        self.P = P.to(self.device).eval()
        for p in self.P.parameters():  # frozen (the official code leaves requires_grad on, unused)
            p.requires_grad_(False)
        self.Q = quantize_model(self.P, w_bits=bits, a_bits=bits, ema=ema).eval()
        for p in self.Q.parameters():
            p.requires_grad_(True)
        G_cls = ImageNetGenerator if imagenet_generator else Generator
        self.G = G_cls(classes=classes, latent_dim=schedule.latent_dim, img_size=img_size, channels=channels,
                       width=gen_width).to(self.device).train()
        # DDP players (identity in one process); self.G / self.Q stay the plain modules. Wrapping
        # replaces batch-norm layers (global statistics), so the optimisers are built after it.
        self.G_dp, self.Q_dp = distributed.wrap(self.G), distributed.wrap(self.Q)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=schedule.lr_g, betas=(0.5, 0.999))
        self.opt_Q = torch.optim.SGD(self.Q.parameters(), lr=schedule.lr_q, momentum=0.9, nesterov=True,
                                     weight_decay=1e-4)
        self.bns = BNSLoss(self.P)
        g = torch.Generator().manual_seed(probe_seed)
        B = schedule.batch_size
        self.probe = [(torch.randn(B, schedule.latent_dim, generator=g).to(self.device),
                       torch.randint(0, classes, (B,), generator=g).to(self.device)) for _ in range(probe_batches)]
        self.trace = Trace()

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's share of a global batch of noise and labels (the whole batch in one process)."""
        B, d = self.schedule.batch_size, self.schedule.latent_dim
        z = torch.randn(B, d, device=self.device)  # [B, latent], same stream on every rank
        y = torch.randint(0, self.classes, (B,), device=self.device)  # [B]
        s = distributed.local_slice(B)
        return z[s], y[s]

    def _set_epoch(self, epoch: int) -> None:
        f = self.schedule.lr_factor(epoch)
        for opt, lr in ((self.opt_G, self.schedule.lr_g), (self.opt_Q, self.schedule.lr_q)):
            for group in opt.param_groups:
                group["lr"] = lr * f
        set_running_stat(self.Q, epoch < self.schedule.calib_epochs)

    def step(self, _batch, step: int) -> dict[str, float]:
        """One iteration in the official order; ``step`` counts from 1."""
        s = self.schedule
        epoch = (step - 1) // s.iters_per_epoch
        self._set_epoch(epoch)
        # 1-2. generate, forward through P and Q
        z, y = self.sample()
        x = self.G_dp(z, y)  # [B, C, H, W]
        z_p = self.P(x)  # [B, classes]; BN hooks record the statistics of x in P
        self.Q.requires_grad_(False)  # L_G reaches G through Q (STE) but Q is not updated here
        z_q = self.Q(x)  # plain module: no DDP reducer for a backward that leaves Q untouched
        h = normalized_entropy(z_p, z_q)  # H' [B]
        # 3. G step (max step): Adam on G only
        parts = self.method.g_loss(z_p, z_q, y, self.bns.loss(), h)
        self.opt_G.zero_grad(set_to_none=True)
        parts["loss_G"].backward()
        self.opt_G.step()
        tracing = bool(self.trace_every) and step % self.trace_every == 0
        if tracing:
            R_max = self._probe_R()  # G new, Q old
        # 4-5. Q step (min step) on the same, detached batch
        self.Q.requires_grad_(True)
        if epoch >= s.warmup_epochs:
            z_q2 = self.Q_dp(x.detach())
            loss_Q = self.method.q_loss(z_p.detach(), z_q2, y, T=s.temperature)
            self.opt_Q.zero_grad(set_to_none=True)
            loss_Q.backward()
            self.opt_Q.step()
        else:  # warm-up: same forward (range update #2), no step, so no DDP backward to expect
            with torch.no_grad():
                loss_Q = self.method.q_loss(z_p.detach(), self.Q(x.detach()), y, T=s.temperature)
        hd = h.detach()
        m = self.method
        out = {**{k: v.detach() for k, v in parts.items()}, "loss_Q": loss_Q.detach(), "H": hd.mean(),
               "H_ratio": entropy_ratio(z_p.detach(), z_q.detach()).mean(),
               "below": (hd < m.lambda_l).float().mean(), "above": (hd > m.lambda_u).float().mean()}
        if tracing:
            R_min = self._probe_R()  # G new, Q new
            self.trace.add(step=step, R_pre=float(1 - hd.mean()), R_max=R_max.mean().item(),
                           R_min=R_min.mean().item(), R_hist=R_max.tolist())
        return out

    @torch.no_grad()
    def _probe_R(self) -> torch.Tensor:
        """Adaptability 1 − H' of the fixed probe set, one batch-normalisation per batch: ``[n_probe]``."""
        sl = distributed.local_slice(self.schedule.batch_size)  # each rank probes its share, as in training
        with frozen_ranges(self.Q):
            return torch.cat([_gather(1 - normalized_entropy(self.P(xb := self.G(z[sl], y[sl])), self.Q(xb)))
                              for z, y in self.probe])

    def run(self, *, evaluate, checkpoint=None, fit_fn=None, desc: str = "", progress: bool = True) -> History:
        """Train for ``schedule.steps`` iterations; ``evaluate(Q) -> top-1`` after every epoch.

        ``fit_fn(step_fn, **kwargs)`` runs the loop (default: :func:`~reprobook.engine.loop.fit`
        with ``checkpoint``); a ``reprobook train`` run passes its own checkpointed phase.
        """
        s = self.schedule
        if fit_fn is None:
            fit_fn = functools.partial(fit, checkpoint=checkpoint)
        return fit_fn(self.step, steps=s.steps, state={"G": self.G, "Q": self.Q, "opt_G": self.opt_G,
                                                       "opt_Q": self.opt_Q, "trace": self.trace},
                      ckpt_every=s.iters_per_epoch, eval_every=s.iters_per_epoch,
                      eval_fn=lambda _: {"test_acc": evaluate(self.Q)}, desc=desc, progress=progress)


@torch.no_grad()
def ptq(P: nn.Module, batches, *, bits: int, ema: str = "plain") -> nn.Module:
    """Post-training quantization: quantize P, calibrate the ranges on ``batches`` (no fine-tuning)."""
    Q = quantize_model(P, w_bits=bits, a_bits=bits, ema=ema).eval()
    set_running_stat(Q, True)
    for x in batches:
        Q(x)
    set_running_stat(Q, False)
    return Q
