"""Kuramoto-Sivashinsky equation, periodic: 1D conservative form and 2D gradient form."""

from __future__ import annotations

from typing import Any

import torch

from solvers.base import SpectralSolver
from solvers.convection import Convection1D


class KuramotoSivashinsky1D(Convection1D):
    """``u_t + u u_x + u_xx + u_xxxx = 0`` on ``[0, length)``, periodic (no coefficients).

    Args:
        n: grid points (even).
        length: period (default 64, LPSDA's; chaotic for lengths beyond about 2 pi * 3).
        dt: time step.
        **options: as in ``SpectralSolver``.

    Fields are ``(batch, n)``; ``L = k^2 - k^4`` (unstable for ``0 < |k| < 1``).
    """

    def __init__(self, n: int = 256, length: float = 64.0, dt: float = 0.25, **options: Any):
        super().__init__(n=n, length=length, dt=dt, **options)

    def linear_symbol(self) -> torch.Tensor:
        k2 = self.squared_wavenumber
        return k2 - k2**2


class KuramotoSivashinsky2D(SpectralSolver):
    """``u_t + |grad u|^2 / 2 + lap u + lap^2 u = 0`` on ``[0, length)^2``, periodic.

    The gradient ("combustion") form, the usual 2D generalisation; in 1D its
    derivative is the conservative form of ``KuramotoSivashinsky1D``.

    Args:
        n: grid points per axis (even).
        length: side (default 32).
        dt: time step.
        **options: as in ``SpectralSolver``.

    Fields are ``(batch, n, n)`` indexed ``[x, y]``; ``L = |k|^2 - |k|^4``,
    ``N = -|grad u|^2 / 2``, dealiased. The mean of ``u`` drifts (``N`` has a mean);
    subtract it when comparing states.
    """

    ndim = 2

    def __init__(self, n: int = 64, length: float = 32.0, dt: float = 0.1, **options: Any):
        super().__init__(n=n, length=length, dt=dt, **options)

    def linear_symbol(self) -> torch.Tensor:
        k2 = self.squared_wavenumber
        return k2 - k2**2

    def prepare_nonlinear(self) -> None:
        kx, ky = torch.broadcast_tensors(*self.derivative_wavenumbers)
        self._gradient = self.constant(torch.stack([1j * kx, 1j * ky], dim=-3))

    def nonlinear_multiplier(self) -> torch.Tensor:
        return -0.5 * self.mask.to(torch.float64)

    def nonlinear_product(self, u_hat: torch.Tensor) -> torch.Tensor:
        gradient = torch.fft.irfft2(u_hat[:, None] * self._gradient, s=self.grid_shape)
        return torch.fft.rfft2((gradient * gradient).sum(dim=1))
