"""``reprobook train intro``: chapter 0's experiment outside the notebook, the template for the others.

Each (model, seed) pair is one resumable phase. Under ``torchrun`` every network is wrapped for
data-parallel training and each process sees its slice of every global batch; the logged losses
are those of a single-process run with the same batch size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reprobook.engine import distributed, results
from reprobook.engine.data import digits
from reprobook.engine.loop import BatchStream
from reprobook.engine.runtime import resolve_device, seed_everything
from reprobook.engine.training import TrainContext
from reprobook.intro.config import IntroConfig
from reprobook.intro.experiment import MODELS, accuracy
from reprobook.intro.model import Classifier


def train_model(cfg: IntroConfig, name: str, seed: int, ctx: TrainContext) -> float:
    device = distributed.device_for(resolve_device(cfg.device))
    seed_everything(seed)
    net = Classifier(hidden=0 if name == "linear" else cfg.hidden).to(device)
    model = distributed.wrap(net)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    train, test = digits(split="train"), digits(split="test")
    x_te, y_te = (t.to(device) for t in test.tensors)

    def step(batch, _):
        x, y = (t.to(device) for t in batch)
        model.train()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss}

    h = ctx.fit(f"{name}-seed{seed}", step, steps=cfg.steps,
                stream=BatchStream(train, batch_size=cfg.batch_size, seed=seed),
                state={"model": net, "opt": opt}, ckpt_every=max(1, cfg.steps // 4),
                eval_fn=lambda _: {"test_acc": accuracy(net, x_te, y_te)}, eval_every=cfg.eval_every)
    return h.last("test_acc")


def train(cfg: IntroConfig, ctx: TrainContext) -> results.Record:
    record = ctx.record(cfg.seed)
    acc = {m: [train_model(cfg, m, cfg.seed + s, ctx) for s in range(cfg.n_seeds)] for m in MODELS}
    record.metrics = {f"test_acc_{m}": a for m, a in acc.items()}
    record.claim("mlp-beats-linear", "A one-hidden-layer MLP classifies digits more accurately than a linear model",
                 "— (sanity check, no paper)",
                 results.compare(acc["mlp"], acc["linear"], names=("MLP", "linear"), scale=100, digits=1))
    return record
