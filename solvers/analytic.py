"""Exact solutions used to verify the solvers (and handy as test fields for users).

Each function evaluates on given coordinates in float64 unless the inputs say
otherwise; each docstring states its formula and where it comes from (soliton,
Cole-Hopf, Taylor-Green, the FNO forcing's steady state).
"""

from __future__ import annotations

import math

import torch


def kdv_soliton(x: torch.Tensor, t: float, speed: float, x0: float, length: float) -> torch.Tensor:
    """One-soliton of ``u_t + 6 u u_x + u_xxx = 0``: ``(c/2) sech^2(sqrt(c)/2 (x - c t - x0))``.

    Periodised on ``[0, length)`` by taking the nearest image, which is exact to
    rounding when the soliton is narrow compared with ``length``.
    """
    xi = torch.remainder(x - speed * t - x0 + length / 2, length) - length / 2
    return speed / 2 / torch.cosh(math.sqrt(speed) / 2 * xi) ** 2


def scaled_bessel_i(orders: torch.Tensor, z: float, points: int = 4096) -> torch.Tensor:
    """``exp(-z) I_n(z)`` for integer orders ``n`` and ``z > 0``, float64.

    From ``I_n(z) = (1/pi) int_0^pi exp(z cos s) cos(n s) ds`` by the trapezoidal
    rule, which converges geometrically for this periodic, analytic integrand.
    """
    s = torch.linspace(0, math.pi, points + 1, dtype=torch.float64)
    weights = torch.full_like(s, math.pi / points)
    weights[0] = weights[-1] = math.pi / (2 * points)
    integrand = torch.exp(z * (torch.cos(s) - 1))[None, :] * torch.cos(orders.double()[:, None] * s[None, :])
    return (integrand * weights).sum(dim=1) / math.pi


def burgers_cole_hopf_sine(x: torch.Tensor, t: float, nu: float) -> torch.Tensor:
    """Exact solution of ``u_t + u u_x = nu u_xx`` on ``[0, 2 pi)`` with ``u(x, 0) = sin x``.

    By the Cole-Hopf transform: ``u = 4 nu sum_n n I_n(a) e^{-nu n^2 t} sin(n x) /
    (I_0(a) + 2 sum_n I_n(a) e^{-nu n^2 t} cos(n x))`` with ``a = 1 / (2 nu)``,
    using exponentially scaled Bessel functions so that small ``nu`` does not overflow.
    The denominator near ``x = pi`` is a sum that cancels to about ``exp(-1/nu)`` of
    its terms, so the formula carries roughly ``1e-16 * exp(1/nu)`` absolute error:
    use it for ``nu >= 0.07`` or so (1e-9 there).
    """
    a = 1.0 / (2.0 * nu)
    terms = int(a + 12 * math.sqrt(a) + 40)
    n = torch.arange(1, terms + 1, dtype=torch.float64)
    bessel = scaled_bessel_i(torch.cat([torch.zeros(1), n]), a)
    decay = bessel[1:] * torch.exp(-nu * n**2 * t)
    phase = x.double()[..., None] * n
    numerator = 4 * nu * (n * decay * torch.sin(phase)).sum(-1)
    denominator = bessel[0] + 2 * (decay * torch.cos(phase)).sum(-1)
    return (numerator / denominator).to(x.dtype)


def taylor_green_vorticity(x: torch.Tensor, y: torch.Tensor, t: float, nu: float, length: float, mode: int = 1):
    """``w = 2 k sin(k x) sin(k y) exp(-2 nu k^2 t)`` with ``k = 2 pi mode / length``.

    The advection of a single-|k| field vanishes, so this solves 2D Navier-Stokes
    exactly (unforced, no drag).
    """
    k = 2 * math.pi * mode / length
    return 2 * k * torch.sin(k * x) * torch.sin(k * y) * math.exp(-2 * nu * k**2 * t)


def fno_forcing(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """FNO's Navier-Stokes forcing ``0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))`` on the unit torus."""
    phase = 2 * math.pi * (x + y)
    return 0.1 * (torch.sin(phase) + torch.cos(phase))


def kolmogorov_forcing(y: torch.Tensor, length: float, wavenumber: int = 4, amplitude: float = 1.0) -> torch.Tensor:
    """The vorticity forcing of 2D Kolmogorov flow: the curl of the body force ``(A sin(k y), 0)``,
    ``-A k cos(k y)`` with ``k = 2 pi n / L`` (Kochkov et al. 2021 use ``n = 4`` on ``[0, 2 pi)^2``)."""
    k = 2 * math.pi * wavenumber / length
    return -amplitude * k * torch.cos(k * y)


def kolmogorov_steady_state(y: torch.Tensor, length: float, nu: float, wavenumber: int = 4) -> torch.Tensor:
    """``w* = f / (nu k^2)``: the laminar Kolmogorov flow, an exact steady state (no drag).

    ``w*`` depends on ``y`` alone, so its velocity is ``(u(y), 0)`` and the advection
    ``u(y) d_x w*(y)`` vanishes; ``nu lap w* = -nu k^2 w* = -f``.
    """
    k = 2 * math.pi * wavenumber / length
    return kolmogorov_forcing(y, length, wavenumber) / (nu * k**2)


def fno_forcing_steady_state(x: torch.Tensor, y: torch.Tensor, nu: float) -> torch.Tensor:
    """``w* = f / (8 pi^2 nu)``: an exact steady state of the FNO-forced flow (no drag).

    ``f`` depends on ``x + y`` alone, so the advection of ``w*`` vanishes and
    ``nu lap w* = -f``.
    """
    return fno_forcing(x, y) / (8 * math.pi**2 * nu)
