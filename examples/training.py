"""Training shared by the examples: a seeded Adam loop over minibatches."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["fit"]


def fit(
    model: torch.nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    seed: int,
    lr: float = 3e-3,
    batch: int = 64,
) -> torch.nn.Module:
    """Train ``model`` on ``(x, y)`` with cross-entropy (seeded); return it in eval mode."""
    inputs = torch.tensor(x, dtype=torch.float32)
    labels = torch.tensor(y)
    opt = torch.optim.Adam(model.parameters(), lr)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for i in range(0, len(inputs), batch):
            rows = order[i : i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(inputs[rows]), labels[rows])
            loss.backward()
            opt.step()
    return model.eval()
