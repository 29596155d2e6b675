"""2D incompressible Navier-Stokes in vorticity form on a periodic square.

``w_t + v . grad w = nu lap w - mu w + f`` with ``v = (psi_y, -psi_x)`` and
``-lap psi = w`` (the FNO convention; exponax's vorticity is the negative).
"""

from __future__ import annotations

import torch

from solvers.base import SpectralSolver, nonnegative_coefficient, per_sample_coefficient
from solvers.errors import InputError


class NavierStokes2D(SpectralSolver):
    """Vorticity ``w`` of 2D incompressible flow on ``[0, length)^2``, periodic.

    Args:
        n: grid points per axis (even). length: side (default 1, FNO's unit torus).
        dt: time step. nu: viscosity (default 1e-3), or a 1D sequence of per-sample
            viscosities. mu: linear drag (default 0).
        forcing: optional time-independent forcing ``f``, an ``(n, n)`` tensor on the
            grid, or ``(batch, n, n)`` per sample (default none). Further keywords as in
            ``SpectralSolver``. Per-sample values fix the batch size, as per-sample
            ``length`` and ``dt`` do.

    Fields are ``(batch, n, n)`` indexed ``[x, y]``. ``L = -nu |k|^2 - mu``;
    ``N = -div(v w) + f`` (equal to ``-(v . grad w) + f`` as ``div v = 0``), the advection dealiased. The mean of ``w`` is
    conserved (it stays 0 for periodic flow with zero-mean forcing).
    """

    ndim = 2

    def __init__(
        self,
        n: int = 64,
        length: float = 1.0,
        dt: float = 1e-3,
        nu: float = 1e-3,
        mu: float = 0.0,
        forcing: torch.Tensor | None = None,
        **options,
    ):
        self.nu = per_sample_coefficient("nu", nu)
        self.mu = nonnegative_coefficient("mu", mu)
        if forcing is not None:
            if (
                not isinstance(forcing, torch.Tensor)
                or tuple(forcing.shape[-2:]) != (n, n)
                or forcing.dim() not in (2, 3)
            ):
                shape = tuple(forcing.shape) if isinstance(forcing, torch.Tensor) else type(forcing).__name__
                raise InputError(f"forcing must be an ({n}, {n}) or (batch, {n}, {n}) tensor on the grid, got {shape}")
            if not forcing.is_floating_point() or not bool(torch.isfinite(forcing).all()):
                raise InputError("forcing must be a finite real floating-point tensor")
        self.forcing = forcing
        super().__init__(n=n, length=length, dt=dt, **options)

    def per_sample_values(self) -> dict[str, torch.Tensor | float]:
        values = {"nu": self.nu}
        if self.forcing is not None and self.forcing.dim() == 3:
            values["forcing"] = self.forcing
        return values

    def linear_symbol(self) -> torch.Tensor:
        return -self._broadcast(self.nu) * self.squared_wavenumber - self.mu

    def prepare_nonlinear(self) -> None:
        k2 = self.squared_wavenumber
        kx, ky, _ = torch.broadcast_tensors(*self.derivative_wavenumbers, k2)
        inverse_k2 = torch.where(k2 > 0, 1.0 / torch.where(k2 > 0, k2, 1.0), 0.0)
        # w_hat -> (v_x, v_y, w) in one multiply and one inverse FFT; the advection is then
        # taken in divergence form, div(v w), which needs one inverse FFT fewer than v . grad w
        # (the flow is divergence-free) and keeps the mean of w exactly
        self._velocity_and_vorticity = self.constant(
            torch.stack(
                [1j * ky * inverse_k2, -1j * kx * inverse_k2, torch.ones_like(inverse_k2, dtype=torch.complex128)],
                dim=-3,
            )
        )
        self._minus_divergence = self.constant(torch.stack([-1j * kx * self.mask, -1j * ky * self.mask], dim=-3))
        self._forcing_hat = None
        if self.forcing is not None:
            f = self.forcing.detach().to(device="cpu", dtype=torch.float64)
            self._forcing_hat = self.constant(torch.fft.rfft2(f))  # (n, n/2+1) or (batch, n, n/2+1)

    def nonlinear_product(self, w_hat: torch.Tensor) -> torch.Tensor:
        fields = torch.fft.irfft2(w_hat[:, None] * self._velocity_and_vorticity, s=self.grid_shape)
        fluxes = torch.fft.rfft2(fields[:, :2] * fields[:, 2:])
        # two fused multiply-adds of single fields: cheaper than a product of both and a sum over them
        x_part, y_part = self._minus_divergence[..., 0, :, :], self._minus_divergence[..., 1, :, :]
        tendency = torch.mul(fluxes[:, 0], x_part).addcmul_(fluxes[:, 1], y_part)
        if self._forcing_hat is not None:
            tendency += self._forcing_hat
        return tendency

    def velocity(self, w: torch.Tensor) -> torch.Tensor:
        """Velocity ``v = (psi_y, -psi_x)`` of vorticity ``w (batch, n, n)``: ``(batch, 2, n, n)``."""
        self.check_state(w, "w")
        w_hat = self.to_spectral(w)
        return torch.fft.irfft2(w_hat[:, None] * self._velocity_and_vorticity[..., :2, :, :], s=self.grid_shape)

    def _coefficient_text(self) -> str:
        forced = "forced, " if self.forcing is not None else ""
        nu = f"{self.nu:g}" if isinstance(self.nu, float) else f"per sample [{self.nu.min():g}, {self.nu.max():g}]"
        return f"nu={nu}, mu={self.mu:g}, {forced}"
