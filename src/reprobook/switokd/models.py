"""The book run's networks (Chapter 3, §The run): MLPs of very different capacity on 8×8 digits.

The paper's pairs have a large capacity gap (WRN-16-8 → WRN-16-1 is 62× in parameters); the
book keeps that regime at CPU scale with a wide two-hidden-layer teacher and a narrow
one-hidden-layer student.
"""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """``x [B, ...] → flatten → (Linear, ReLU) × len(hidden) → Linear → logits [B, classes]``."""

    def __init__(self, *, in_features: int = 64, hidden: tuple[int, ...] = (64,), classes: int = 10):
        super().__init__()
        if any(h < 1 for h in hidden):
            raise ValueError(f"hidden widths must be >= 1, got {hidden}")
        layers, d = [], in_features
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))  # [B, 1, 8, 8] -> [B, 64] -> [B, classes]


def book_teacher(width: int, *, in_features: int = 64, classes: int = 10) -> MLP:
    """Two hidden layers of ``width`` units."""
    return MLP(in_features=in_features, hidden=(width, width), classes=classes)


def book_student(width: int, *, in_features: int = 64, classes: int = 10) -> MLP:
    """One hidden layer of ``width`` units."""
    return MLP(in_features=in_features, hidden=(width,), classes=classes)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
