"""MgNO: the multigrid neural operator (He, Liu & Xu, ICLR 2024), as the public code runs it by default.

Each linear operator between neurons is one multigrid V-cycle (``MultigridConv``);
a layer is ``GELU(MgConv(u))``; there is no lifting or projection network, only a
bias-free 1x1 head. 1D and 2D. The defaults follow the public ``MgNO_NS``
(xlliu2017/MgNO ``models.py``, ``navier.py --bias``); ``norm="layer"`` and
``residual=True`` complete it (config ``mgno-ns``: 2,885,194 parameters at 64^2,
tested against the public architecture's count).

V-cycle on level pairs ``(u, f)`` (level 0 finest):
- smoothing: first ``u = S f`` (finest level), afterwards ``u <- u + S(f - A u)``,
  with ``A`` a 3-point (3x3) convolution ``C_u -> C_f`` and ``S`` one ``C_f -> C_u``,
  with bias (``bias``), separate weights per smoothing iteration; schedule
  ``[[1, 0], [1, 0], [1, 0], [2, 0], [2, 0]]`` for 5 levels (``(1, 0)`` on all but the
  two coarsest levels, ``(2, 0)`` there);
- restriction: ``u <- Pi u`` and ``f <- R f`` (3-point, stride 2, no bias), or
  ``R(f - A' u)`` with ``restrict_residual`` (``A'`` its own convolution);
- prolongation: ``u_l <- u_l + ConvTranspose(u_{l+1})`` (kernel 4, stride 2,
  padding 1, no bias, no wrap-around), normalised (``norm``), then post-smoothing.

``norm``: ``"layer"`` is the published LayerNorm over ``(C, *grid_l)`` with a learned
scale and shift per grid point (tied to the training grid: needs ``grid_size``;
the per-point shift is a learned bias field, which is how the published model
places the fixed FNO forcing); ``"group"`` is our resolution-agnostic variant
(``GroupNorm(1, C)``, per-channel affine, translation equivariant; pair it with
``coordinates`` for position-dependent forcing); ``"none"`` for neither.

Our extensions, off by default, each named: ``pointwise`` (``+ Conv1x1(u) + bias``
in every layer, as the public Darcy model has), ``wrap_prolongation`` (with
circular padding the transposed convolution's overhang wraps round, making the
V-cycle equivariant to shifts by ``2^(L-1)`` points), ``coordinates`` (periodic
coordinate channels), ``head_bias``.

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

from operators.layers.embedding import PeriodicCoordinates
from operators.layers.periodic import periodic_conv
from operators.layers.resolution import DEFAULT_KERNEL_RESIZE, consistent_if_asked
from operators.registry import BenchSetup, register
from solvers.errors import InputError

PADDINGS = ("circular", "zeros", "reflect")
NORMS = ("none", "layer", "group")


def _conv(ndim: int):
    return periodic_conv(ndim)  # nn.ConvNd, with circular padding that is cheap to differentiate


def _conv_transpose(ndim: int):
    return nn.ConvTranspose1d if ndim == 1 else nn.ConvTranspose2d


def default_smoothing(levels: int) -> list[tuple[int, int]]:
    """The published schedule: ``(1, 0)`` per level, ``(2, 0)`` on the two coarsest (5 levels:
    ``[[1, 0], [1, 0], [1, 0], [2, 0], [2, 0]]``)."""
    return [(1, 0)] * max(levels - 2, 0) + [(2, 0)] * min(levels, 2) if levels > 1 else [(1, 0)]


class Prolongation(nn.Module):
    """``ConvTranspose`` (kernel 4, stride 2, padding 1) from a coarse grid onto a finer one of given size.

    ``wrap``: the contributions that fall past an edge wrap round (periodic; our
    extension) instead of being dropped (the published behaviour).
    """

    def __init__(self, channels: int, ndim: int, wrap: bool):
        super().__init__()
        self.ndim, self.wrap = ndim, wrap
        self.conv = _conv_transpose(ndim)(channels, channels, 4, stride=2, padding=0 if wrap else 1, bias=False)

    def forward(self, coarse: torch.Tensor, fine_shape: tuple[int, ...]) -> torch.Tensor:
        out = self.conv(coarse)
        for axis, size in zip(range(-self.ndim, 0), fine_shape):
            if self.wrap:
                # full length 2m + 2: index j holds fine point j - 1; wrap -1 and 2m onto 2m - 1 and 0
                m2 = out.shape[axis] - 2
                body = out.narrow(axis, 1, m2).clone()
                body.narrow(axis, 0, 1).add_(out.narrow(axis, m2 + 1, 1))
                body.narrow(axis, m2 - 1, 1).add_(out.narrow(axis, 0, 1))
                out = body
            out = out.narrow(axis, 0, size)
        return out


def _norm(kind: str, channels: int, grid: tuple[int, ...] | None) -> nn.Module:
    if kind == "layer":
        return nn.LayerNorm([channels, *grid])
    if kind == "group":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class MultigridConv(nn.Module):
    """One V-cycle ``f (batch, C_f, *grid) -> u (batch, C_u, *grid)`` (linear when ``bias`` is off and ``norm`` none).

    Args:
        in_channels: ``C_f``. channels: ``C_u``. levels: grid levels (>= 1).
        smoothing: ``(pre, post)`` smoothing steps per level, finest first (default
            ``default_smoothing(levels)``).
        ndim: 1 or 2. padding: ``circular``, ``zeros`` or ``reflect``.
        norm: ``none``, ``layer`` (needs ``grid``) or ``group`` after each coarse-to-fine addition.
        restrict_residual: restrict ``f - A' u`` rather than ``f``.
        bias: bias in the smoothing convolutions ``A`` and ``S``.
        wrap_prolongation: periodic transposed convolutions (our extension).
        grid: points per axis of the finest level (for ``norm="layer"``).
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        levels: int,
        smoothing: list[tuple[int, int]] | None = None,
        ndim: int = 2,
        padding: str = "circular",
        norm: str = "none",
        restrict_residual: bool = False,
        bias: bool = False,
        wrap_prolongation: bool = False,
        grid: tuple[int, ...] | None = None,
    ):
        super().__init__()
        if padding not in PADDINGS:
            raise InputError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
        if norm not in NORMS:
            raise InputError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
        if levels < 1:
            raise InputError(f"levels must be >= 1, got {levels}")
        smoothing = [tuple(s) for s in (smoothing or default_smoothing(levels))]
        if len(smoothing) != levels or any(len(s) != 2 or min(s) < 0 for s in smoothing) or smoothing[0][0] < 1:
            raise InputError(
                f"smoothing must list {levels} (pre, post) pairs with pre >= 1 on the finest level, got {smoothing}"
            )
        self.levels, self.smoothing, self.ndim, self.padding = levels, smoothing, ndim, padding
        self.restrict_residual = restrict_residual
        conv = _conv(ndim)

        def operator(c_in, c_out, stride=1, with_bias=bias):
            return conv(c_in, c_out, 3, stride=stride, padding=1, padding_mode=padding, bias=with_bias)

        def pairs(count: int, first_has_a: bool = True):  # (A, S) per smoothing iteration
            return nn.ModuleList(
                nn.ModuleList(
                    [
                        operator(channels, in_channels) if i or first_has_a else nn.Identity(),
                        operator(in_channels, channels),
                    ]
                )
                for i in range(count)
            )

        # the very first smoothing (u = S f) applies no A
        self.pre = nn.ModuleList(pairs(pre, level > 0) for level, (pre, _) in enumerate(smoothing))
        self.post = nn.ModuleList(pairs(post) for _, post in smoothing)
        coarser = range(levels - 1)
        self.restrict_u = nn.ModuleList(operator(channels, channels, 2, False) for _ in coarser)
        self.restrict_f = nn.ModuleList(operator(in_channels, in_channels, 2, False) for _ in coarser)
        self.residual_a = nn.ModuleList(operator(channels, in_channels) for _ in coarser) if restrict_residual else None
        self.prolong = nn.ModuleList(Prolongation(channels, ndim, wrap_prolongation) for _ in coarser)
        if norm == "layer" and grid is None:
            raise InputError("norm='layer' is tied to the training grid: give grid_size (the data's points per axis)")
        self.norms = nn.ModuleList(
            _norm(norm, channels, None if grid is None else tuple(-(-n // 2**level) for n in grid)) for level in coarser
        )

    def check_grid(self, shape: tuple[int, ...]) -> None:
        """InputError unless ``levels`` coarsenings of this grid are possible."""
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
                source = f - self.residual_a[level](u) if self.restrict_residual else f
                u, f = self.restrict_u[level](u), self.restrict_f[level](source)
        for level in range(self.levels - 2, -1, -1):
            u = self.norms[level](us[level] + self.prolong[level](u, tuple(us[level].shape[2:])))
            for pair in self.post[level]:
                u = self._smooth(u, fs[level], pair)
        return u


class MgNO(nn.Module):
    """Layers ``u <- GELU(MgConv(u) [+ Conv1x1(u) + bias])`` and a 1x1 head; ``(batch, in, *grid) -> (batch, out, *grid)``.

    ``residual`` adds the input's last ``out_channels`` channels to the output
    (the published Navier-Stokes model, ``u + u0``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ndim: int,
        channels: int,
        layers: int,
        levels: int,
        smoothing: list[tuple[int, int]] | None = None,
        padding: str = "circular",
        norm: str = "none",
        residual: bool = False,
        restrict_residual: bool = False,
        coordinates: bool = False,
        grid: tuple[int, ...] | None = None,
        pointwise: bool = False,
        bias: bool = True,
        head_bias: bool = False,
        wrap_prolongation: bool = False,
    ):
        super().__init__()
        conv = _conv(ndim)
        self.coordinates = PeriodicCoordinates(ndim) if coordinates else nn.Identity()
        field_channels, in_channels = in_channels, in_channels + (2 * ndim if coordinates else 0)
        self.multigrid = nn.ModuleList()
        self.pointwise = nn.ModuleList() if pointwise else None
        for layer in range(layers):
            c_in = in_channels if layer == 0 else channels
            self.multigrid.append(
                MultigridConv(
                    c_in,
                    channels,
                    levels,
                    smoothing,
                    ndim,
                    padding,
                    norm,
                    restrict_residual,
                    bias,
                    wrap_prolongation,
                    grid,
                )
            )
            if pointwise:
                self.pointwise.append(conv(c_in, channels, 1))
        self.head = conv(channels, out_channels, 1, bias=head_bias)
        self.out_channels, self.residual = out_channels, residual
        if residual and field_channels < out_channels:
            raise InputError("residual output needs at least as many input channels as output channels")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.coordinates(x)
        for index, multigrid in enumerate(self.multigrid):
            v = multigrid(u)
            u = functional.gelu(v + self.pointwise[index](u) if self.pointwise is not None else v)
        out = self.head(u)
        return out + x[:, -self.out_channels :] if self.residual else out


# MgNO is translation equivariant: without positions it cannot place the FNO data's fixed forcing (1-step
# error 9 %, rollouts diverging); periodic coordinates (our extension; the published per-point LayerNorm
# does it too, at 3.6x the parameters and a little worse) fix it: benchmarks/ablation.py
@register(
    "mgno",
    bench=BenchSetup(
        small={"channels": 32, "layers": 3, "levels": 3, "coordinates": True},
        width_key="channels",
        shipped={"ns-1e-3": "mgno-ns", "ns-1e-5": "mgno-ns"},
    ),
)
def build_mgno(
    in_channels: int,
    out_channels: int,
    ndim: int,
    channels: int = 32,
    layers: int = 5,
    levels: int = 5,
    smoothing: list | None = None,
    padding: str = "circular",
    norm: str = "none",
    residual: bool = False,
    restrict_residual: bool = False,
    coordinates: bool = False,
    grid_size: int | None = None,
    pointwise: bool = False,
    bias: bool = True,
    head_bias: bool = False,
    wrap_prolongation: bool = False,
    resolution_consistent: bool = False,
    interpolation: str = "bilinear",
    kernel_resize: str = DEFAULT_KERNEL_RESIZE,
) -> nn.Module:
    """MgNO for 1D or 2D fields (the published model's structure by default; see the module docstring).

    Args:
        channels: ``C_u`` of every layer. layers: MgNO layers. levels: V-cycle levels.
        smoothing: ``[[pre, post], ...]`` per level, finest first (default the published schedule).
        padding: ``circular`` (periodic data), ``zeros`` or ``reflect``.
        norm: ``none``, ``layer`` (published, per grid point; needs ``grid_size``) or ``group`` (ours).
        residual: output ``u0 + head(u)`` (the published NS model).
        restrict_residual: restrict ``f - A' u`` instead of ``f``.
        coordinates: append periodic coordinate channels (ours). grid_size: the data's points per axis.
        pointwise: a 1x1 convolution with bias beside each V-cycle (ours; the public Darcy model's).
        bias: bias in the smoothing convolutions (the public NS command's ``--bias``).
        head_bias: bias in the 1x1 head (the published head has none).
        wrap_prolongation: periodic transposed convolutions (ours).
        resolution_consistent: convert by kernel interpolation so that the model runs on
            other grids (``operators.layers.resolution``; ours): stencils keep their physical
            size, prolongations run on their training grids, the per-point LayerNorm
            fields are resampled. Needs ``grid_size``. interpolation: ``bilinear`` or ``fourier``.
        kernel_resize: ``moments`` (ours: stencils keep their weights' physical offsets, which
            converges as the grid refines) or ``interpolate`` (the public kernel interpolation).
    """
    if ndim not in (1, 2):
        raise InputError(f"MgNO supports ndim 1 or 2, got {ndim!r}")
    if resolution_consistent and wrap_prolongation:
        raise InputError("wrap_prolongation cannot be made resolution consistent (its wrap-around is per grid point)")
    grid = None if grid_size is None else (grid_size,) * ndim
    model = MgNO(
        in_channels,
        out_channels,
        ndim,
        channels,
        layers,
        levels,
        smoothing,
        padding,
        norm,
        residual,
        restrict_residual,
        coordinates,
        grid,
        pointwise,
        bias,
        head_bias,
        wrap_prolongation,
    )
    return consistent_if_asked(model, resolution_consistent, in_channels, grid_size, ndim, interpolation, kernel_resize)
