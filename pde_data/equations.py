"""One description per equation: its solver, field, text, derived fields and forcings.

Everything pdeop says or does about an equation outside the solver itself (the
stored field's name, the dimension, captions, ``pdeop info``'s text, which extra
fields a file may carry, which forcing fields exist) comes from the ``Equation``
object here, so adding an equation is one entry in ``EQUATIONS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

import solvers
from solvers.analytic import fno_forcing, kolmogorov_forcing
from solvers.errors import InputError


@dataclass(frozen=True)
class DerivedField:
    """A field computed from the solver state, stored beside the primary field.

    Attributes:
        components: 0 for a scalar field, else the number of vector components (= ndim).
        compute: ``(solver, states (batch, *grid)) -> (batch, *grid)`` for scalars or
            ``(batch, components, *grid)`` for vectors, on the solver grid.
        description: one line for captions and docs.
    """

    components: int
    compute: Callable[[solvers.SpectralSolver, torch.Tensor], torch.Tensor]
    description: str


@dataclass(frozen=True)
class Forcing:
    """A named, time-independent forcing field ``f(x, y)`` of a 2D equation."""

    build: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]  # (x, y, length) on the grid -> f
    text: str


@dataclass(frozen=True)
class Equation:
    """What pdeop knows about one equation.

    Attributes:
        key: short name used in recipes (``burgers``, ``kdv``, ``ks``, ``ns``).
        solver: the ``solvers`` class that solves it.
        title: a readable name ("viscous Burgers equation").
        text: the equation as solved, with coefficient names.
        field: name of the solved (primary, scalar) field.
        inline_coefficients: coefficients written into ``text`` in captions
            (instead of listed after it).
        derived_fields: extra fields a file may store (``Recipe.extra_fields``).
    """

    key: str
    solver: type[solvers.SpectralSolver]
    title: str
    text: str
    field: str
    inline_coefficients: tuple[str, ...] = ()
    derived_fields: Mapping[str, DerivedField] = field(default_factory=dict)

    @property
    def ndim(self) -> int:
        return self.solver.ndim

    def equation_text(self, coefficients: Mapping[str, float]) -> str:
        """``text`` with the inline coefficients' values substituted."""
        text = self.text
        for name in self.inline_coefficients:
            text = re.sub(rf"\b{name}\b", f"{coefficients[name]:g}", text)
        return text


def _velocity(solver: solvers.SpectralSolver, states: torch.Tensor) -> torch.Tensor:
    return solver.velocity(states)


EQUATIONS: dict[str, Equation] = {
    equation.key: equation
    for equation in (
        Equation("burgers", solvers.solver_class("burgers"), "viscous Burgers equation", "u_t + u u_x = nu u_xx", "u"),
        Equation(
            "kdv",
            solvers.solver_class("kdv"),
            "Korteweg-de Vries equation",
            "u_t + alpha u u_x + beta u_xxx = 0",
            "u",
            inline_coefficients=("alpha", "beta"),
        ),
        Equation(
            "ks", solvers.solver_class("ks"), "Kuramoto-Sivashinsky equation", "u_t + u u_x + u_xx + u_xxxx = 0", "u"
        ),
        Equation(
            "ns",
            solvers.solver_class("ns"),
            "2D incompressible Navier-Stokes equations in vorticity form",
            "w_t + v . grad w = nu lap w - mu w + f",
            "vorticity",
            derived_fields={"velocity": DerivedField(2, _velocity, "the velocity v = (psi_y, -psi_x)")},
        ),
    )
}

FORCINGS: dict[str, Forcing] = {
    "fno": Forcing(
        lambda x, y, length: fno_forcing(x / length, y / length), "f = 0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))"
    ),
    "kolmogorov": Forcing(
        lambda x, y, length: kolmogorov_forcing(y, length),
        "Kolmogorov forcing f = -k cos(k y), k = 8 pi / L (the curl of the body force (sin k y, 0))",
    ),
}


def equation(key: str) -> Equation:
    """The description of equation ``key``; InputError listing the known ones otherwise."""
    if key not in EQUATIONS:
        raise InputError(f"unknown equation {key!r}; known: {', '.join(sorted(EQUATIONS))}")
    return EQUATIONS[key]


def grid_coordinates(n: int, length: float, ndim: int) -> tuple[torch.Tensor, ...]:
    """Float64 coordinates ``x_j = j * length / n`` per axis, ``indexing="ij"`` (each ``(n,) * ndim``)."""
    x = torch.arange(n, dtype=torch.float64) * (length / n)
    return torch.meshgrid(*(x,) * ndim, indexing="ij")
