"""Fourier resampling of periodic fields: the one resampler every layer uses (up and down, any axes).

A periodic field on ``n`` points ``x_j = j * length / n`` is a trigonometric sum over
the integer wavenumbers the grid holds: ``|m| < n / 2``, plus the Nyquist mode
``m = n / 2`` when ``n`` is even (where ``+n/2`` and ``-n/2`` are the same point
values). Resampling evaluates that sum on another grid of the same box:

- up (``m > n``): every mode is copied; a Nyquist coefficient is split in equal
  halves between ``+n/2`` and ``-n/2`` (so a sampled ``cos(pi n x / length)`` stays
  a cosine, the symmetric, real interpretation);
- down (``m < n``): modes ``|k| < m / 2`` are kept, higher ones dropped, and the new
  Nyquist mode receives the sum of the ``+m/2`` and ``-m/2`` coefficients: the
  result equals truncating the spectrum to ``|k| <= m/2`` and sampling the
  truncated field at the coarse points.

Band-limited fields are therefore resampled exactly both ways, and ``down(up(u))``
returns ``u``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from solvers.errors import InputError


def _resize_axis(spectrum: torch.Tensor, axis: int, size: int) -> torch.Tensor:
    """Resize a full (two-sided, ``norm="forward"``) spectrum along ``axis`` to ``size`` modes."""
    old = spectrum.shape[axis]
    if old == size:
        return spectrum
    low = min(old, size)
    positive, negative = (low - 1) // 2 + 1, (low - 1) // 2  # modes 0..p-1 and -1..-q, both grids hold them
    shape = list(spectrum.shape)
    shape[axis] = size
    out = spectrum.new_zeros(shape)
    out.narrow(axis, 0, positive).copy_(spectrum.narrow(axis, 0, positive))
    if negative:
        out.narrow(axis, size - negative, negative).copy_(spectrum.narrow(axis, old - negative, negative))
    if low % 2 == 0:  # the smaller grid has a Nyquist mode at +-low/2
        nyquist = low // 2
        if size > old:  # split the old Nyquist coefficient between +n/2 and -n/2
            half = spectrum.narrow(axis, nyquist, 1) / 2
            out.narrow(axis, nyquist, 1).copy_(half)
            out.narrow(axis, size - nyquist, 1).copy_(half)
        else:  # the new Nyquist point values come from both +m/2 and -m/2
            both = spectrum.narrow(axis, nyquist, 1) + spectrum.narrow(axis, old - nyquist, 1)
            out.narrow(axis, nyquist, 1).copy_(both)
    return out


def fourier_resample(u: torch.Tensor, shape: int | Sequence[int], ndim: int | None = None) -> torch.Tensor:
    """Resample periodic fields to ``shape`` points on their last axes.

    Args:
        u: real or complex fields ``(..., *grid)``, periodic on the last ``ndim`` axes.
        shape: new points per axis: one integer for every axis, or one per axis.
        ndim: number of trailing grid axes (default ``len(shape)``, or 1 for an integer).

    Returns:
        ``(..., *shape)`` in ``u``'s dtype (the point values of the same trigonometric
        interpolant on the new grid of the same box; see the module docstring).
    """
    if not isinstance(u, torch.Tensor) or not (u.is_floating_point() or u.is_complex()):
        raise InputError(f"u must be a floating-point or complex tensor, got {type(u).__name__}")
    if ndim is None:
        ndim = 1 if isinstance(shape, int) else len(shape)
    sizes = [shape] * ndim if isinstance(shape, int) else list(shape)
    if len(sizes) != ndim or ndim < 1 or ndim > u.dim():
        raise InputError(f"shape {shape!r} does not match ndim {ndim} for a tensor of shape {tuple(u.shape)}")
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        raise InputError(f"grid sizes must be positive integers, got {shape!r}")
    if tuple(u.shape[-ndim:]) == tuple(sizes):
        return u
    axes = tuple(range(u.dim() - ndim, u.dim()))
    compute = u if u.dtype in (torch.float64, torch.complex128, torch.complex64) else u.float()
    spectrum = torch.fft.fftn(compute, dim=axes, norm="forward")
    for axis, size in zip(axes, sizes):
        spectrum = _resize_axis(spectrum, axis, size)
    out = torch.fft.ifftn(spectrum, dim=axes, norm="forward")
    return (out if u.is_complex() else out.real).to(u.dtype)
