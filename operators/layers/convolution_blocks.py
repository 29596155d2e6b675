"""Convolution blocks over ``(batch, channels, *axes)`` for 1 to 3 axes, as the latent-diffusion codebases
build them: GroupNorm (``gcd(16, channels)`` groups, eps 1e-6), SiLU, 3-wide convolutions; residual
blocks, one-head self-attention, halving and doubling every axis."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

CONVOLUTIONS = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(16, channels), channels, eps=1e-6)


class ResidualBlock(nn.Module):
    """``x + conv(SiLU(norm(conv(SiLU(norm(x))))))``, a 1-wide convolution on ``x`` when the width changes."""

    def __init__(self, dim: int, c_in: int, c_out: int, dropout: float):
        super().__init__()
        conv = CONVOLUTIONS[dim]
        self.norm1, self.conv1 = group_norm(c_in), conv(c_in, c_out, 3, padding=1)
        self.norm2, self.conv2 = group_norm(c_out), conv(c_out, c_out, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.shortcut = conv(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.shortcut(x) + h


class SelfAttention(nn.Module):
    """One-head self-attention over every (time, grid) point, with 1-wide q, k, v and output projections."""

    def __init__(self, dim: int, channels: int):
        super().__init__()
        conv = CONVOLUTIONS[dim]
        self.norm = group_norm(channels)
        self.q, self.k, self.v, self.out = (conv(channels, channels, 1) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        q, k, v = (layer(h).flatten(2).transpose(1, 2) for layer in (self.q, self.k, self.v))  # (B, points, C)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(x.shape)
        return x + self.out(attended)


class Downsample(nn.Module):
    """Halve every axis: zero-pad one point at the end of each, then a 3-wide convolution of stride 2."""

    def __init__(self, dim: int, channels: int):
        super().__init__()
        self.conv = CONVOLUTIONS[dim](channels, channels, 3, stride=2)
        self.pad = (0, 1) * dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.pad))


class Upsample(nn.Module):
    """Double every axis: nearest-neighbour copies, then a 3-wide convolution."""

    def __init__(self, dim: int, channels: int):
        super().__init__()
        self.conv = CONVOLUTIONS[dim](channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
