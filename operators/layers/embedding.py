"""Position information for models: periodic coordinate channels (``sin`` and ``cos`` of
``2 pi x / L`` per axis, appended to a model's input) and transformer position features.

Convolutional operators with circular padding commute with translations, so they
cannot tell where a fixed forcing pattern acts; these channels (two per axis,
periodic, so circular padding stays consistent) tell them, at the price of that
symmetry. FNO gets the same information from neuraloperator's grid embedding.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def _append_axis_channels(x: torch.Tensor, ndim: int, profiles) -> torch.Tensor:
    """``x`` with, per axis, the channels ``profiles(fraction)`` (``fraction = i / n`` along that axis)."""
    channels = [x]
    grid = x.shape[-ndim:]
    for axis, n in enumerate(grid):
        shape = [1] * ndim
        shape[axis] = n
        fraction = torch.arange(n, device=x.device, dtype=x.dtype) / n
        for profile in profiles(fraction):
            channels.append(profile.reshape(1, 1, *shape).expand(x.shape[0], 1, *grid))
    return torch.cat(channels, dim=1)


class PeriodicCoordinates(nn.Module):
    """``(batch, C, *grid)`` -> ``(batch, C + 2 * ndim, *grid)``."""

    def __init__(self, ndim: int):
        super().__init__()
        self.ndim = ndim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _append_axis_channels(x, self.ndim, lambda f: (torch.sin(2 * math.pi * f), torch.cos(2 * math.pi * f)))


class GridCoordinates(nn.Module):
    """``(batch, C, *grid)`` -> ``(batch, C + ndim, *grid)``: ``x_i / L`` in ``[0, 1)`` per axis.

    neuraloperator's ``GridEmbedding2D`` (used by the NNs-to-NOs U-Net): the same
    physical point gets the same value on every grid, so it is resolution consistent.
    """

    def __init__(self, ndim: int):
        super().__init__()
        self.ndim = ndim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _append_axis_channels(x, self.ndim, lambda f: (f,))


def coordinate_embedding(kind: str, ndim: int) -> tuple[nn.Module, int]:
    """The module appending ``kind`` coordinates (``grid``, ``periodic`` or ``none``) and its extra channels."""
    if kind == "grid":
        return GridCoordinates(ndim), ndim
    if kind == "periodic":
        return PeriodicCoordinates(ndim), 2 * ndim
    if kind == "none":
        return nn.Identity(), 0
    raise ValueError(f"coordinates must be grid, periodic or none, got {kind!r}")


def sincos_table(width: int, sizes: tuple[int, ...]) -> torch.Tensor:
    """``(prod(sizes), width)`` sin-cos position features, ``width`` split evenly over the axes."""
    per_axis = 2 * (width // (2 * len(sizes)))
    grids = torch.meshgrid(*(torch.arange(n, dtype=torch.float32) for n in sizes), indexing="ij")
    parts = []
    for grid in grids:
        omega = 1.0 / 10000 ** (torch.arange(per_axis // 2, dtype=torch.float32) / max(1, per_axis // 2))
        angles = grid.reshape(-1, 1) * omega[None]
        parts += [torch.sin(angles), torch.cos(angles)]
    table = torch.cat(parts, dim=1)
    return F.pad(table, (0, width - table.shape[1]))
