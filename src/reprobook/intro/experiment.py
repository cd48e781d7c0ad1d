"""Chapter 0 experiment: train both classifiers over several seeds through the shared engine.

Each (model, seed) run trains on the digits' training split less a validation part carved from it
(:func:`~reprobook.engine.data.carve_validation`); the learning curve is the validation accuracy,
and the test split is evaluated once, after the last step, for the reported number. Seed *k*
fixes both models' initialisation and batch order, so the comparison is paired by seed.

:data:`GRID` is the chapter's evidence grid (``reprobook evidence intro``): both models × 10
seeds, shipped as ``evidence/intro.json`` and replayed live by the notebook.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from reprobook.engine import distributed
from reprobook.engine.config import as_dict
from reprobook.engine.data import carve_validation, digits
from reprobook.engine.evidence import Grid
from reprobook.engine.loop import BatchStream, History, PhaseFit, cached_fit
from reprobook.engine.runtime import resolve_device, seed_everything
from reprobook.intro.config import IntroConfig
from reprobook.intro.model import Classifier

MODELS = ("linear", "mlp")


@dataclass
class IntroResult:
    config: IntroConfig
    histories: dict[str, list[History]]  # model name -> one History per seed
    models: dict[str, list[Classifier]]
    test_acc: dict[str, list[float]]  # model name -> final test accuracy per seed (paired by seed)
    test: tuple[torch.Tensor, torch.Tensor]  # (x [N,1,8,8], y [N])


@torch.no_grad()
def accuracy(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return (model(x).argmax(1) == y).float().mean().item()


def splits():
    """``(train, validation, test)``: the digits' training split less a 15 % validation part, and the test split."""
    train, val = carve_validation(digits(split="train"), 0.15)
    return train, val, digits(split="test")


def train_one(cfg: IntroConfig, name: str, seed: int, train, val, *, progress: bool = True,
              fit: PhaseFit | None = None):
    """Train one model, logging validation accuracy; ``fit`` is the notebook's run cache by default,
    ``reprobook train``'s phases or the evidence grid's otherwise.

    Under ``torchrun`` the model is data-parallel and each process steps on its slice of every batch.
    """
    device = distributed.device_for(resolve_device(cfg.device))
    seed_everything(seed)
    net = Classifier(hidden=0 if name == "linear" else cfg.hidden).to(device)
    model = distributed.wrap(net)  # the network itself with one process
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    x_va, y_va = (t.to(device) for t in val.tensors)

    def step(batch, _):
        x, y = (t.to(device) for t in batch)
        model.train()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss}

    fit = fit or cached_fit("intro", as_dict(cfg))
    history = fit(f"{name}-seed{seed}", step, steps=cfg.steps,
                  stream=BatchStream(train, batch_size=cfg.batch_size, seed=seed), state={"model": net, "opt": opt},
                  ckpt_every=max(1, cfg.steps // 4), eval_fn=lambda _: {"val_acc": accuracy(net, x_va, y_va)},
                  eval_every=cfg.eval_every, desc=f"{name} seed {seed}", progress=progress)
    return net.cpu(), history


def run(cfg: IntroConfig, *, progress: bool = True) -> IntroResult:
    train, val, test = splits()
    hist, models, acc = {m: [] for m in MODELS}, {m: [] for m in MODELS}, {m: [] for m in MODELS}
    for m in MODELS:
        for s in range(cfg.n_seeds):
            model, h = train_one(cfg, m, cfg.seed + s, train, val, progress=progress)
            models[m].append(model)
            hist[m].append(h)
            acc[m].append(accuracy(model, *test.tensors))  # the test split, once, after the last step
    return IntroResult(cfg, hist, models, acc, test.tensors)


def evidence_cell(cfg: IntroConfig, arm: str, seed: int, *, fit: PhaseFit, progress: bool = True) -> dict:
    """One cell of the evidence grid: model ``arm`` trained with ``seed``; its final test accuracy."""
    train, val, test = splits()
    model, _ = train_one(cfg, arm, seed, train, val, progress=progress, fit=fit)
    return {"metrics": {"test_acc": accuracy(model, *test.tensors)}}


# On another CPU or torch version a replay may differ by rounding: a logged loss within 1 % (relative) and the
# test accuracy within a few of the 450 test digits.
GRID = Grid("intro", "reprobook.intro", arms=MODELS, run_cell=evidence_cell, seeds=10, replay_arm="mlp",
            tolerance=0.01)


@torch.no_grad()
def noisy_accuracy(model: Classifier, x: torch.Tensor, y: torch.Tensor, sigma: float, *, seed: int = 0) -> float:
    """Accuracy on test digits with Gaussian pixel noise of std ``sigma`` (the widget's quantity)."""
    g = torch.Generator().manual_seed(seed)
    noisy = (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return accuracy(model, noisy, y)
