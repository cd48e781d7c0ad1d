"""Chapter 0 figures, drawn from a run's :class:`~reprobook.intro.experiment.IntroResult`."""

from __future__ import annotations

import numpy as np

from reprobook.engine.plots import PALETTE, figure
from reprobook.intro.experiment import MODELS, IntroResult, noisy_accuracy


def learning_curves(res: IntroResult):
    """Validation accuracy against SGD step, mean and range over seeds, for both models."""
    fig, ax = figure(width=5.0, height=3.2)
    for color, m in zip(PALETTE, MODELS):
        steps, _ = res.histories[m][0].series("val_acc")
        vals = np.array([h.series("val_acc")[1] for h in res.histories[m]])  # [seeds, evals]
        ax.plot(steps, vals.mean(0), color=color, label=f"{m} ({len(vals)} seeds)")
        ax.fill_between(steps, vals.min(0), vals.max(0), color=color, alpha=0.2)
    ax.set(xlabel="SGD step", ylabel="validation accuracy")
    ax.legend(loc="lower right")
    return fig


def noise_panel(res: IntroResult, sigma: float = 0.3):
    """Accuracy under pixel noise of std ``sigma`` for both models, with a few noisy test digits."""
    x, y = res.test
    fig, (ax_img, ax_bar) = figure(2, width=3.4, height=2.8)
    import torch

    g = torch.Generator().manual_seed(0)
    noisy = (x[:16] + sigma * torch.randn(x[:16].shape, generator=g)).clamp(0, 1)
    from reprobook.engine.plots import image_grid

    image_grid(ax_img, noisy, nrow=8, title=f"test digits, noise σ = {sigma:.2f}")
    accs = [np.mean([noisy_accuracy(mod, x, y, sigma) for mod in res.models[m]]) for m in MODELS]
    ax_bar.bar(MODELS, accs, color=PALETTE[: len(MODELS)])
    for i, a in enumerate(accs):
        ax_bar.text(i, a + 0.02, f"{a:.3f}", ha="center")
    ax_bar.set(ylim=(0, 1.1), ylabel="test accuracy (mean over seeds)")
    return fig
