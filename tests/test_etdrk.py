"""The ETDRK stepper: coefficients against closed forms, exactness on linear problems, convergence orders."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import observed_orders, relative_error

import solvers
from solvers.analytic import kdv_soliton
from solvers.etdrk import ETDRKStepper, etdrk_coefficients, phi_contour_means


def closed_form(z: torch.Tensor) -> dict[str, torch.Tensor]:
    ez = torch.exp(z)
    return {
        "phi1": (ez - 1) / z,
        "phi2": (ez - 1 - z) / z**2,
        "f1": (-4 - z + ez * (4 - 3 * z + z**2)) / z**3,
        "f2": (2 + z + ez * (z - 2)) / z**3,
        "f3": (-4 - 3 * z - z**2 + ez * (4 - z)) / z**3,
    }


@pytest.mark.parametrize(
    "z",
    [
        torch.tensor([-3.0, -10.0, -250.0, 2.5, 0.7 + 3.0j], dtype=torch.complex128),
        1j * torch.tensor([3.0, -12.0, 40.0, 1000.0], dtype=torch.complex128),  # dispersive symbols
    ],
)
def test_contour_means_match_closed_forms_away_from_zero(z):
    means = phi_contour_means(z)
    for name, exact in closed_form(z).items():
        assert torch.allclose(means[name], exact, rtol=1e-10, atol=1e-13), name


def test_contour_means_have_the_taylor_limits_at_zero():
    means = phi_contour_means(torch.zeros(1, dtype=torch.complex128))
    limits = {"phi1": 1.0, "phi2": 0.5, "f1": 1 / 6, "f2": 1 / 6, "f3": 1 / 6}
    for name, value in limits.items():
        assert abs(means[name].item() - value) < 1e-13, name


def test_imaginary_symbols_keep_complex_coefficients_and_real_ones_are_real():
    imaginary = etdrk_coefficients(1j * torch.linspace(-50, 50, 11, dtype=torch.float64), dt=0.1)
    assert all(c.is_complex() for c in imaginary.values())
    assert imaginary["f1"].imag.abs().max() > 1e-3  # the part a real-part shortcut would drop
    real = etdrk_coefficients(-torch.linspace(0, 50, 11, dtype=torch.float64), dt=0.1)
    assert not any(c.is_complex() for c in real.values())


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_linear_problems_are_exact_with_the_exact_propagator(order):
    symbol = torch.tensor([-1.0 + 2.0j, -0.1 - 7.0j, 0.3, -40.0], dtype=torch.complex128)
    stepper = ETDRKStepper(symbol, torch.zeros_like, dt=0.37, order=order)
    v = torch.ones(2, 4, dtype=torch.complex128)
    for _ in range(5):
        v = stepper(v)
    assert torch.allclose(v, torch.exp(symbol * 0.37 * 5).expand(2, 4), rtol=1e-13)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_constant_forcing_is_integrated_exactly(order):
    # u_t = L u + c has u(t) = e^{Lt} u0 + (e^{Lt} - 1) c / L: ETD schemes are exact for constant N
    symbol = torch.tensor([-2.0, -0.5 + 3.0j], dtype=torch.complex128)
    forcing = torch.tensor([1.5, -2.0 + 0.5j], dtype=torch.complex128)
    stepper = ETDRKStepper(symbol, lambda v: forcing.expand_as(v), dt=0.2, order=order)
    v = torch.zeros(1, 2, dtype=torch.complex128)
    for _ in range(10):
        v = stepper(v)
    exact = (torch.exp(symbol * 2.0) - 1) * forcing / symbol
    assert torch.allclose(v[0], exact, rtol=1e-12)


def test_bad_order_is_refused():
    with pytest.raises(ValueError, match="order must be 1, 2, 3 or 4"):
        etdrk_coefficients(torch.zeros(3), dt=0.1, order=5)


def _errors(make_solver, initial, final_time, dts, reference_dt, order):
    reference = make_solver(reference_dt, 4)
    u0 = initial(reference.grid)[None]
    target = reference.solve(u0, [0.0, final_time])[:, -1]
    return [relative_error(make_solver(dt, order).solve(u0, [0.0, final_time])[:, -1], target) for dt in dts]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_convergence_order_on_kuramoto_sivashinsky_real_symbol(order):
    def make(dt, scheme_order):
        return solvers.KuramotoSivashinsky1D(n=64, length=32 * math.pi, dt=dt, order=scheme_order)

    errors = _errors(make, lambda x: torch.cos(x / 16) * (1 + torch.sin(x / 16)), 4.0, [0.2, 0.1, 0.05], 1 / 320, order)
    assert all(abs(p - order) < 0.15 for p in observed_orders(errors)), (errors, observed_orders(errors))


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_convergence_order_on_kdv_imaginary_symbol(order):
    def make(dt, scheme_order):
        return solvers.KdV1D(n=64, length=40.0, dt=dt, order=scheme_order)

    errors = _errors(make, lambda x: kdv_soliton(x, 0.0, 1.0, 15.0, 40.0), 1.0, [0.02, 0.01, 0.005], 1 / 1280, order)
    assert all(abs(p - order) < 0.15 for p in observed_orders(errors)), (errors, observed_orders(errors))
