"""Resolution-consistent conversions of grid-tied layers (the "NNs to neural operators" recipe).

Berner, Liu-Schiaffini, Kossaifi et al. (2025) turn a network into a neural
operator by replacing every operation tied to grid indices with one defined in
physical space. This module does it by **kernel interpolation**, as their public
``InterpConv2d`` does, for any model built from torch convolutions:

- a convolution trained on a grid of ``N_train`` points, run on ``N`` points
  (scale ``s = N / N_train``), keeps the physical extent of its kernel: a
  ``k``-tap kernel becomes ``k' = s (k - 1) + 1`` taps (the public
  ``int(s*k - s + 1)``). The public code resizes the weights as a function
  (``kernel_resize="interpolate"``: ``bilinear`` linear interpolation, or
  ``fourier``, trigonometric) and divides them by the tap-count ratio ``k'/k``
  per axis, so that their sum is about kept. By default we instead move each
  tap, with its weight, to its physical offset (``kernel_resize="moments"``,
  ``spread_kernel``): the sum and first moment are kept exactly and at integer
  scales the kernel is the dilated one, the same operator on a smooth field. The
  public resize changes a 3-tap kernel's sum by up to 17 % at scale 2, so a
  converted MgNO (3x3 stencils) applied another operator on every other grid:
  on the same trained weights its one-step error at 256^2 over 64^2 is 1.87x
  with the public rule and 1.29x with moments, U-Net-NO's 1.13x and 1.00x
  (``benchmarks/resolution.py --nu 1e-5``);
- a transposed convolution keeps its weights: its input is resampled to the
  grid it was trained on and its output back by ``s``;
- a LayerNorm over the grid (MgNO's learned per-point scale and shift) resamples
  its scale and shift fields to the new grid (they are functions of space);
- pointwise operations (1x1 convolutions, activations, GroupNorm, which averages
  over the grid) are already consistent and stay as they are.

Where the public code is wrong or silent, we chose:

- **odd kernels always**: ``k'`` is the odd integer nearest ``s (k - 1) + 1``
  (ties go to the larger), and a "same" convolution (padding ``(k - 1) / 2``)
  gets padding ``(k' - 1) / 2``. The public formula gives even kernels at
  ``s < 1`` or non-integer ``s`` (3 taps become 2 at ``s = 0.5``, and 3 at
  ``s = 0.75`` becomes 2 as well), which shifts the output by half a cell and
  shrinks it by one point;
- **non-integer scales** per axis (48 points from 64, 96 from 64) by the same
  rule; the scale of each layer is its input size over the size that layer saw
  at the training resolution (recorded once by a probe forward pass), so
  strided levels whose sizes round differently still get their own scale;
- **1D** as well as 2D (linear instead of bilinear interpolation);
- the output of a transposed convolution is resampled to ``round(s * n)``
  points, where ``n`` is its output size at the training resolution;
- **where the samples sit**: kernels are resized as the public code does
  (cell-centred, ``align_corners=False``; we tried taps placed end on end at the
  stencil's nodes instead, and the converted layer drifted further from its
  training-resolution output); the public ``fourier`` kernel resize anchors
  the first tap and so shifts the centre, ours is centred. Fields and
  activations are node-sampled (``x_i = i L / n``) and periodic, so they are
  resampled at ``j L / n'`` with wrap-around (linear) or trigonometrically
  (``fourier``); the public code's ``F.interpolate(align_corners=False)`` would
  treat them as cell centres and shift them by a fraction of a cell.

At the training resolution every converted layer runs the original layer
unchanged, so a converted model equals the plain one there.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

from operators.layers.periodic import PeriodicConv1d, PeriodicConv2d
from solvers.errors import InputError
from solvers.resample import fourier_resample

INTERPOLATIONS = ("bilinear", "fourier")
#: how a stencil moves to another grid: ``moments`` (ours, the default) or ``interpolate`` (the public code's)
KERNEL_RESIZES = ("moments", "interpolate")
DEFAULT_KERNEL_RESIZE = "moments"


def interpolated_kernel_size(kernel: int, scale: float) -> int:
    """Taps of a ``kernel``-tap stencil at grid scale ``scale`` (same physical extent, odd).

    >>> interpolated_kernel_size(9, 2.0), interpolated_kernel_size(9, 0.5), interpolated_kernel_size(3, 0.5)
    (17, 5, 3)
    """
    if kernel == 1:
        return 1
    exact = scale * (kernel - 1) + 1
    half = math.floor((exact - 1) / 2 + 0.5)  # ties to the larger odd size
    return max(1, 2 * half + 1)


def _linear_matrix(positions: torch.Tensor, n: int, periodic: bool) -> torch.Tensor:
    """``(len(positions), n)``: linear interpolation of ``n`` samples at index ``0..n-1`` onto ``positions``."""
    low = positions.floor()
    frac = positions - low
    low = low.long()
    matrix = torch.zeros(len(positions), n, dtype=torch.float64)
    rows = torch.arange(len(positions))
    for index, weight in ((low, 1 - frac), (low + 1, frac)):
        index = index % n if periodic else index.clamp(0, n - 1)
        matrix.index_put_((rows, index), weight, accumulate=True)
    return matrix


def _trigonometric_matrix(positions: torch.Tensor, n: int) -> torch.Tensor:
    """``(len(positions), n)``: the trigonometric interpolant of ``n`` periodic samples, at ``positions``
    (in index units; an even ``n``'s Nyquist mode enters as a cosine)."""
    modes = torch.arange(-((n - 1) // 2), n // 2 + 1, dtype=torch.float64)
    offsets = positions[:, None] - torch.arange(n, dtype=torch.float64)[None, :]
    phases = 2 * math.pi * offsets[..., None] * modes / n
    return torch.cos(phases).sum(-1) / n


def _apply_per_axis(x: torch.Tensor, matrices: list[torch.Tensor]) -> torch.Tensor:
    """``x`` with ``matrices[i]`` ``(new, old)`` applied along its ``i``-th trailing grid axis."""
    ndim = len(matrices)
    for axis, matrix in enumerate(matrices):
        dim = x.dim() - ndim + axis
        x = torch.movedim(torch.movedim(x, dim, -1) @ matrix.T.to(x), -1, dim)
    return x


def resample_grid(x: torch.Tensor, shape: tuple[int, ...], interpolation: str) -> torch.Tensor:
    """Periodic fields ``(..., *grid)`` sampled at ``x_i = i L / n`` resampled to ``shape`` points per axis.

    ``fourier``: the trigonometric interpolant (``solvers.fourier_resample``);
    ``bilinear``: periodic (bi)linear interpolation at the new points ``j L / n'``. (The public
    code's ``F.interpolate(..., align_corners=False)`` treats samples as cell centres, which
    shifts node-sampled fields by a fraction of a cell.)
    """
    old = tuple(x.shape[-len(shape) :])
    if old == tuple(shape):
        return x
    if interpolation == "fourier":
        return fourier_resample(x, shape, len(shape))
    matrices = [
        _linear_matrix(torch.arange(new, dtype=torch.float64) * n / new, n, periodic=True)
        for n, new in zip(old, shape, strict=True)
    ]
    return _apply_per_axis(x, matrices)


def resize_kernel(weight: torch.Tensor, taps: tuple[int, ...], interpolation: str) -> torch.Tensor:
    """Kernel ``(C_out, C_in, *k)`` resized to ``taps`` per axis, divided by the tap-count ratio.

    As the public code: each tap stands for a cell, the ``k`` cells are stretched onto
    ``k'`` (centre on centre; ``F.interpolate``'s ``align_corners=False`` positions) and the
    values interpolated linearly (``bilinear``) or trigonometrically (``fourier``, centred:
    the public ``resize`` anchors the first tap, which shifts an odd kernel's centre).
    """
    old = tuple(weight.shape[2:])
    if old == tuple(taps):
        return weight
    if interpolation == "fourier":
        matrices = [
            _trigonometric_matrix((torch.arange(new, dtype=torch.float64) + 0.5) * k / new - 0.5, k)
            for k, new in zip(old, taps, strict=True)
        ]
        resized = _apply_per_axis(weight, matrices)
    else:
        mode = "linear" if len(taps) == 1 else "bilinear"
        resized = functional.interpolate(weight, size=tuple(taps), mode=mode, align_corners=False)
    return resized / (math.prod(taps) / math.prod(old))


def _spread_matrix(kernel: int, taps: int, scale: float) -> torch.Tensor:
    """``(taps, kernel)``: tap ``i`` of a centred ``kernel``-tap stencil moved to offset ``(i - c) * scale`` of a
    centred ``taps``-tap one and split linearly between the two taps beside it (clamped to the ends)."""
    positions = (torch.arange(kernel, dtype=torch.float64) - (kernel - 1) / 2) * scale + (taps - 1) / 2
    low = positions.floor()
    frac = positions - low
    matrix = torch.zeros(taps, kernel, dtype=torch.float64)
    columns = torch.arange(kernel)
    for index, weight in ((low.long(), 1 - frac), (low.long() + 1, frac)):
        matrix.index_put_((index.clamp(0, taps - 1), columns), weight, accumulate=True)
    return matrix


def spread_kernel(weight: torch.Tensor, taps: tuple[int, ...], scales: tuple[float, ...]) -> torch.Tensor:
    """Kernel ``(C_out, C_in, *k)`` moved onto a grid ``scales`` times as fine, each tap keeping its weight and
    its physical offset (``moments``, ours).

    A tap that falls between two points of the new grid is split between them linearly, so the
    kernel's sum and first moment are kept exactly and a smooth field sees the same operator
    (``sum_i w_i u(x + i h)``). At an integer scale the result is the dilated kernel: on the
    finer grid's points that the training grid shares, a convolution then gives exactly its
    training-grid output. (Interpolating the taps as a function, the public way, changes a
    3-tap kernel's sum at scale 2: the centre tap gains 8 % per axis and the end taps lose 4 %.)
    """
    old = tuple(weight.shape[2:])
    matrices = [_spread_matrix(k, new, s) for k, new, s in zip(old, taps, scales, strict=True)]
    return _apply_per_axis(weight, matrices)


def _check_interpolation(interpolation: str, kernel_resize: str = DEFAULT_KERNEL_RESIZE) -> None:
    if interpolation not in INTERPOLATIONS:
        raise InputError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
    _check_kernel_resize(kernel_resize)


def _check_kernel_resize(kernel_resize: str) -> None:
    if kernel_resize not in KERNEL_RESIZES:
        raise InputError(f"kernel_resize must be one of {', '.join(KERNEL_RESIZES)}, got {kernel_resize!r}")


def _scales(size: tuple[int, ...], base: tuple[int, ...]) -> tuple[float, ...]:
    return tuple(n / b for n, b in zip(size, base, strict=True))


class _InterpConvMixin:
    """Shared by the 1D and 2D interpolating convolutions (``nn.Conv1d``/``nn.Conv2d`` subclasses)."""

    base_size: tuple[int, ...]
    interpolation: str
    kernel_resize: str

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = tuple(x.shape[2:])
        if size == self.base_size:
            return self._conv_forward(x, self.weight, self.bias)
        scales = _scales(size, self.base_size)
        taps = tuple(interpolated_kernel_size(k, s) for k, s in zip(self.kernel_size, scales, strict=True))
        if self.kernel_resize == "moments":
            weight = spread_kernel(self.weight, taps, scales).to(self.weight)
        else:
            weight = resize_kernel(self.weight, taps, self.interpolation)
        padding = []
        for k, p, t, s in zip(self.kernel_size, self.padding, taps, scales, strict=True):
            padding.append((t - 1) // 2 if 2 * p == k - 1 else round(p * s))
        if self.padding_mode != "zeros":
            pads = [amount for p in reversed(padding) for amount in (p, p)]
            x = functional.pad(x, pads, mode=self.padding_mode)
            padding = [0] * len(padding)
        conv = functional.conv1d if x.dim() == 3 else functional.conv2d
        return conv(x, weight, self.bias, self.stride, tuple(padding), self.dilation, self.groups)


class InterpConv1d(_InterpConvMixin, nn.Conv1d):
    """``nn.Conv1d`` whose kernel keeps its physical extent at other resolutions (see the module docstring)."""


class InterpConv2d(_InterpConvMixin, nn.Conv2d):
    """``nn.Conv2d`` whose kernel keeps its physical extent at other resolutions (see the module docstring)."""


class _InterpConvTransposeMixin:
    """Shared by the 1D and 2D resampling transposed convolutions."""

    base_size: tuple[int, ...]
    base_output: tuple[int, ...]
    interpolation: str

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        size = tuple(x.shape[2:])
        if size == self.base_size:
            return super().forward(x, output_size)
        scales = _scales(size, self.base_size)
        out = super().forward(resample_grid(x, self.base_size, self.interpolation))
        target = tuple(max(1, round(n * s)) for n, s in zip(self.base_output, scales, strict=True))
        return resample_grid(out, target, self.interpolation)


class InterpConvTranspose1d(_InterpConvTransposeMixin, nn.ConvTranspose1d):
    """``nn.ConvTranspose1d`` run on its training grid, its input and output resampled."""


class InterpConvTranspose2d(_InterpConvTransposeMixin, nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` run on its training grid, its input and output resampled."""


class InterpLayerNorm(nn.LayerNorm):
    """LayerNorm over ``(C, *grid)`` whose per-point scale and shift are resampled to the input grid."""

    interpolation: str

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = tuple(x.shape[-(len(self.normalized_shape) - 1) :])
        if grid == tuple(self.normalized_shape[1:]):
            return super().forward(x)
        weight = None if self.weight is None else resample_grid(self.weight, grid, self.interpolation)
        bias = None if self.bias is None else resample_grid(self.bias, grid, self.interpolation)
        return functional.layer_norm(x, (self.normalized_shape[0], *grid), weight, bias, self.eps)


class InterpPeriodicConv1d(_InterpConvMixin, PeriodicConv1d):
    """``PeriodicConv1d`` (cheap circular padding) whose kernel keeps its physical extent at other resolutions."""


class InterpPeriodicConv2d(_InterpConvMixin, PeriodicConv2d):
    """``PeriodicConv2d`` (cheap circular padding) whose kernel keeps its physical extent at other resolutions."""


#: every convolution class the models use, by exact type: a subclass missing here would keep its grid-tied
#: kernel (the periodic convolutions were, and unet-no's outputs at 128^2 and 256^2 differed by 24-41 %), so
#: ``make_resolution_consistent`` refuses one it does not know
_CONVERSIONS = {
    nn.Conv1d: InterpConv1d,
    nn.Conv2d: InterpConv2d,
    PeriodicConv1d: InterpPeriodicConv1d,
    PeriodicConv2d: InterpPeriodicConv2d,
    nn.ConvTranspose1d: InterpConvTranspose1d,
    nn.ConvTranspose2d: InterpConvTranspose2d,
}
_GRID_TIED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def make_resolution_consistent(
    model: nn.Module,
    example: torch.Tensor,
    interpolation: str = "bilinear",
    kernel_resize: str = DEFAULT_KERNEL_RESIZE,
) -> nn.Module:
    """Convert ``model``'s grid-tied layers in place so that it runs at any resolution.

    Args:
        model: built from torch convolutions, transposed convolutions and norms.
        example: an input at the training resolution ``(1, C_in, *grid)``; one forward
            pass records the grid each layer sees there.
        interpolation: ``bilinear`` (the public code's) or ``fourier``, for resampled
            activations and, with ``kernel_resize="interpolate"``, for kernels.
        kernel_resize: ``moments`` (``spread_kernel``; ours) or ``interpolate``
            (``resize_kernel``; the public code's).

    Returns:
        ``model`` (same parameters and state-dict keys), with ``resolution_consistent = True``.
    """
    _check_interpolation(interpolation, kernel_resize)
    unknown = {type(m).__name__ for m in model.modules() if isinstance(m, _GRID_TIED) and type(m) not in _CONVERSIONS}
    if unknown:
        raise InputError(f"cannot make {', '.join(sorted(unknown))} resolution consistent (no kernel interpolation)")
    seen: dict[nn.Module, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def record(module: nn.Module, args: tuple, out: torch.Tensor) -> None:  # the grids at training resolution
        seen.setdefault(module, (tuple(args[0].shape[2:]), tuple(out.shape[2:])))

    hooks = [module.register_forward_hook(record) for module in model.modules() if type(module) in _CONVERSIONS]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for hook in hooks:
            hook.remove()
    for module in list(model.modules()):
        if type(module) in _CONVERSIONS and module in seen:
            if any(d != 1 for d in module.dilation):
                raise InputError("kernel interpolation of dilated convolutions is not supported")
            module.__class__ = _CONVERSIONS[type(module)]  # same parameters, new forward
            module.base_size, module.base_output = seen[module]
            module.interpolation, module.kernel_resize = interpolation, kernel_resize
        elif type(module) is nn.LayerNorm and len(module.normalized_shape) > 1:
            module.__class__ = InterpLayerNorm
            module.interpolation = interpolation
    model.resolution_consistent = True
    return model


def set_kernel_resize(model: nn.Module, kernel_resize: str) -> int:
    """Switch every converted convolution of ``model`` to ``kernel_resize`` (same weights); returns how many.

    For comparing the two rules on one trained model (``benchmarks/resolution.py``).
    """
    _check_kernel_resize(kernel_resize)
    converted = [m for m in model.modules() if isinstance(m, _InterpConvMixin)]
    for module in converted:
        module.kernel_resize = kernel_resize
    return len(converted)


def consistent_if_asked(
    model: nn.Module,
    asked: bool,
    in_channels: int,
    grid_size: int | None,
    ndim: int,
    interpolation: str,
    kernel_resize: str = DEFAULT_KERNEL_RESIZE,
) -> nn.Module:
    """``model`` converted by ``make_resolution_consistent`` when ``asked`` (builders' shared option)."""
    _check_interpolation(interpolation, kernel_resize)
    if not asked:
        return model
    if grid_size is None:
        raise InputError("resolution_consistent needs grid_size (the training grid's points per axis)")
    example = torch.zeros(1, in_channels, *(grid_size,) * ndim)
    return make_resolution_consistent(model, example, interpolation, kernel_resize)
