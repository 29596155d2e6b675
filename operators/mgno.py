"""MgNO: the multigrid neural operator (He, Liu & Xu, ICLR 2024).

Each linear operator between neurons is one multigrid V-cycle (``MultigridConv``);
a layer is ``GELU(MgConv(u) + Conv1x1(u) + bias)``; there is no lifting or
projection network, only a 1x1 head. 1D and 2D.

V-cycle on level pairs ``(u, f)`` (level 0 finest), written from the paper's description:
- smoothing: first ``u = S f`` (finest level), afterwards ``u <- u + S(f - A u)``,
  with ``A`` a 3-point (3x3) convolution ``C_u -> C_f`` and ``S`` one ``C_f -> C_u``,
  no bias, separate weights per smoothing iteration;
- restriction: ``u <- Pi u`` and ``f <- R f`` (3-point, stride 2), or ``R(f - A u)``
  with ``restrict_residual``;
- prolongation: ``u_l <- u_l + ConvTranspose(u_{l+1})`` (kernel 4, stride 2,
  padding 1), optionally normalised (the Navier-Stokes variant), then post-smoothing.

Choices this implementation makes where the description leaves room:
- the normalisation after each coarse-to-fine addition is ``GroupNorm(1, C)``
  (layer norm over channels and grid, per-channel affine), which works at any
  resolution and keeps translation equivariance;
- the layer bias is a per-channel constant (the 1x1 convolution's bias), so the
  operator applies on any grid;
- circular padding makes the transposed convolution periodic too: contributions
  that fall past an edge wrap round; zero and reflect padding crop instead (the
  transposed convolution has no reflect mode, so it zero-pads).

Grid sizes: a V-cycle of L levels halves the grid L - 1 times (``ceil`` for odd
sizes). With circular padding every coarsening must be exact, so each axis must
be divisible by ``2^(L-1)``; otherwise the coarsest grid must keep at least 2
points. Transposed-convolution outputs are cropped to the finer grid's size, so
odd sizes work.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

from operators.embedding import PeriodicCoordinates
from operators.registry import register
from solvers.errors import InputError

PADDINGS = ("circular", "zeros", "reflect")


def _conv(ndim: int):
    return nn.Conv1d if ndim == 1 else nn.Conv2d


def _conv_transpose(ndim: int):
    return nn.ConvTranspose1d if ndim == 1 else nn.ConvTranspose2d


class Prolongation(nn.Module):
    """``ConvTranspose`` (kernel 4, stride 2, padding 1) from a coarse grid onto a finer one of given size."""

    def __init__(self, channels: int, ndim: int, padding: str):
        super().__init__()
        self.ndim, self.circular = ndim, padding == "circular"
        # circular: no built-in padding; the overhang is wrapped round by hand
        self.conv = _conv_transpose(ndim)(
            channels, channels, 4, stride=2, padding=0 if self.circular else 1, bias=False
        )

    def forward(self, coarse: torch.Tensor, fine_shape: tuple[int, ...]) -> torch.Tensor:
        out = self.conv(coarse)
        for axis, size in zip(range(-self.ndim, 0), fine_shape):
            if self.circular:
                # full length 2m + 2: index j holds fine point j - 1; wrap -1 and 2m onto 2m - 1 and 0
                m2 = out.shape[axis] - 2
                body = out.narrow(axis, 1, m2).clone()
                body.narrow(axis, 0, 1).add_(out.narrow(axis, m2 + 1, 1))
                body.narrow(axis, m2 - 1, 1).add_(out.narrow(axis, 0, 1))
                out = body
            out = out.narrow(axis, 0, size)
        return out


class MultigridConv(nn.Module):
    """One V-cycle as a linear operator ``f (batch, C_f, *grid) -> u (batch, C_u, *grid)``.

    Args:
        in_channels: ``C_f``. channels: ``C_u``. levels: grid levels (>= 1).
        smoothing: ``(pre, post)`` smoothing steps per level, finest first (default
            ``(1, 0)`` on every level but the coarsest, which gets ``(2, 0)``).
        ndim: 1 or 2. padding: ``circular``, ``zeros`` or ``reflect``.
        normalize: GroupNorm(1, C_u) after each coarse-to-fine addition.
        restrict_residual: restrict ``f - A u`` rather than ``f``.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        levels: int,
        smoothing: list[tuple[int, int]] | None = None,
        ndim: int = 2,
        padding: str = "circular",
        normalize: bool = False,
        restrict_residual: bool = False,
    ):
        super().__init__()
        if padding not in PADDINGS:
            raise InputError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
        if levels < 1:
            raise InputError(f"levels must be >= 1, got {levels}")
        smoothing = [tuple(s) for s in (smoothing or [(1, 0)] * (levels - 1) + [(2, 0)])]
        if len(smoothing) != levels or any(len(s) != 2 or min(s) < 0 for s in smoothing) or smoothing[0][0] < 1:
            raise InputError(
                f"smoothing must list {levels} (pre, post) pairs with pre >= 1 on the finest level, got {smoothing}"
            )
        self.levels, self.smoothing, self.ndim, self.padding = levels, smoothing, ndim, padding
        self.restrict_residual = restrict_residual
        conv = _conv(ndim)

        def smoother(c_in, c_out, stride=1):
            return conv(c_in, c_out, 3, stride=stride, padding=1, padding_mode=padding, bias=False)

        def pairs(count: int, first_has_a: bool = True):  # (A, S) per smoothing iteration
            return nn.ModuleList(
                nn.ModuleList(
                    [
                        smoother(channels, in_channels) if i or first_has_a else nn.Identity(),
                        smoother(in_channels, channels),
                    ]
                )
                for i in range(count)
            )

        # the very first smoothing (u = S f) applies no A, unless restricting f - A u needs it
        needs_a = restrict_residual and smoothing[0][0] == 1 and levels > 1
        self.pre = nn.ModuleList(pairs(pre, level > 0 or needs_a) for level, (pre, _) in enumerate(smoothing))
        self.post = nn.ModuleList(pairs(post) for _, post in smoothing)
        self.restrict_u = nn.ModuleList(smoother(channels, channels, 2) for _ in range(levels - 1))
        self.restrict_f = nn.ModuleList(smoother(in_channels, in_channels, 2) for _ in range(levels - 1))
        self.prolong = nn.ModuleList(Prolongation(channels, ndim, padding) for _ in range(levels - 1))
        self.norms = nn.ModuleList(nn.GroupNorm(1, channels) if normalize else nn.Identity() for _ in range(levels - 1))

    def check_grid(self, shape: tuple[int, ...]) -> None:
        """ValueError unless ``levels`` coarsenings of this grid are possible."""
        factor = 2 ** (self.levels - 1)
        for size in shape:
            if self.padding == "circular" and size % factor:
                raise InputError(
                    f"grid size {size} cannot be halved {self.levels - 1} times exactly, as circular padding needs: "
                    f"use a multiple of {factor} or fewer levels"
                )
            if math.ceil(size / factor) < 2:
                raise InputError(
                    f"grid size {size} is too small for {self.levels} levels (the coarsest grid needs >= 2 points)"
                )

    @staticmethod
    def _smooth(u: torch.Tensor | None, f: torch.Tensor, pair: nn.ModuleList) -> torch.Tensor:
        operator_a, smoother_s = pair
        return smoother_s(f) if u is None else u + smoother_s(f - operator_a(u))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        self.check_grid(tuple(f.shape[2:]))
        us, fs = [], []
        u = None
        for level in range(self.levels):
            for pair in self.pre[level]:
                u = self._smooth(u, f, pair)
            us.append(u)
            fs.append(f)
            if level < self.levels - 1:
                source = f - self.pre[level][-1][0](u) if self.restrict_residual else f
                u, f = self.restrict_u[level](u), self.restrict_f[level](source)
        for level in range(self.levels - 2, -1, -1):
            u = self.norms[level](us[level] + self.prolong[level](u, tuple(us[level].shape[2:])))
            for pair in self.post[level]:
                u = self._smooth(u, fs[level], pair)
        return u


class MgNO(nn.Module):
    """Layers ``u <- GELU(MgConv(u) + Conv1x1(u) + bias)`` and a 1x1 head; ``(batch, in, *grid) -> (batch, out, *grid)``.

    ``residual`` adds the input's last ``out_channels`` channels to the output
    (the paper's Navier-Stokes variant, ``u + u0``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ndim: int,
        channels: int,
        layers: int,
        levels: int,
        smoothing: list[tuple[int, int]] | None,
        padding: str,
        normalize: bool,
        residual: bool,
        restrict_residual: bool,
        coordinates: bool = False,
    ):
        super().__init__()
        conv = _conv(ndim)
        self.coordinates = PeriodicCoordinates(ndim) if coordinates else nn.Identity()
        field_channels, in_channels = in_channels, in_channels + (2 * ndim if coordinates else 0)
        self.multigrid = nn.ModuleList()
        self.pointwise = nn.ModuleList()
        for layer in range(layers):
            c_in = in_channels if layer == 0 else channels
            self.multigrid.append(
                MultigridConv(c_in, channels, levels, smoothing, ndim, padding, normalize, restrict_residual)
            )
            self.pointwise.append(conv(c_in, channels, 1))
        self.head = conv(channels, out_channels, 1)
        self.out_channels, self.residual = out_channels, residual
        if residual and field_channels < out_channels:
            raise InputError("residual output needs at least as many input channels as output channels")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.coordinates(x)
        for multigrid, pointwise in zip(self.multigrid, self.pointwise):
            u = functional.gelu(multigrid(u) + pointwise(u))
        out = self.head(u)
        return out + x[:, -self.out_channels :] if self.residual else out


@register("mgno")
def build_mgno(
    in_channels: int,
    out_channels: int,
    ndim: int,
    channels: int = 32,
    layers: int = 5,
    levels: int = 5,
    smoothing: list | None = None,
    padding: str = "circular",
    normalize: bool = False,
    residual: bool = False,
    restrict_residual: bool = False,
    coordinates: bool = False,
) -> nn.Module:
    """MgNO for 1D or 2D fields.

    Args:
        channels: ``C_u`` of every layer. layers: MgNO layers. levels: V-cycle levels.
        smoothing: ``[[pre, post], ...]`` per level, finest first (default ``[1, 0]`` per
            level and ``[2, 0]`` on the coarsest).
        padding: ``circular`` (periodic data), ``zeros`` or ``reflect``.
        normalize: GroupNorm after each coarse-to-fine addition (NS variant).
        residual: output ``u0 + head(u)`` (NS variant).
        restrict_residual: restrict ``f - A u`` instead of ``f``.
        coordinates: append periodic coordinate channels (position-dependent forcing;
            not in the paper, off by default).
    """
    if ndim not in (1, 2):
        raise InputError(f"MgNO supports ndim 1 or 2, got {ndim!r}")
    return MgNO(
        in_channels,
        out_channels,
        ndim,
        channels,
        layers,
        levels,
        smoothing,
        padding,
        normalize,
        residual,
        restrict_residual,
        coordinates,
    )
