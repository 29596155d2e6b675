"""Kuramoto-Sivashinsky equation in 1D: ``u_t + u u_x + u_xx + u_xxxx = 0``, periodic."""

from __future__ import annotations

import torch

from solvers.convection import Convection1D


class KuramotoSivashinsky1D(Convection1D):
    """``u_t + u u_x + u_xx + u_xxxx = 0`` on ``[0, length)``, periodic (no coefficients).

    Args:
        n: grid points (even). length: period (default 64, LPSDA's; chaotic for
        lengths beyond about 2 pi * 3). dt: time step. Further keywords as in
        ``SpectralSolver``.

    Fields are ``(batch, n)``; ``L = k^2 - k^4`` (unstable for ``0 < |k| < 1``).
    """

    def __init__(self, n: int = 256, length: float = 64.0, dt: float = 0.25, **options):
        super().__init__(n=n, length=length, dt=dt, **options)

    def linear_symbol(self) -> torch.Tensor:
        k2 = self.squared_wavenumber
        return k2 - k2**2
