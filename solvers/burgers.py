"""Viscous Burgers equation in 1D: ``u_t + u u_x = nu u_xx`` on a periodic interval."""

from __future__ import annotations

from typing import Any

import torch

from solvers.base import nonnegative_coefficient
from solvers.convection import Convection1D


class Burgers1D(Convection1D):
    """``u_t + u u_x = nu u_xx`` on ``[0, length)``, periodic.

    Args:
        n: grid points (even).
        length: period (default 1, as in FNO's Burgers).
        dt: time step.
        nu: viscosity (default 0.1, FNO's value).
        **options: ``order``, ``dealias``, ``dtype``, ``device`` as in ``SpectralSolver``.

    Fields are ``(batch, n)``; ``L = -nu k^2``, ``N = -(u^2/2)_x``.
    """

    def __init__(self, n: int = 256, length: float = 1.0, dt: float = 1e-3, nu: float = 0.1, **options: Any):
        self.nu = nonnegative_coefficient("nu", nu)
        super().__init__(n=n, length=length, dt=dt, **options)

    def linear_symbol(self) -> torch.Tensor:
        return -self.nu * self.squared_wavenumber

    def _coefficient_text(self) -> str:
        return f"nu={self.nu:g}, "
