"""Chapter 0 models: softmax regression and a one-hidden-layer MLP."""

from __future__ import annotations

import torch
from torch import nn


class Classifier(nn.Module):
    """``hidden=0``: linear :math:`Wx+b`; ``hidden>0``: :math:`W_2\\,\\mathrm{ReLU}(W_1x+b_1)+b_2`."""

    def __init__(self, *, in_features: int = 64, hidden: int = 0, classes: int = 10):
        super().__init__()
        if hidden < 0:
            raise ValueError(f"hidden must be >= 0, got {hidden}")
        self.net = (nn.Linear(in_features, classes) if hidden == 0 else
                    nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))  # [B, 1, 8, 8] -> [B, 64] -> logits [B, classes]
