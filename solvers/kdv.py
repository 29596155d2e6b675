"""Korteweg-de Vries equation in 1D: ``u_t + alpha u u_x + beta u_xxx = 0``, periodic."""

from __future__ import annotations

from typing import Any

import torch

from solvers.base import finite_coefficient
from solvers.convection import Convection1D


class KdV1D(Convection1D):
    """``u_t + alpha u u_x + beta u_xxx = 0`` on ``[0, length)``, periodic.

    Args:
        n: grid points (even).
        length: period (default 128, LPSDA's).
        dt: time step.
        alpha: convection coefficient (default 6, the soliton form; 1 gives LPSDA's
            ``u_t = -u u_x - u_xxx``).
        beta: dispersion coefficient (default 1).
        **options: as in ``SpectralSolver``.

    Fields are ``(batch, n)``. The symbol ``L = i beta k^3`` is imaginary, so the
    ETDRK coefficients stay complex. Conserved: the integrals of ``u``, ``u^2``
    and ``beta u_x^2 / 2 - (alpha / 6) u^3``.
    """

    def __init__(
        self,
        n: int = 256,
        length: float = 128.0,
        dt: float = 1e-2,
        alpha: float = 6.0,
        beta: float = 1.0,
        **options: Any,
    ):
        self.alpha = finite_coefficient("alpha", alpha)
        self.beta = finite_coefficient("beta", beta)
        self.convection_coefficient = self.alpha
        super().__init__(n=n, length=length, dt=dt, **options)

    def linear_symbol(self) -> torch.Tensor:
        k = self.derivative_wavenumbers[0]
        return 1j * self.beta * k**3

    def _coefficient_text(self) -> str:
        return f"alpha={self.alpha:g}, beta={self.beta:g}, "
