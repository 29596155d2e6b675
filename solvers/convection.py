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

    def nonlinear_multiplier(self) -> torch.Tensor:
        # derivative, coefficient and dealiasing mask in one multiplier, which the stepper folds away
        return -0.5j * self.convection_coefficient * self.derivative_wavenumbers[0] * self.mask

    def nonlinear_product(self, u_hat: torch.Tensor) -> torch.Tensor:
        u = torch.fft.irfft(u_hat, n=self.n)
        return torch.fft.rfft(u * u)
