"""The experiments of Chapters 4 (AdaSG) and 5 (AdaDFQ), run through :func:`reprobook.engine.loop.fit`.

Both chapters first train the full-precision net P on the real training set (inside the run,
or load ``fp_weights``), then quantize it without data:

* baselines: PTQ calibrated on real training batches and on N(0, 1) noise (no fine-tuning),
  and GDFQ (its G and Q losses in the shared loop);
* Chapter 4: AdaSG at the main bit width over ``n_seeds`` seeds (every run traces the game),
  the extension bit width over ``ext_seeds`` seeds, and the ablations "AdaSG without the band"
  and "AdaSG with the official recursive range EMA";
* Chapter 5: GDFQ, AdaSG and AdaDFQ likewise, the ablations w/o L_ds and w/o L_as, and AdaDFQ
  with the extra bands ``cfg.bands``.

Every data-free run has its own resumable checkpoint keyed by config, method, bit width and seed.
A ``fitter(tag, key) -> fit_fn`` decides where: by default a run checkpoint in the run directory;
``reprobook train`` passes one phase of its run per tag (:mod:`reprobook.dfq.trainer`).

Under ``torchrun`` P trains data-parallel (its ±1-pixel shifts drawn for the global batch), the
data-free runs are data-parallel (:mod:`reprobook.dfq.train`), and every evaluation is sharded
over the ranks and its counts summed.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

from reprobook.dfq import adadfq as _adadfq
from reprobook.dfq.adaptability import entropy_ratio, normalized_entropy
from reprobook.dfq.adasg import adasg_method
from reprobook.dfq.config import DFQConfig
from reprobook.dfq.data import real_sets, standardized_digits
from reprobook.dfq.methods import GDFQ, Method
from reprobook.dfq.models import build_model
from reprobook.dfq.quant import frozen_ranges
from reprobook.dfq.train import DFQOutcome, DFQTrainer, Schedule, ptq
from reprobook.engine import distributed
from reprobook.engine.checkpoint import CheckpointError, load_checkpoint, load_state_dict_checked, run_checkpoint
from reprobook.engine.config import as_dict
from reprobook.engine.loop import BatchStream, History, fit
from reprobook.engine.runtime import resolve_device, seed_everything

WORKERS = min(4, os.cpu_count() or 1)  # image-decoding workers for real datasets


Fitter = Callable[[str, dict], Callable[..., History]]


def checkpointed(tag: str, key: dict) -> Callable[..., History]:
    """The notebook's fitter: :func:`fit` with a run checkpoint named by ``tag`` and hashed from ``key``."""
    return functools.partial(fit, checkpoint=run_checkpoint(tag, key))


@dataclass
class Prepared:
    cfg: DFQConfig
    P: nn.Module
    fp_acc: float
    train: Dataset
    test: Dataset
    device: torch.device
    fitter: Fitter = checkpointed


@torch.no_grad()
def evaluate(model: nn.Module, test: Dataset, device: torch.device) -> float:
    """Top-1 on ``test`` (eval mode, activation ranges frozen); sharded over ranks in a process group."""
    model.eval()
    ctx = distributed.current()
    lo, hi = len(test) * ctx.rank // ctx.world_size, len(test) * (ctx.rank + 1) // ctx.world_size
    if isinstance(test, TensorDataset):
        batches = [(test.tensors[0][i:min(i + 500, hi)], test.tensors[1][i:min(i + 500, hi)])
                   for i in range(lo, hi, 500)]
    else:
        shard = test if ctx.world_size == 1 else torch.utils.data.Subset(test, range(lo, hi))
        batches = DataLoader(shard, batch_size=200, num_workers=WORKERS)
    correct = n = 0
    with frozen_ranges(model):  # no range update, so no collective inside the (uneven) shard loop
        for x, y in batches:
            correct += (model(x.to(device)).argmax(1).cpu() == y).sum().item()
            n += len(y)
    correct, n = distributed.all_reduce(torch.tensor([correct, n], dtype=torch.float64, device=device), "sum").tolist()
    return correct / n


def _shift(x: torch.Tensor, *, n_global: int | None = None) -> torch.Tensor:
    """Random ±1-pixel shift of each image (zero padding): ``[B, C, H, W]``.

    The shifts are drawn for the global batch of ``n_global`` (default: this batch) and this
    rank's share is kept, so data-parallel ranks shift as one process would.
    """
    B, _, H, W = x.shape
    padded = F.pad(x, (1, 1, 1, 1))
    dy, dx = torch.randint(0, 3, (2, n_global or B))[:, distributed.local_slice(n_global or B)]
    rows = (dy[:, None] + torch.arange(H))[:, None, :, None].expand(B, x.shape[1], H, W + 2)
    x = padded.gather(2, rows)  # [B, C, H, W+2]
    cols = (dx[:, None] + torch.arange(W))[:, None, None, :].expand(B, x.shape[1], H, W)
    return x.gather(3, cols)


def train_fp(cfg: DFQConfig, P: nn.Module, train: Dataset, *, device: torch.device, progress: bool = True,
             fitter: Fitter = checkpointed) -> None:
    """Train P with Adam (weight decay 1e-4, cosine learning rate) for ``cfg.fp_epochs`` epochs.

    Data-parallel under ``torchrun``: a copy of P is wrapped (global batch norm + DDP) and its
    trained weights are loaded back into P, which keeps plain BatchNorm layers for the BNS hooks.
    """
    stream = BatchStream(train, batch_size=cfg.fp_batch, seed=cfg.seed, num_workers=WORKERS)
    steps = cfg.fp_epochs * stream.steps_per_epoch
    net = copy.deepcopy(P) if distributed.current().enabled else P
    model = distributed.wrap(net)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.fp_lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    digits = cfg.dataset == "digits"

    def step(batch, _):
        x, y = (t.to(device) for t in batch)
        model.train()
        loss = F.cross_entropy(model(_shift(x, n_global=cfg.fp_batch) if digits else x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": loss}

    key = {k: v for k, v in as_dict(cfg).items() if k in ("dataset", "model", "widths", "units", "fp_epochs",
                                                           "fp_lr", "fp_batch", "seed")}
    fitter("dfq-fp", key)(step, steps=steps, stream=stream, state={"P": net, "opt": opt, "sched": sched},
                          ckpt_every=max(1, steps // 4), desc="full-precision P", progress=progress)
    if net is not P:
        P.load_state_dict(net.state_dict())
    P.eval()


def fp_state(path: str) -> dict:
    """P's state dict from ``path``: a plain state dict, or the ``dfq-fp`` checkpoint of an earlier run.

    Read with ``weights_only=True``; anything else fails with one line.
    """
    saved = load_checkpoint(path)
    if isinstance(saved, dict) and isinstance(saved.get("state"), dict) and "P" in saved["state"]:
        saved = saved["state"]["P"]  # a training checkpoint of the full-precision phase
    if not isinstance(saved, dict) or not all(isinstance(v, torch.Tensor) for v in saved.values()):
        raise CheckpointError(f"fp_weights {path} is not a state dict of P (nor a full-precision checkpoint)")
    return saved


def prepare(cfg: DFQConfig, *, progress: bool = True, fitter: Fitter = checkpointed) -> Prepared:
    """Data and the full-precision P (trained in the run unless ``cfg.fp_weights`` is given)."""
    device = distributed.device_for(resolve_device(cfg.device))
    if cfg.dataset == "digits":
        dtype = getattr(torch, cfg.dtype)
        train, test = (TensorDataset(d.tensors[0].to(dtype), d.tensors[1]) for d in standardized_digits())
    else:
        train, test = real_sets(cfg.dataset, cfg.data_root)
    seed_everything(cfg.seed)
    P = build_model(cfg.model, classes=cfg.classes, in_channels=cfg.channels, units=cfg.units,
                    widths=cfg.widths).to(device)
    if cfg.fp_weights:
        load_state_dict_checked(P, fp_state(cfg.fp_weights), what=f"fp_weights {cfg.fp_weights}")
    else:
        train_fp(cfg, P, train, device=device, progress=progress, fitter=fitter)
    P.eval()
    return Prepared(cfg, P, evaluate(P, test, device), train, test, device, fitter)


def schedule(cfg: DFQConfig) -> Schedule:
    return Schedule(epochs=cfg.epochs, iters_per_epoch=cfg.iters_per_epoch, batch_size=cfg.batch_size,
                    warmup_epochs=cfg.warmup_epochs, calib_epochs=cfg.calib_epochs, lr_q=cfg.lr_q, lr_g=cfg.lr_g,
                    lr_steps=cfg.lr_steps, temperature=cfg.temperature, latent_dim=cfg.latent_dim)


def dfq_run(prep: Prepared, method: Method, *, bits: int, seed: int, trace: bool = False, ema: str | None = None,
            progress: bool = True, keep_models: bool = False, probe_batches: int = 2) -> DFQOutcome:
    """One data-free quantization run of ``method`` at WbAb from P, checkpointed and resumable (the game
    traced on ``probe_batches`` fixed batches with ``trace``)."""
    cfg = prep.cfg
    seed_everything(seed)
    trainer = DFQTrainer(prep.P, method=method, bits=bits, classes=cfg.classes, img_size=cfg.img_size,
                         channels=cfg.channels, schedule=schedule(cfg), ema=ema or cfg.ema, gen_width=cfg.gen_width,
                         imagenet_generator=cfg.dataset == "imagenet",
                         trace_every=cfg.trace_every if trace else 0, probe_batches=probe_batches,
                         device=prep.device)
    tag = re.sub(r"[^A-Za-z0-9]+", "_", f"{cfg.chapter}-{method.name}-w{bits}-s{seed}-{ema or cfg.ema}")
    key = {**as_dict(cfg), "method": dataclasses.asdict(method), "bits": bits, "run_seed": seed, "trace": trace,
           "ema_run": ema, **({"probe_batches": probe_batches} if probe_batches != 2 else {})}
    try:
        history = trainer.run(evaluate=lambda m: evaluate(m, prep.test, prep.device), fit_fn=prep.fitter(tag, key),
                              desc=f"{method.name} W{bits}A{bits} seed {seed}", progress=progress)
    finally:
        trainer.bns.remove()
    out = DFQOutcome(method.name, bits, seed, history, history.series("test_acc")[1], trainer.trace.state_dict())
    if keep_models:
        out.G, out.Q = trainer.G.eval(), trainer.Q
        out.G.train()  # G is only ever used in train mode (batch statistics)
    return out


def ptq_baselines(prep: Prepared, bits: int) -> dict[str, float]:
    """PTQ calibrated on real training batches (plain and official EMA) and on N(0, 1) noise."""
    cfg = prep.cfg
    g = torch.Generator().manual_seed(cfg.seed)
    x = prep.train.tensors[0] if isinstance(prep.train, TensorDataset) else torch.stack(
        [prep.train[i][0] for i in range(cfg.ptq_batches * cfg.batch_size)])
    idx = torch.randperm(len(x), generator=g)[: cfg.ptq_batches * cfg.batch_size].view(cfg.ptq_batches, -1)
    real = [x[i].to(prep.device) for i in idx]
    noise = [torch.randn((cfg.batch_size, *x.shape[1:]), generator=g).to(prep.device) for _ in range(cfg.ptq_batches)]
    return {"PTQ (real data)": evaluate(ptq(prep.P, real, bits=bits), prep.test, prep.device),
            "PTQ (Gaussian noise)": evaluate(ptq(prep.P, noise, bits=bits), prep.test, prep.device),
            "PTQ (real data, official EMA)": evaluate(ptq(prep.P, real, bits=bits, ema="bias_corrected"),
                                                      prep.test, prep.device)}


def chapter_method(cfg: DFQConfig, bits: int) -> Method:
    """The chapter's own method at ``bits``, with the notebook's knob overrides applied."""
    if cfg.chapter == "adasg":
        m = adasg_method()
    else:
        m = _adadfq.adadfq_method(cfg.model, bits)
    changes = {k: getattr(cfg, k) for k in ("alpha_ds", "alpha_as", "lambda_l", "lambda_u") if getattr(cfg, k) is not None}
    return dataclasses.replace(m, **changes)


@dataclass
class DFQResult:
    cfg: DFQConfig
    fp_acc: float
    ptq: dict[int, dict[str, float]]  # bits -> baseline -> top-1
    runs: dict[tuple[str, int], list[DFQOutcome]]  # (method, bits) -> one outcome per seed
    ablations: dict[str, DFQOutcome] = field(default_factory=dict)  # name -> outcome (main bits, seed 0)
    histograms: dict[str, np.ndarray] = field(default_factory=dict)  # name -> H/log C of a fixed sample set
    prep: Prepared | None = None

    def top1(self, method: str, bits: int, which: str = "final") -> list[float]:
        """Q's test top-1 per seed: at the final epoch (what the claims use), or ``which="best"``, the
        official code's best test epoch (selected on the test set, kept only for reference)."""
        return [getattr(o, which) for o in self.runs[(method, bits)]]

    @property
    def bit_widths(self) -> list[int]:
        return [self.cfg.bits] + ([self.cfg.extension_bits] if self.cfg.extension_bits and self.cfg.ext_seeds else [])


def _methods(cfg: DFQConfig, bits: int) -> list[Method]:
    """GDFQ, AdaSG (Chapter 4: with the notebook's knobs) and, in Chapter 5, AdaDFQ; only the
    chapter's own method without ``cfg.baselines``."""
    if not cfg.baselines:
        return [chapter_method(cfg, bits)]
    if cfg.chapter == "adasg":
        return [GDFQ, chapter_method(cfg, bits)]
    return [GDFQ, adasg_method(), chapter_method(cfg, bits)]


def run(cfg: DFQConfig, *, progress: bool = True, fitter: Fitter = checkpointed) -> DFQResult:
    """The chapter's whole experiment (``cfg.chapter`` selects AdaSG's or AdaDFQ's)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, cfg.dtype))  # networks and noise in cfg.dtype
    try:
        return _run(cfg, progress=progress, fitter=fitter)
    finally:
        torch.set_default_dtype(old)


def _run(cfg: DFQConfig, *, progress: bool, fitter: Fitter) -> DFQResult:
    prep = prepare(cfg, progress=progress, fitter=fitter)
    res = DFQResult(cfg, prep.fp_acc, {}, {}, prep=prep)
    for bits in res.bit_widths:
        res.ptq[bits] = ptq_baselines(prep, bits)
        seeds = cfg.n_seeds if bits == cfg.bits else cfg.ext_seeds
        for m in _methods(cfg, bits):
            trace = cfg.chapter == "adasg" and m.name == "AdaSG" and bits == cfg.bits
            keep = m.name == ("AdaSG" if cfg.chapter == "adasg" else "AdaDFQ")
            res.runs[(m.name, bits)] = [dfq_run(prep, m, bits=bits, seed=cfg.seed + s, trace=trace, progress=progress,
                                                keep_models=keep and s == 0) for s in range(seeds)]
    if cfg.ablations:
        b, s0 = cfg.bits, cfg.seed
        if cfg.chapter == "adasg":
            base = res.runs[("AdaSG", b)][0]
            res.ablations["AdaSG"] = base
            res.ablations["AdaSG w/o band"] = dfq_run(prep, dataclasses.replace(chapter_method(cfg, b), name="AdaSG w/o band",
                                                                                hinge=False), bits=b, seed=s0, progress=progress)
            res.ablations["AdaSG, official EMA"] = dfq_run(prep, chapter_method(cfg, b), bits=b, seed=s0, ema="bias_corrected",
                                                           progress=progress)
        else:
            full = chapter_method(cfg, b)
            res.ablations["AdaDFQ"] = res.runs[("AdaDFQ", b)][0]
            for name, m in (("w/o L_ds", dataclasses.replace(full, name="w/o L_ds", alpha_ds=0.0)),
                            ("w/o L_as", dataclasses.replace(full, name="w/o L_as", alpha_as=0.0))):
                res.ablations[name] = dfq_run(prep, m, bits=b, seed=s0, progress=progress, keep_models=True)
            for lo, hi in cfg.bands:
                name = f"band [{lo:g}, {hi:g}]"
                res.ablations[name] = dfq_run(prep, dataclasses.replace(full, name=name, lambda_l=lo, lambda_u=hi),
                                              bits=b, seed=s0, progress=progress)
            for name in ("w/o L_ds", "w/o L_as", "AdaDFQ"):
                o = res.ablations[name]
                res.histograms[name] = sample_entropy(prep, o.G, o.Q, n_batches=64)["ratio"]
    return res


@torch.no_grad()
def sample_entropy(prep: Prepared, G: nn.Module, Q: nn.Module, *, n_batches: int = 8, seed: int = 2023) -> dict[str, np.ndarray]:
    """H' (batch-normalised, per batch of 16) and H/log C of ``n_batches`` fixed generated batches."""
    cfg = prep.cfg
    g = torch.Generator().manual_seed(seed)
    hp, ratio = [], []
    with frozen_ranges(Q):
        for _ in range(n_batches):
            z = torch.randn(cfg.batch_size, cfg.latent_dim, generator=g).to(prep.device)
            y = torch.randint(0, cfg.classes, (cfg.batch_size,), generator=g).to(prep.device)
            x = G(z, y)
            z_p, z_q = prep.P(x), Q(x)
            hp.append(normalized_entropy(z_p, z_q)), ratio.append(entropy_ratio(z_p, z_q))
    return {"h_prime": torch.cat(hp).cpu().numpy(), "ratio": torch.cat(ratio).cpu().numpy()}


def summary(res: DFQResult) -> dict[str, object]:
    """Metrics for the results record: FP, PTQ, and final top-1 per method, bit width and seed (and the
    official best test epoch, selected on the test set, for reference only)."""
    out: dict[str, object] = {"fp_top1": res.fp_acc}
    for bits, d in res.ptq.items():
        for name, v in d.items():
            out[f"W{bits}A{bits} {name}"] = v
    for (m, bits), runs in res.runs.items():
        out[f"W{bits}A{bits} {m} best"] = [o.best for o in runs]  # test-selected (official quirk)
        out[f"W{bits}A{bits} {m} final"] = [o.final for o in runs]
    for name, o in res.ablations.items():
        out[f"ablation W{res.cfg.bits}A{res.cfg.bits} {name} best/final"] = [o.best, o.final]
    return out
