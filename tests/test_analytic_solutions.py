"""Solvers against exact solutions: KdV soliton, Burgers by Cole-Hopf, Taylor-Green decay, FNO steady state."""

from __future__ import annotations

import math

import pytest
import torch

import solvers
from solvers.analytic import (
    burgers_cole_hopf_sine,
    fno_forcing,
    fno_forcing_steady_state,
    kdv_soliton,
    scaled_bessel_i,
    taylor_green_vorticity,
)


def test_scaled_bessel_matches_scipy():
    special = pytest.importorskip("scipy.special")
    orders = torch.arange(0, 40)
    for z in (0.5, 5.0, 50.0):
        expected = torch.from_numpy(special.ive(orders.numpy(), z))
        assert torch.allclose(scaled_bessel_i(orders, z), expected, atol=1e-15, rtol=1e-12)


def test_kdv_soliton_travels_at_its_speed():
    length, speed = 40.0, 4.0
    solver = solvers.KdV1D(n=256, length=length, dt=0.005)
    x = solver.grid
    times = [0.0, 1.0, 2.0]
    u = solver.solve(kdv_soliton(x, 0.0, speed, 15.0, length)[None], times)
    for i, t in enumerate(times):
        exact = kdv_soliton(x, t, speed, 15.0, length)
        assert (u[0, i] - exact).abs().max() < 5e-5 * exact.abs().max()


@pytest.mark.parametrize("nu", [0.1, 0.07])
def test_burgers_matches_cole_hopf(nu):
    solver = solvers.Burgers1D(n=256, length=2 * math.pi, dt=1e-3, nu=nu)
    x = solver.grid
    times = [0.0, 0.5, 1.5]
    u = solver.solve(torch.sin(x)[None], times)
    for i, t in enumerate(times):
        assert (u[0, i] - burgers_cole_hopf_sine(x, t, nu)).abs().max() < 1e-8


def test_cole_hopf_formula_starts_at_the_initial_condition():
    x = torch.linspace(0, 2 * math.pi, 33, dtype=torch.float64)
    assert torch.allclose(burgers_cole_hopf_sine(x, 0.0, 0.1), torch.sin(x), atol=1e-11)


@pytest.mark.parametrize("mode", [1, 3])
def test_taylor_green_vortex_decays_exactly(mode):
    nu, length = 0.01, 2 * math.pi
    solver = solvers.NavierStokes2D(n=32, length=length, dt=0.05, nu=nu)
    x, y = solver.grid
    w = solver.solve(taylor_green_vorticity(x, y, 0.0, nu, length, mode)[None], [0.0, 1.0, 5.0])
    for i, t in enumerate([0.0, 1.0, 5.0]):
        assert torch.allclose(w[0, i], taylor_green_vorticity(x, y, t, nu, length, mode), atol=1e-12)


def test_fno_forcing_steady_state_is_kept():
    nu = 1e-3
    probe = solvers.NavierStokes2D(n=32, length=1.0, dt=1e-2, nu=nu)
    x, y = probe.grid
    solver = solvers.NavierStokes2D(n=32, length=1.0, dt=1e-2, nu=nu, forcing=fno_forcing(x, y))
    steady = fno_forcing_steady_state(x, y, nu)[None]
    assert solver.rhs(steady).abs().max() < 1e-12 * steady.abs().max()
    w = solver.solve(steady, [0.0, 2.0])
    assert torch.allclose(w[:, -1], steady, rtol=0, atol=1e-10 * steady.abs().max().item())


def test_forced_flow_approaches_the_steady_state_from_elsewhere():
    # the steady state attracts at viscous rate nu * 8 pi^2: after t = 3 / (8 pi^2 nu) the gap shrinks e^-3
    nu = 0.05
    probe = solvers.NavierStokes2D(n=16, length=1.0, dt=1e-2, nu=nu)
    x, y = probe.grid
    solver = solvers.NavierStokes2D(n=16, length=1.0, dt=1e-2, nu=nu, forcing=fno_forcing(x, y))
    steady = fno_forcing_steady_state(x, y, nu)[None]
    w = solver.solve(torch.zeros_like(steady), [0.0, round(3 / (8 * math.pi**2 * nu), 2)])
    gap = (w[:, -1] - steady).abs().max() / steady.abs().max()
    assert abs(gap - math.exp(-3)) < 0.01


def test_ks_2d_on_a_field_of_x_alone_is_the_derivative_of_the_1d_solution():
    # for u(x, y) = U(x), the 2D gradient form reduces to U_t + U_x^2/2 + U_xx + U_xxxx = 0,
    # whose derivative v = U_x solves the 1D conservative form
    length, n, dt = 32 * math.pi, 64, 0.05
    one = solvers.KuramotoSivashinsky1D(n=n, length=length, dt=dt)
    two = solvers.KuramotoSivashinsky2D(n=n, length=length, dt=dt)
    x, _ = two.grid
    potential = 16 * torch.sin(x / 16) - 4 * torch.cos(x / 8)  # U with U_x = cos(x/16)(1 + sin(x/16))
    v0 = torch.cos(one.grid / 16) * (1 + torch.sin(one.grid / 16))
    v = one.solve(v0[None], [0.0, 10.0])[0, -1]
    u = two.solve(potential[None], [0.0, 10.0])[0, -1]
    k = torch.fft.rfftfreq(n, d=length / n).double() * 2 * math.pi
    u_x = torch.fft.irfft(1j * k * torch.fft.rfft(u[:, 0]), n=n)
    assert torch.allclose(u_x, v, atol=1e-9 * v.abs().max().item())
    assert torch.allclose(u, u[:, :1].expand_as(u), atol=1e-12)
