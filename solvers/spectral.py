"""Fourier-space building blocks on periodic grids: wavenumbers, dealiasing masks, FFT axes.

Conventions: a field on a d-dimensional periodic box ``[0, length)^d`` with ``n``
points per axis lives on ``x_j = j * length / n``. Spectral states are real FFTs
over the last ``d`` axes (``torch.fft.rfftn``), so the last spectral axis has
``n // 2 + 1`` entries.
"""

from __future__ import annotations

import math

import torch


def angular_wavenumbers(n: int, length: float, *, real: bool = False) -> torch.Tensor:
    """Angular wavenumbers ``2 pi m / length`` (float64) of an ``n``-point FFT axis.

    ``real=True`` gives the ``n // 2 + 1`` wavenumbers of the halved (rfft) axis.
    The Nyquist mode of an even ``n`` is returned as positive ``pi n / length``;
    odd derivatives zero it (see ``derivative_wavenumbers``).
    """
    integers = torch.fft.rfftfreq(n, d=1.0 / n) if real else torch.fft.fftfreq(n, d=1.0 / n)
    return integers.to(torch.float64) * (2 * math.pi / length)


def spectral_grid(n: int, length: float, ndim: int) -> list[torch.Tensor]:
    """Broadcastable angular wavenumber tensors, one per axis, for an rfftn of ``ndim`` axes.

    Returns ``ndim`` float64 tensors; the i-th has shape ``n`` (or ``n // 2 + 1``
    for the last axis) on axis i and size 1 elsewhere.
    """
    grids = []
    for axis in range(ndim):
        k = angular_wavenumbers(n, length, real=axis == ndim - 1)
        shape = [1] * ndim
        shape[axis] = k.numel()
        grids.append(k.reshape(shape))
    return grids


def derivative_wavenumbers(n: int, length: float, ndim: int) -> list[torch.Tensor]:
    """Like ``spectral_grid`` but with the Nyquist mode zeroed, for odd derivatives.

    An odd derivative of the real Nyquist cosine is a sine that the grid cannot
    represent; zeroing it keeps derivatives of real fields real.
    """
    grids = spectral_grid(n, length, ndim)
    if n % 2 == 0:
        for k in grids:
            flat = k.view(-1)
            flat[n // 2] = 0.0
    return grids


def squared_wavenumber(n: int, length: float, ndim: int) -> torch.Tensor:
    """``|k|^2`` on the rfftn grid (float64), the symbol of ``-laplacian``."""
    total = torch.zeros(())
    for k in spectral_grid(n, length, ndim):
        total = total + k**2
    return total.to(torch.float64)


def dealias_mask(n: int, ndim: int, fraction: float = 2.0 / 3.0) -> torch.Tensor:
    """Boolean mask of the modes kept by the ``fraction`` rule (2/3 by default).

    A mode survives when every component of its integer wavenumber satisfies
    ``|m| < fraction * n / 2`` (a square mask). With the 2/3 rule this is
    ``|m| < n / 3``, the condition under which quadratic products of kept modes
    alias only onto discarded ones (Orszag 1971).
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"dealiasing fraction must lie in (0, 1], got {fraction}")
    cutoff = fraction * n / 2
    keep = torch.ones((), dtype=torch.bool)
    for axis in range(ndim):
        real = axis == ndim - 1
        m = (torch.fft.rfftfreq(n, d=1.0 / n) if real else torch.fft.fftfreq(n, d=1.0 / n)).abs()
        # fraction == 1 keeps every mode, Nyquist included
        kept = m < cutoff - 1e-9 if fraction < 1.0 else torch.ones_like(m, dtype=torch.bool)
        shape = [1] * ndim
        shape[axis] = m.numel()
        keep = keep & kept.reshape(shape)
    return keep


def fft_axes(ndim: int) -> tuple[int, ...]:
    """The trailing ``ndim`` axes, as passed to ``torch.fft.rfftn``/``irfftn``."""
    return tuple(range(-ndim, 0))
