"""SineNet (Zhang, Helwig et al., ICLR 2024): K sequential U-Net "waves" for time-dependent PDEs.

Each wave advances the features part of one time step, so the features its skip
connections carry are less misaligned than in one big U-Net. Structure (from the
paper and its public code's description, written here):

- input ``(batch, history * fields, H, W)`` -> 3x3 convolution to ``hidden`` channels;
- each wave: 4 down levels then 4 up levels with widths ``int(hidden * mult**i)``;
  a down level is AvgPool(2) then [3x3 conv -> GroupNorm(1) -> GELU] x2, plus a
  1x1 shortcut of the pooled features; *disentangled downsampling* pools the wave's
  input along and concatenates it at every level but the first; an up level is
  bicubic x2 upsampling, concatenation with the skip, the same conv block and a
  1x1 shortcut of the upsampled features;
- wave residual ``x <- x0 + wave(x)``; a 3x3 head to ``future * fields`` channels.

Padding: ``circular`` (periodic domains: convolutions wrap, and upsampling pads
2 cells circularly, interpolates, and crops 4 so the bicubic stencil sees the
periodic neighbours) or ``zeros``. The grid must be divisible by 16 (four
halvings) and at least 32; other sizes raise a clear error.

Parameter counts follow from the widths alone (``parameter_count``, checked
against the built modules); the published INS configuration (4 history frames x
3 fields in, 3 out, hidden 64, K = 8, mult 1.425) has 35,490,219 parameters.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

from operators.layers.embedding import PeriodicCoordinates
from operators.layers.periodic import PeriodicConv2d, periodic_bicubic_upsample
from operators.layers.resolution import DEFAULT_KERNEL_RESIZE, consistent_if_asked
from operators.registry import BenchSetup, register
from solvers.errors import InputError

LEVELS = 4


class ConvBlock(nn.Module):
    """[3x3 conv -> GroupNorm(1) -> GELU] x 2."""

    def __init__(self, in_channels: int, out_channels: int, padding: str):
        super().__init__()
        self.layers = nn.Sequential(
            PeriodicConv2d(in_channels, out_channels, 3, padding=1, padding_mode=padding),
            nn.GroupNorm(1, out_channels),
            nn.GELU(),
            PeriodicConv2d(out_channels, out_channels, 3, padding=1, padding_mode=padding),
            nn.GroupNorm(1, out_channels),
            nn.GELU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class DownLevel(nn.Module):
    """Pool the features (and the wave input), concatenate them unless first, conv block + 1x1 shortcut."""

    def __init__(self, in_channels: int, out_channels: int, wave_channels: int, first: bool, padding: str):
        super().__init__()
        self.first = first
        self.block = ConvBlock(in_channels + (0 if first else wave_channels), out_channels, padding)
        self.shortcut = PeriodicConv2d(in_channels, out_channels, 1)

    def forward(self, wave_input: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        wave_input, h = functional.avg_pool2d(wave_input, 2), functional.avg_pool2d(h, 2)
        features = h if self.first else torch.cat([h, wave_input], dim=1)
        return wave_input, self.block(features) + self.shortcut(h)


class UpLevel(nn.Module):
    """Bicubic x2 (periodic-aware), concatenate the skip, conv block + 1x1 shortcut."""

    def __init__(self, in_channels: int, out_channels: int, padding: str):
        super().__init__()
        self.circular = padding == "circular"
        self.block = ConvBlock(in_channels + out_channels, out_channels, padding)
        self.shortcut = PeriodicConv2d(in_channels, out_channels, 1)

    def upsample(self, x: torch.Tensor) -> torch.Tensor:
        if not self.circular:
            return functional.interpolate(x, scale_factor=2, mode="bicubic")
        return periodic_bicubic_upsample(x)  # the same values as padding 2 cells, interpolating, cropping 4

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.upsample(x)
        return self.block(torch.cat([skip, up], dim=1)) + self.shortcut(up)


class Wave(nn.Module):
    """One U-shaped wave: 4 down and 4 up levels with disentangled downsampling."""

    def __init__(self, hidden: int, mult: float, padding: str):
        super().__init__()
        widths = [int(hidden * mult**i) for i in range(LEVELS + 1)]
        self.down = nn.ModuleList(DownLevel(widths[i], widths[i + 1], hidden, i == 0, padding) for i in range(LEVELS))
        self.up = nn.ModuleList(UpLevel(widths[i + 1], widths[i], padding) for i in reversed(range(LEVELS)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips, wave_input, h = [x], x, x
        for level in self.down:
            wave_input, h = level(wave_input, h)
            skips.append(h)
        h = skips.pop()
        for level in self.up:
            h = level(h, skips.pop())
        return h


class SineNet(nn.Module):
    """``(batch, in_channels, H, W)`` -> ``(batch, out_channels, H, W)`` through ``waves`` sequential U-Nets."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden: int,
        waves: int,
        mult: float,
        padding: str,
        coordinates: bool = False,
    ):
        super().__init__()
        self.coordinates = PeriodicCoordinates(2) if coordinates else nn.Identity()
        self.lift = PeriodicConv2d(in_channels + (4 if coordinates else 0), hidden, 3, padding=1, padding_mode=padding)
        self.waves = nn.ModuleList(Wave(hidden, mult, padding) for _ in range(waves))
        self.head = PeriodicConv2d(hidden, out_channels, 3, padding=1, padding_mode=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2**LEVELS
        if x.shape[-1] % factor or x.shape[-2] % factor or min(x.shape[-2:]) < 2 * factor:
            raise InputError(
                f"SineNet needs grid sizes divisible by {factor} (four halvings) and at least {2 * factor} "
                f"(the coarsest level keeps 2 points), got {tuple(x.shape[-2:])}"
            )
        x = self.lift(self.coordinates(x))
        for wave in self.waves:
            x = x + wave(x)
        return self.head(x)


def parameter_count(in_channels: int, out_channels: int, hidden: int, waves: int, mult: float) -> int:
    """Parameters of ``SineNet(in_channels, out_channels, hidden, waves, mult)``, from the widths alone."""

    def conv(c_in: int, c_out: int, kernel: int) -> int:
        return kernel * kernel * c_in * c_out + c_out

    def block(c_in: int, c_out: int) -> int:  # two convs and two GroupNorms (weight and bias each)
        return conv(c_in, c_out, 3) + conv(c_out, c_out, 3) + 4 * c_out

    widths = [int(hidden * mult**i) for i in range(LEVELS + 1)]
    wave = 0
    for i in range(LEVELS):
        wave += block(widths[i] + (hidden if i else 0), widths[i + 1]) + conv(widths[i], widths[i + 1], 1)
        wave += block(widths[i + 1] + widths[i], widths[i]) + conv(widths[i + 1], widths[i], 1)
    return conv(in_channels, hidden, 3) + waves * wave + conv(hidden, out_channels, 3)


def param_match(
    target: int, waves: int, in_channels: int, out_channels: int, hidden: int = 64, step: float = 0.0005
) -> float:
    """The width multiplier, on a grid of ``step``, whose SineNet's parameter count is closest to ``target``.

    Counts grow with ``mult``: bisection finds the bracket, and the nearer end wins.
    """
    low, high = 1, math.ceil(4.0 / step)  # mult in [step, 4]

    def count(index: int) -> int:
        return parameter_count(in_channels, out_channels, hidden, waves, index * step)

    while high - low > 1:
        middle = (low + high) // 2
        if count(middle) < target:
            low = middle
        else:
            high = middle
    best = min((low, high), key=lambda i: abs(count(i) - target))
    return round(best * step, 6)


# translation equivariant as MgNO: periodic coordinates place the fixed forcing (benchmarks/ablation.py)
@register("sinenet", bench=BenchSetup(small={"hidden": 16, "waves": 4, "coordinates": True}, width_key="hidden"))
def build_sinenet(
    in_channels: int,
    out_channels: int,
    ndim: int = 2,
    hidden: int = 64,
    waves: int = 8,
    mult: float = 1.425,
    padding: str = "circular",
    coordinates: bool = False,
    resolution_consistent: bool = False,
    grid_size: int | None = None,
    interpolation: str = "bilinear",
    kernel_resize: str = DEFAULT_KERNEL_RESIZE,
) -> nn.Module:
    """SineNet for 2D fields.

    Args:
        hidden: channels after the lift (level-0 width). waves: K. mult: width multiplier
            per level. padding: ``circular`` (periodic) or ``zeros``.
        coordinates: append periodic coordinate channels (position-dependent forcing;
            not in the paper, off by default).
        resolution_consistent: convert the convolutions by kernel interpolation so that
            the model runs on other grids (``operators.layers.resolution``; ours, not the paper's).
            Pooling and bicubic upsampling by 2 already act on any grid.
        grid_size: training points per axis (needed by ``resolution_consistent``).
        interpolation: ``bilinear`` or ``fourier`` resampling.
        kernel_resize: ``moments`` (ours, the default) or ``interpolate`` (the public kernel
            interpolation): ``operators.layers.resolution``.
    """
    if ndim != 2:
        raise InputError(f"SineNet is 2D only, got ndim = {ndim}")
    if padding not in ("circular", "zeros"):
        raise InputError(f"padding must be circular or zeros, got {padding!r}")
    if waves < 1:
        raise InputError(f"waves must be >= 1, got {waves}")
    model = SineNet(in_channels, out_channels, hidden, waves, mult, padding, coordinates)
    return consistent_if_asked(model, resolution_consistent, in_channels, grid_size, ndim, interpolation, kernel_resize)
