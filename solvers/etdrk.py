"""Exponential time-differencing Runge-Kutta steppers (ETDRK1-4, Cox & Matthews 2002).

For ``u_t = L u + N(u)`` with ``L`` diagonal in Fourier space, the linear part is
integrated exactly and the nonlinear part by a Runge-Kutta-like quadrature.
The phi-function coefficients are evaluated by the contour-integral method of
Kassam & Trefethen (2005) in complex128, which avoids the cancellation of the
closed-form expressions near ``z = 0``. The coefficients are kept complex when
the symbol is complex (dispersion, advection): taking the real part of the
contour mean is valid only for real symbols and makes dispersive equations
first-order accurate.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from solvers.errors import InputError

SpectralFunction = Callable[[torch.Tensor], torch.Tensor]

#: number of contour points and radius for the phi-function means
CONTOUR_POINTS = 32
CONTOUR_RADIUS = 1.0
_CHUNK = 1 << 16


def _phi_functions(w: torch.Tensor) -> dict[str, torch.Tensor]:
    """The closed-form ETD functions of ``w`` (complex128, away from 0)."""
    ew = torch.exp(w)
    w2, w3 = w * w, w * w * w
    return {
        "phi1": (ew - 1) / w,
        "phi2": (ew - 1 - w) / w2,
        "f1": (-4 - w + ew * (4 - 3 * w + w2)) / w3,
        "f2": (2 + w + ew * (w - 2)) / w3,
        "f3": (-4 - 3 * w - w2 + ew * (4 - w)) / w3,
    }


def phi_contour_means(z: torch.Tensor) -> dict[str, torch.Tensor]:
    """ETD functions of ``z`` by the mean over a circle of radius 1 around each ``z``.

    Args:
        z: complex128 or float64 tensor of any shape (``L * dt`` per mode).

    Returns:
        complex128 tensors shaped like ``z``: ``phi1 = (e^z - 1)/z``,
        ``phi2 = (e^z - 1 - z)/z^2`` and the Cox-Matthews ETDRK3/4 weights
        ``f1, f2, f3`` (Kassam & Trefethen 2005, eq. 2.5, divided by h).
    """
    shape = z.shape
    z = z.to(torch.complex128).reshape(-1)
    theta = 2 * math.pi * (torch.arange(CONTOUR_POINTS, dtype=torch.float64) + 0.5) / CONTOUR_POINTS
    circle = CONTOUR_RADIUS * torch.exp(1j * theta.to(torch.complex128))
    means: dict[str, list[torch.Tensor]] = {}
    # chunked so that large 2D grids do not need CONTOUR_POINTS copies at once
    for chunk in z.split(_CHUNK):
        values = _phi_functions(chunk[:, None] + circle[None, :])
        for name, value in values.items():
            means.setdefault(name, []).append(value.mean(dim=1))
    return {name: torch.cat(parts).reshape(shape) for name, parts in means.items()}


#: the coefficients that multiply nonlinear terms (and so absorb a nonlinear multiplier)
NONLINEAR_WEIGHTS = ("Q", "Q2", "Q_half", "f1", "f2x2", "f2x4", "f3")


def etdrk_coefficients(
    linear_symbol: torch.Tensor, dt: float | torch.Tensor, order: int = 4
) -> dict[str, torch.Tensor]:
    """Precomputed multipliers of the Cox-Matthews ETDRK scheme of ``order`` 1-4.

    Args:
        linear_symbol: ``L`` per Fourier mode (float64 or complex128), any shape.
        dt: time step (same time units as ``L``'s inverse); a number, or a float64
            tensor broadcastable against ``linear_symbol`` for per-sample steps.
        order: 1, 2, 3 or 4.

    Returns:
        complex128 tensors shaped like ``linear_symbol * dt`` (float64 where the
        symbol is real, since then every coefficient is real):
        ``E = e^{L dt}`` and ``E_half = e^{L dt/2}`` and the nonlinear weights
        (already multiplied by ``dt``) that ``etdrk_step`` expects.
    """
    if order not in (1, 2, 3, 4):
        raise InputError(f"ETDRK order must be 1, 2, 3 or 4, got {order!r}")
    is_real = not linear_symbol.is_complex() or bool((linear_symbol.imag == 0).all())
    z = linear_symbol.to(torch.complex128) * dt
    full = phi_contour_means(z)
    coefficients = {"E": torch.exp(z)}
    if order == 1:
        coefficients["Q"] = dt * full["phi1"]
    elif order == 2:
        coefficients["Q"] = dt * full["phi1"]
        coefficients["Q2"] = dt * full["phi2"]
    else:
        half = phi_contour_means(z / 2)
        coefficients["E_half"] = torch.exp(z / 2)
        coefficients["Q_half"] = dt / 2 * half["phi1"]
        coefficients["f1"] = dt * full["f1"]
        coefficients["f3"] = dt * full["f3"]
        if order == 3:
            coefficients["Q"] = dt * full["phi1"]
            coefficients["f2x4"] = 4 * dt * full["f2"]
        else:
            coefficients["f2x2"] = 2 * dt * full["f2"]
    if is_real:
        coefficients = {name: value.real.contiguous() for name, value in coefficients.items()}
    return coefficients


def _etdrk1(c: dict, v: torch.Tensor, nonlinear: SpectralFunction) -> torch.Tensor:
    return torch.addcmul(c["E"] * v, c["Q"], nonlinear(v))


def _etdrk2(c: dict, v: torch.Tensor, nonlinear: SpectralFunction) -> torch.Tensor:
    nv = nonlinear(v)
    a = torch.addcmul(c["E"] * v, c["Q"], nv)
    return torch.addcmul(a, c["Q2"], nonlinear(a) - nv)


def _etdrk3(c: dict, v: torch.Tensor, nonlinear: SpectralFunction) -> torch.Tensor:
    nv = nonlinear(v)
    ev = c["E"] * v
    a = torch.addcmul(c["E_half"] * v, c["Q_half"], nv)
    na = nonlinear(a)
    b = torch.addcmul(ev, c["Q"], 2 * na - nv)
    nb = nonlinear(b)
    out = torch.addcmul(ev, c["f1"], nv)
    out = torch.addcmul(out, c["f2x4"], na)
    return torch.addcmul(out, c["f3"], nb)


def _etdrk4(c: dict, v: torch.Tensor, nonlinear: SpectralFunction) -> torch.Tensor:
    # Cox-Matthews with the third stage expanded, c = E_half a + Q_half (2 N(b) - N(v))
    # = E v + (E_half - 1) Q_half N(v) + 2 Q_half N(b), so that E v is shared with the update
    # and every combination is one fused multiply-add into a fresh or reused buffer
    nv = nonlinear(v)
    ev_half = c["E_half"] * v
    a = torch.addcmul(ev_half, c["Q_half"], nv)
    na = nonlinear(a)
    b = ev_half.addcmul_(c["Q_half"], na)
    nb = nonlinear(b)
    ev = c["E"] * v
    third = torch.addcmul(ev, c["Q_half_x2"], nb).addcmul_(c["Q_third"], nv)
    nc = nonlinear(third)
    out = ev.addcmul_(c["f1"], nv).addcmul_(c["f2x2"], na).addcmul_(c["f2x2"], nb)
    return out.addcmul_(c["f3"], nc)


_SCHEMES = {1: _etdrk1, 2: _etdrk2, 3: _etdrk3, 4: _etdrk4}


class ETDRKStepper:
    """One ETDRK step of ``v_t = L v + N(v)`` in Fourier space: ``v_next = stepper(v)``.

    Args:
        linear_symbol: ``L`` per mode (float64 or complex128, the spectral shape).
        nonlinear: ``N``, mapping a spectral state ``(batch, *spectral)`` to its
            nonlinear tendency of the same shape and dtype.
        dt: time step.
        order: scheme order 1-4 (Cox-Matthews ETD1, ETD2RK, ETD3RK, ETDRK4).
        dtype: working complex dtype of the spectral state (complex64 or complex128).
        device: where the coefficients live.
        nonlinear_multiplier: optional diagonal Fourier multiplier ``D`` (float64 or
            complex128, spectral shape) when ``N(v) = D * P(v)``; then ``nonlinear``
            computes only ``P`` and ``D`` is folded into the coefficients once,
            saving a multiplication per stage (e.g. ``D = -i k / 2`` for ``-(u^2/2)_x``).

    The coefficients are computed once in float64/complex128 and cast to the
    working precision once, here.
    """

    def __init__(
        self,
        linear_symbol: torch.Tensor,
        nonlinear: SpectralFunction,
        dt: float | torch.Tensor,
        order: int = 4,
        dtype: torch.dtype = torch.complex128,
        device: torch.device | str | None = None,
        nonlinear_multiplier: torch.Tensor | None = None,
    ):
        coefficients = etdrk_coefficients(linear_symbol, dt, order)
        if nonlinear_multiplier is not None:
            multiplier = nonlinear_multiplier.to(torch.complex128)
            for name in NONLINEAR_WEIGHTS:
                if name in coefficients:
                    coefficients[name] = coefficients[name] * multiplier
        if order == 4:
            coefficients["Q_half_x2"] = 2 * coefficients["Q_half"]
            coefficients["Q_third"] = (coefficients["E_half"] - 1) * coefficients["Q_half"]
        # complex even when real: torch multiplies complex by complex faster than it
        # promotes a real factor on every call
        self.coefficients = {name: value.to(device=device, dtype=dtype) for name, value in coefficients.items()}
        self.nonlinear = nonlinear
        self.dt = dt
        self.order = order
        self._scheme = _SCHEMES[order]

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        return self._scheme(self.coefficients, v, self.nonlinear)
