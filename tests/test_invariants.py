"""Conservation laws and energy budgets the equations imply."""

from __future__ import annotations

import math

import torch

import solvers
from solvers.analytic import kdv_soliton


def spectral_derivative(u: torch.Tensor, length: float) -> torch.Tensor:
    n = u.shape[-1]
    k = torch.fft.rfftfreq(n, d=length / n).to(u.dtype) * 2 * math.pi
    return torch.fft.irfft(1j * k * torch.fft.rfft(u), n=n)


def integral(u: torch.Tensor, length: float, ndim: int = 1) -> torch.Tensor:
    return u.flatten(-ndim).mean(-1) * length**ndim


def test_kdv_conserves_mass_energy_and_hamiltonian():
    length, alpha, beta = 40.0, 6.0, 1.0
    solver = solvers.KdV1D(n=256, length=length, dt=2e-3, alpha=alpha, beta=beta)
    x = solver.grid
    # two solitons that overtake each other: a nonlinear interaction, not a translation
    u0 = kdv_soliton(x, 0.0, 4.0, 10.0, length) + kdv_soliton(x, 0.0, 1.0, 16.0, length)
    u = solver.solve(u0[None], [0.0, 0.5, 1.0, 2.0])[0]

    def hamiltonian(v):
        return integral(beta * spectral_derivative(v, length) ** 2 / 2 - alpha / 6 * v**3, length)

    for quantity in (lambda v: integral(v, length), lambda v: integral(v**2, length), hamiltonian):
        values = torch.stack([quantity(frame) for frame in u])
        assert (values - values[0]).abs().max() < 1e-7 * values[0].abs()


def test_burgers_conserves_mass_and_dissipates_energy_at_the_viscous_rate():
    length, nu, dt = 1.0, 0.01, 1e-4
    solver = solvers.Burgers1D(n=256, length=length, dt=dt, nu=nu)
    x = solver.grid
    u0 = (torch.sin(2 * math.pi * x) + 0.5 * torch.cos(4 * math.pi * x) + 0.3)[None]
    u = solver.solve(u0, [0.0, 0.1 - dt, 0.1, 0.1 + dt])[0]
    masses = integral(u, length)
    assert (masses - masses[0]).abs().max() < 1e-12
    energy = integral(u**2 / 2, length)
    rate = (energy[3] - energy[1]) / (2 * dt)
    expected = -nu * integral(spectral_derivative(u[2], length) ** 2, length)
    assert abs(rate - expected) < 1e-6 * abs(expected)
    assert energy[1] < energy[0]


def test_navier_stokes_keeps_zero_mean_and_dissipates_energy_at_minus_two_nu_enstrophy():
    length, nu, dt = 1.0, 1e-3, 1e-3
    solver = solvers.NavierStokes2D(n=32, length=length, dt=dt, nu=nu)
    generator = torch.Generator().manual_seed(1)
    k2 = solver.squared_wavenumber
    spectrum = torch.randn(2, 32, 17, dtype=torch.complex128, generator=generator) * torch.exp(-k2 / 400)
    w0 = torch.fft.irfft2(spectrum * (k2 > 0), s=(32, 32))
    w = solver.solve(w0, [0.0, 0.2 - dt, 0.2, 0.2 + dt])
    assert integral(w, length, ndim=2).abs().max() < 1e-12

    def energy(frame):
        return integral((solver.velocity(frame) ** 2).sum(1) / 2, length, ndim=2)

    rate = (energy(w[:, 3]) - energy(w[:, 1])) / (2 * dt)
    enstrophy = integral(w[:, 2] ** 2 / 2, length, ndim=2)
    assert torch.allclose(rate, -2 * nu * enstrophy, rtol=1e-6)
