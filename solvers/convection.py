"""The conservative quadratic convection term ``-(c/2) (u^2)_x`` shared by the 1D equations."""

from __future__ import annotations

import torch

from solvers.base import SpectralSolver


class Convection1D(SpectralSolver):
    """A 1D solver whose nonlinear term is ``N(u) = -(c/2) (u^2)_x``, dealiased.

    Subclasses set ``convection_coefficient`` (``c``) before calling
    ``SpectralSolver.__init__`` and give the linear symbol.
    """

    ndim = 1
    convection_coefficient: float = 1.0

    def prepare_nonlinear(self) -> None:
        k = self.derivative_wavenumbers[0]
        # -(c/2) * i k * mask folded into one multiplier, cast once
        self._convection = self.constant(-0.5j * self.convection_coefficient * k * self.mask)

    def nonlinear(self, u_hat: torch.Tensor) -> torch.Tensor:
        u = torch.fft.irfft(u_hat, n=self.n)
        return self._convection * torch.fft.rfft(u * u)
