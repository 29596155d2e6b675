"""The PDEArena U-Net (``unet``) and its resolution-consistent conversion (``unet-no``).

The "modern U-Net" of PDEArena (Gupta & Brandstetter 2022) as the NNs-to-NOs
paper (Berner, Liu-Schiaffini, Kossaifi et al. 2025) trains it: wide residual
blocks ``x + conv(act(norm(conv(act(norm(x))))))`` (GroupNorm with
``groups`` groups, GELU, a 1x1 shortcut where the width changes),
``blocks`` blocks per level, widths ``hidden * prod(multipliers[:i+1])``,
3x3 stride-2 convolutions down, 4x4 stride-2 transposed convolutions up,
skip connections concatenated at every block of the up path, a ``k x k``
input projection and output head, and grid coordinates appended to the input.
The paper's configuration is the default: hidden 19, multipliers (1, 2, 2, 3),
kernel 9, GroupNorm(1), grid coordinates (65.5 M parameters for one field in
and out, as the paper reports).

Deviations from the public code, named: the transposed convolutions use
padding 1 (PDEArena's original: exactly twice the size) where the NNs-to-NOs copy
uses padding 2 and zero-pads the result back to the skip's size; odd sizes are
cropped to the skip's size instead. No attention blocks (the paper's
configuration turns them all off). 1D as well as 2D. ``padding`` may be
``circular`` for periodic data (the public code pads with zeros).

``unet-no`` is the same network converted by kernel interpolation
(``operators.layers.resolution``): it equals ``unet`` at the training grid and keeps
the physical size of every kernel on other grids.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn
from torch.nn import functional

from operators.layers.embedding import coordinate_embedding
from operators.layers.periodic import periodic_conv
from operators.layers.resolution import DEFAULT_KERNEL_RESIZE, make_resolution_consistent
from operators.registry import BenchSetup, extend_builder, register
from solvers.errors import InputError


def _conv(ndim: int):
    return periodic_conv(ndim)  # nn.ConvNd, with circular padding that is cheap to differentiate


class ResidualBlock(nn.Module):
    """``x -> shortcut(x) + conv2(act(norm2(conv1(act(norm1(x))))))``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, ndim: int, groups: int, padding: str):
        super().__init__()
        conv = _conv(ndim)
        self.norm1, self.norm2 = nn.GroupNorm(groups, c_in), nn.GroupNorm(groups, c_out)
        self.conv1 = conv(c_in, c_out, kernel, padding=kernel // 2, padding_mode=padding)
        self.conv2 = conv(c_out, c_out, kernel, padding=kernel // 2, padding_mode=padding)
        self.shortcut = conv(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(functional.gelu(self.norm1(x)))
        return self.conv2(functional.gelu(self.norm2(h))) + self.shortcut(x)


def _match(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Crop (or zero-pad at the end) ``x``'s grid to ``like``'s: odd sizes round up on the way down."""
    for axis in range(2, x.dim()):
        excess = x.shape[axis] - like.shape[axis]
        if excess > 0:
            x = x.narrow(axis, 0, like.shape[axis])
        elif excess < 0:
            pads = [0, 0] * (x.dim() - 1 - axis) + [0, -excess]
            x = functional.pad(x, pads)
    return x


class UNet(nn.Module):
    """``(batch, in_channels, *grid) -> (batch, out_channels, *grid)``, 1D or 2D."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ndim: int,
        hidden: int,
        multipliers: list[int],
        kernel_size: int,
        blocks: int,
        groups: int,
        coordinates: str,
        padding: str,
    ):
        super().__init__()
        conv = _conv(ndim)
        self.coordinates, extra = coordinate_embedding(coordinates, ndim)
        same = {"padding": kernel_size // 2, "padding_mode": padding}
        self.project = conv(in_channels + extra, hidden, kernel_size, **same)
        self.down, self.up = nn.ModuleList(), nn.ModuleList()
        width, widths = hidden, []
        for level, multiplier in enumerate(multipliers):
            for block in range(blocks):  # the first block of a level widens by its multiplier
                wider = width * multiplier if block == 0 else width
                self.down.append(ResidualBlock(width, wider, kernel_size, ndim, groups, padding))
                width = wider
            if level < len(multipliers) - 1:
                self.down.append(conv(width, width, 3, stride=2, padding=1, padding_mode=padding))
            widths.append(width)
        self.middle = nn.Sequential(
            ResidualBlock(width, width, kernel_size, ndim, groups, padding),
            ResidualBlock(width, width, kernel_size, ndim, groups, padding),
        )
        transpose = nn.ConvTranspose1d if ndim == 1 else nn.ConvTranspose2d
        for level in reversed(range(len(multipliers))):
            for _ in range(blocks):
                self.up.append(ResidualBlock(2 * width, width, kernel_size, ndim, groups, padding))
            narrower = width // multipliers[level]
            self.up.append(ResidualBlock(width + narrower, narrower, kernel_size, ndim, groups, padding))
            width = narrower
            if level > 0:
                self.up.append(transpose(width, width, 4, stride=2, padding=1))
        self.norm = nn.GroupNorm(groups, hidden)
        self.head = conv(hidden, out_channels, kernel_size, **same)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.project(self.coordinates(x))
        skips = [x]
        for module in self.down:
            x = module(x)
            skips.append(x)
        x = self.middle(x)
        for module in self.up:
            if isinstance(module, ResidualBlock):
                skip = skips.pop()
                x = module(torch.cat([skip, _match(x, skip)], dim=1))
            else:
                x = module(x)
        return self.head(functional.gelu(self.norm(x)))


def _build(in_channels, out_channels, ndim, hidden, multipliers, kernel_size, blocks, groups, coordinates, padding):
    if ndim not in (1, 2):
        raise InputError(f"the U-Net supports ndim 1 or 2, got {ndim!r}")
    multipliers = list(multipliers or ())
    if not multipliers or not all(isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in multipliers):
        raise InputError(f"multipliers must be a non-empty list of positive integers, got {multipliers!r}")
    if kernel_size % 2 == 0:
        raise InputError(f"kernel_size must be odd (a centred stencil), got {kernel_size}")
    if padding not in ("zeros", "circular"):
        raise InputError(f"padding must be zeros or circular, got {padding!r}")
    if hidden % groups:
        raise InputError(f"hidden ({hidden}) must be divisible by groups ({groups})")
    return UNet(in_channels, out_channels, ndim, hidden, multipliers, kernel_size, blocks, groups, coordinates, padding)


#: the bench's cpu-small U-Net, converted or not
SMALL_UNET = BenchSetup(small={"hidden": 8, "kernel_size": 3}, width_key="hidden")


@register("unet", bench=SMALL_UNET)
def build_unet(
    in_channels: int,
    out_channels: int,
    ndim: int = 2,
    hidden: int = 19,
    multipliers: list | None = (1, 2, 2, 3),
    kernel_size: int = 9,
    blocks: int = 2,
    groups: int = 1,
    coordinates: str = "grid",
    padding: str = "zeros",
) -> nn.Module:
    """The PDEArena U-Net, tied to its training grid (kernels count grid points).

    Args:
        hidden: width of the first level. multipliers: width factor per level (one
            halving between levels). kernel_size: odd stencil of the block convolutions.
        blocks: residual blocks per level. groups: GroupNorm groups.
        coordinates: ``grid`` (``x / L``, the paper's), ``periodic`` or ``none``.
        padding: ``zeros`` (the paper's) or ``circular``.
    """
    return _build(
        in_channels, out_channels, ndim, hidden, multipliers, kernel_size, blocks, groups, coordinates, padding
    )


def _convert(options: dict, extra: dict) -> nn.Module:
    model = build_unet(**options)
    example = torch.zeros(1, options["in_channels"], *(extra["grid_size"],) * options["ndim"])
    return make_resolution_consistent(model, example, extra["interpolation"], extra["kernel_resize"])


build_unet_no = register("unet-no", resolution_agnostic=True, bench=SMALL_UNET)(
    extend_builder(
        build_unet,
        {
            "grid_size": ("int", inspect.Parameter.empty),
            "interpolation": ("str", "bilinear"),
            "kernel_resize": ("str", DEFAULT_KERNEL_RESIZE),
        },
        _convert,
        """``unet`` converted by kernel interpolation: runs at any resolution (``operators.layers.resolution``).

    Args:
        grid_size: points per axis of the training grid (the scale is measured from it).
        interpolation: how resampled activations (and interpolated kernels) are
            interpolated: ``bilinear`` (the public code's) or ``fourier``.
        kernel_resize: ``moments`` (ours, the default: each tap keeps its weight and physical
            offset) or ``interpolate`` (the public code's kernel interpolation).
        Others as ``unet``.
    """,
    )
)
