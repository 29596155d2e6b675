"""Fourier-space building blocks on periodic grids: wavenumbers, dealiasing masks, FFT axes.

Conventions: a field on a d-dimensional periodic box ``[0, length)^d`` with ``n``
points per axis lives on ``x_j = j * length / n``. Spectral states are real FFTs
over the last ``d`` axes (``torch.fft.rfftn``), so the last spectral axis has
``n // 2 + 1`` entries.

``length`` is a number, or a float64 tensor of per-sample lengths of shape
``(batch,)``; then every wavenumber tensor gains a leading batch axis.
"""

from __future__ import annotations

import math

import torch

from solvers.errors import InputError

Length = float | torch.Tensor


def _integer_frequencies(n: int, real: bool) -> torch.Tensor:
    return (torch.fft.rfftfreq(n, d=1.0 / n) if real else torch.fft.fftfreq(n, d=1.0 / n)).to(torch.float64)


def _scale(length: Length, ndim: int) -> float | torch.Tensor:
    """``2 pi / length``, shaped ``(batch, 1, ..., 1)`` for per-sample lengths."""
    if isinstance(length, torch.Tensor):
        return (2 * math.pi / length.to(torch.float64)).reshape(-1, *(1,) * ndim)
    return 2 * math.pi / length


def spectral_grid(n: int, length: Length, ndim: int, *, zero_nyquist: bool = False) -> list[torch.Tensor]:
    """Angular wavenumbers ``2 pi m / length`` (float64), one broadcastable tensor per axis of an rfftn.

    The i-th tensor has ``n`` entries (``n // 2 + 1`` for the last axis) on axis i
    (counted from the end) and size 1 elsewhere. The Nyquist mode of even ``n``
    is positive; ``zero_nyquist=True`` zeroes it, as odd derivatives need: the
    derivative of the real Nyquist cosine is a sine the grid cannot represent.
    """
    grids = []
    for axis in range(ndim):
        m = _integer_frequencies(n, real=axis == ndim - 1)
        if zero_nyquist:
            m[n // 2] = 0.0
        shape = [1] * ndim
        shape[axis] = m.numel()
        grids.append(m.reshape(shape) * _scale(length, ndim))
    return grids


def squared_wavenumber(n: int, length: Length, ndim: int) -> torch.Tensor:
    """``|k|^2`` on the rfftn grid (float64), the symbol of ``-laplacian``."""
    total = torch.zeros((), dtype=torch.float64)
    for k in spectral_grid(n, length, ndim):
        total = total + k**2
    return total


def dealias_mask(n: int, ndim: int, fraction: float = 2.0 / 3.0) -> torch.Tensor:
    """Boolean mask of the modes kept by the ``fraction`` rule (2/3 by default).

    A mode survives when every component of its integer wavenumber satisfies
    ``|m| < fraction * n / 2`` (a square mask). With the 2/3 rule this is
    ``|m| < n / 3``, the condition under which quadratic products of kept modes
    alias only onto discarded ones (Orszag 1971). ``fraction = 1`` keeps all.
    """
    if not 0.0 < fraction <= 1.0:
        raise InputError(f"dealiasing fraction must lie in (0, 1], got {fraction}")
    keep = torch.ones((), dtype=torch.bool)
    for axis in range(ndim):
        m = _integer_frequencies(n, real=axis == ndim - 1).abs()
        kept = m < fraction * n / 2 - 1e-9 if fraction < 1.0 else torch.ones_like(m, dtype=torch.bool)
        shape = [1] * ndim
        shape[axis] = m.numel()
        keep = keep & kept.reshape(shape)
    return keep


def fft_axes(ndim: int) -> tuple[int, ...]:
    """The trailing ``ndim`` axes, as passed to ``torch.fft.rfftn``/``irfftn``."""
    return tuple(range(-ndim, 0))
