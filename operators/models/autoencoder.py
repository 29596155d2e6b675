"""Trajectory autoencoder (Text2PDE stage 1): a KL autoencoder that compresses a whole trajectory.

As the public Text2PDE grid autoencoder (anthonyzhou-1/ldm_pdes, ``modules/models/ae/cnn_ae.py``,
config ``configs/ns2D/ae/ae_grid.yaml``): convolutions over ``(time, *grid)`` (3D for 2D fields,
2D for 1D fields); an encoder of levels with ``multipliers`` times ``hidden`` channels, ``blocks``
residual blocks each (GroupNorm with 16 groups, eps 1e-6, SiLU, 3-wide convolutions), self-attention
after the blocks of the attention levels (the coarsest by default: the public ``attn_resolutions:
[16]`` on 128^2 with four levels), a strided 3-wide convolution halving every axis (time too)
between levels, a middle of block, attention, block, then GroupNorm, SiLU and a convolution to
``2 * latent_channels`` (mean and log-variance of a diagonal Gaussian); the decoder mirrors it with
``blocks + 1`` blocks per level and nearest-neighbour upsampling followed by a convolution. The
public NS model (hidden 64, [1, 2, 4, 4], 2 blocks, 16 latent channels) maps 3 x 48 x 128^2 to
16 x 6 x 16^2.

Differences from the public code, named: its residual blocks add a projected condition (the
buoyancy scalar, ``cond_channels: 1``) inside every block; ours is unconditional, so the latent
carries everything (the generator, not the autoencoder, sees the prompt). GroupNorm uses
``gcd(16, channels)`` groups so that small models (``hidden`` below 16) build.

Layout: the module works on ``(batch, channels, time, *grid)``; time and grid sizes must be
divisible by ``2 ** (len(multipliers) - 1)``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from operators.layers.convolution_blocks import (
    CONVOLUTIONS,
    Downsample,
    ResidualBlock,
    SelfAttention,
    Upsample,
    group_norm,
)
from operators.registry import register
from solvers.errors import InputError


def _level(dim: int, c_in: int, c_out: int, blocks: int, attention: bool, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(blocks):
        layers.append(ResidualBlock(dim, c_in if i == 0 else c_out, c_out, dropout))
        if attention:
            layers.append(SelfAttention(dim, c_out))
    return nn.Sequential(*layers)


def _middle(dim: int, channels: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        ResidualBlock(dim, channels, channels, dropout),
        SelfAttention(dim, channels),
        ResidualBlock(dim, channels, channels, dropout),
    )


class Encoder(nn.Module):
    def __init__(
        self,
        dim: int,
        c_in: int,
        hidden: int,
        multipliers: list[int],
        blocks: int,
        attention_levels: set[int],
        latent: int,
        dropout: float,
    ):
        super().__init__()
        conv = CONVOLUTIONS[dim]
        widths = [hidden * m for m in multipliers]
        self.conv_in = conv(c_in, hidden, 3, padding=1)
        stages: list[nn.Module] = []
        previous = hidden
        for level, width in enumerate(widths):
            stages.append(_level(dim, previous, width, blocks, level in attention_levels, dropout))
            if level != len(widths) - 1:
                stages.append(Downsample(dim, width))
            previous = width
        self.stages = nn.Sequential(*stages, _middle(dim, previous, dropout))
        self.norm_out, self.conv_out = group_norm(previous), conv(previous, 2 * latent, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(F.silu(self.norm_out(self.stages(self.conv_in(x)))))


class Decoder(nn.Module):
    def __init__(
        self,
        dim: int,
        c_out: int,
        hidden: int,
        multipliers: list[int],
        blocks: int,
        attention_levels: set[int],
        latent: int,
        dropout: float,
    ):
        super().__init__()
        conv = CONVOLUTIONS[dim]
        widths = [hidden * m for m in multipliers]
        previous = widths[-1]
        self.conv_in = conv(latent, previous, 3, padding=1)
        stages: list[nn.Module] = [_middle(dim, previous, dropout)]
        for level in reversed(range(len(widths))):
            stages.append(_level(dim, previous, widths[level], blocks + 1, level in attention_levels, dropout))
            previous = widths[level]
            if level != 0:
                stages.append(Upsample(dim, previous))
        self.stages = nn.Sequential(*stages)
        self.norm_out, self.conv_out = group_norm(previous), conv(previous, c_out, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv_out(F.silu(self.norm_out(self.stages(self.conv_in(z)))))


class TrajectoryAutoencoder(nn.Module):
    """See the module docstring. ``forward(x)`` returns ``(reconstruction, mean, logvar)``."""

    def __init__(
        self,
        channels: int,
        ndim: int,
        hidden: int,
        multipliers: list[int],
        blocks: int,
        attention_levels: list[int],
        latent_channels: int,
        dropout: float,
    ):
        super().__init__()
        dim = ndim + 1
        levels = set(attention_levels)
        self.channels, self.ndim, self.latent_channels = channels, ndim, latent_channels
        self.factor = 2 ** (len(multipliers) - 1)
        self.encoder = Encoder(dim, channels, hidden, multipliers, blocks, levels, latent_channels, dropout)
        self.decoder = Decoder(dim, channels, hidden, multipliers, blocks, levels, latent_channels, dropout)

    def latent_shape(self, frames: int, grid: tuple[int, ...]) -> tuple[int, ...]:
        """``(latent_channels, frames', *grid')`` of a trajectory of ``frames`` frames on ``grid``."""
        sizes = (frames, *grid)
        bad = [n for n in sizes if n % self.factor]
        if bad or len(grid) != self.ndim:
            raise InputError(
                f"a trajectory of {frames} frames on {tuple(grid)} does not fit: this autoencoder needs "
                f"{self.ndim} grid axes and every size (frames too) divisible by {self.factor}"
            )
        return (self.latent_channels, *(n // self.factor for n in sizes))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(batch, channels, time, *grid)`` -> the posterior's ``mean`` and ``logvar``,
        each ``(batch, latent_channels, time', *grid')`` (log-variance clamped to [-30, 20])."""
        if x.dim() != 3 + self.ndim or x.shape[1] != self.channels:
            raise InputError(
                f"expected (batch, {self.channels}, time, *grid) with {self.ndim} grid axes, got {tuple(x.shape)}"
            )
        self.latent_shape(x.shape[2], tuple(x.shape[3:]))
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` ``(batch, latent_channels, time', *grid')`` -> ``(batch, channels, time, *grid)``."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, logvar = self.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean) if sample else mean
        return self.decode(z), mean, logvar


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL divergence of ``N(mean, exp(logvar))`` from ``N(0, 1)``, summed per sample: ``(batch,)``."""
    return 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)


@register("trajectory-autoencoder", bench="the autoencoder stage of latent-dit (benched inside its row)")
def build_trajectory_autoencoder(
    in_channels: int,
    ndim: int = 2,
    hidden: int = 64,
    multipliers: list[int] | None = None,
    blocks: int = 2,
    attention_levels: list[int] | None = None,
    latent_channels: int = 16,
    dropout: float = 0.0,
) -> TrajectoryAutoencoder:
    """The Text2PDE trajectory autoencoder (see the module docstring); defaults are the public NS model's.

    Args:
        in_channels: fields per frame. ndim: grid axes (1 or 2).
        hidden: channels of the first level. multipliers: per-level width factors (default [1, 2, 4, 4]).
        blocks: residual blocks per encoder level (the decoder has one more).
        attention_levels: levels (0 = finest) with self-attention after each block (default: the coarsest).
        latent_channels: channels of the latent (16 in the public NS model).
    """
    multipliers = [1, 2, 4, 4] if multipliers is None else list(multipliers)
    if ndim not in (1, 2):
        raise InputError(f"the trajectory autoencoder takes 1D or 2D fields (ndim 1 or 2), got ndim={ndim!r}")
    if not multipliers or any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in multipliers):
        raise InputError(f"multipliers must be a non-empty list of positive integers, got {multipliers!r}")
    levels = [len(multipliers) - 1] if attention_levels is None else list(attention_levels)
    if any(not isinstance(level, int) or not 0 <= level < len(multipliers) for level in levels):
        raise InputError(f"attention_levels must be level indices in [0, {len(multipliers)}), got {levels!r}")
    return TrajectoryAutoencoder(in_channels, ndim, hidden, multipliers, blocks, levels, latent_channels, dropout)
