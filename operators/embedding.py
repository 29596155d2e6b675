"""Periodic coordinate channels: ``sin`` and ``cos`` of ``2 pi x / L`` per axis, appended to a model's input.

Convolutional operators with circular padding commute with translations, so they
cannot tell where a fixed forcing pattern acts; these channels (two per axis,
periodic, so circular padding stays consistent) tell them, at the price of that
symmetry. FNO gets the same information from neuraloperator's grid embedding.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class PeriodicCoordinates(nn.Module):
    """``(batch, C, *grid)`` -> ``(batch, C + 2 * ndim, *grid)``."""

    def __init__(self, ndim: int):
        super().__init__()
        self.ndim = ndim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = [x]
        grid = x.shape[-self.ndim :]
        for axis, n in enumerate(grid):
            phase = 2 * math.pi * torch.arange(n, device=x.device, dtype=x.dtype) / n
            shape = [1] * self.ndim
            shape[axis] = n
            for wave in (torch.sin(phase), torch.cos(phase)):
                channels.append(wave.reshape(1, 1, *shape).expand(x.shape[0], 1, *grid))
        return torch.cat(channels, dim=1)
