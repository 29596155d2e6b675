"""One description per equation: its solver, field, text, derived fields, per-sample coefficients and
whether it takes a forcing; and the forcings, each one entry with its field and its words.

Everything pdeop says or does about an equation outside the solver itself (the stored field's name,
the dimension, captions, ``pdeop info``'s text, which extra fields a file may carry, which
coefficients may vary per sample, whether forcing parameters apply) comes from the ``Equation``
object here. Adding an equation is its solver module (registered with ``solvers.register_solver``)
and one ``register_equation(Equation(...))``; its presets register with ``pde_data.register_preset``.
A forcing is one ``Forcing`` entry in ``FORCINGS``.
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
    """A named, time-independent vorticity forcing field ``f(x, y)`` of a 2D equation.

    Attributes:
        field: ``(x, y, length, amplitude, wavenumber) -> f`` on the grid (float64 coordinates).
        text: the field as a formula, at the recipe's fixed settings (``pdeop info``, descriptions).
        phrase: ``(amplitude, wavenumber) -> words`` for a caption ("driven by ...").
        amplitude: the amplitude of a recipe's fixed ``forcing`` (a drawn one has its own default,
            ``parameters.FORCING_DEFAULTS``).
    """

    field: Callable[[torch.Tensor, torch.Tensor, float, float, int], torch.Tensor]
    text: str
    phrase: Callable[[float, int], str]
    amplitude: float = 0.1

    def build(self, x: torch.Tensor, y: torch.Tensor, length: float, wavenumber: int = 4) -> torch.Tensor:
        """The field at the fixed settings: a recipe's ``forcing``."""
        return self.field(x, y, length, self.amplitude, wavenumber)


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
        per_sample_coefficients: coefficients the solver takes one value per sample of
            (a recipe may vary them: ``Recipe.varying``).
        forced: whether the solver takes a ``forcing`` field (``FORCINGS``; a recipe may vary it).
    """

    key: str
    solver: type[solvers.SpectralSolver]
    title: str
    text: str
    field: str
    inline_coefficients: tuple[str, ...] = ()
    derived_fields: Mapping[str, DerivedField] = field(default_factory=dict)
    per_sample_coefficients: tuple[str, ...] = ()
    forced: bool = False

    @property
    def ndim(self) -> int:
        return self.solver.ndim

    def equation_text(self, coefficients: Mapping[str, float]) -> str:
        """``text`` with the inline coefficients' values substituted."""
        text = self.text
        for name in self.inline_coefficients:
            text = re.sub(rf"\b{name}\b", f"{coefficients[name]:g}", text)
        return text


def _fno_forcing(x: torch.Tensor, y: torch.Tensor, length: float, amplitude: float) -> torch.Tensor:
    field = fno_forcing(x / length, y / length)  # FNO's amplitude 0.1 built in
    # at FNO's own amplitude the field is returned as computed, so fixed-forcing data stay bit for bit as before
    return field if amplitude == 0.1 else amplitude * field / 0.1


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
            per_sample_coefficients=("nu",),
            forced=True,
        ),
    )
}

FORCINGS: dict[str, Forcing] = {
    "none": Forcing(
        lambda x, y, length, amplitude, wavenumber: torch.zeros_like(x),
        "f = 0",
        lambda a, n: "with no forcing, decaying freely",
    ),
    "fno": Forcing(
        lambda x, y, length, amplitude, wavenumber: _fno_forcing(x, y, length, amplitude),
        "f = 0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))",
        lambda a, n: f"driven by a diagonal sinusoidal forcing of amplitude {a:.3g}",
    ),
    "kolmogorov": Forcing(
        lambda x, y, length, amplitude, wavenumber: kolmogorov_forcing(y, length, wavenumber, amplitude),
        "Kolmogorov forcing f = -k cos(k y), k = 8 pi / L (the curl of the body force (sin k y, 0))",
        lambda a, n: f"driven by Kolmogorov forcing at wavenumber {n} with amplitude {a:.3g}",
        amplitude=1.0,  # Kochkov et al.'s unit body force
    ),
}


def register_equation(description: Equation) -> Equation:
    """Add an equation (from outside the package too); its solver must be registered with
    ``solvers.register_solver``."""
    if description.key in EQUATIONS:
        raise ValueError(f"equation {description.key!r} is registered twice")  # a programming error
    EQUATIONS[description.key] = description
    return description


def equation(key: str) -> Equation:
    """The description of equation ``key``; InputError listing the known ones otherwise."""
    if key not in EQUATIONS:
        raise InputError(f"unknown equation {key!r}; known: {', '.join(sorted(EQUATIONS))}")
    return EQUATIONS[key]


def grid_coordinates(n: int, length: float, ndim: int) -> tuple[torch.Tensor, ...]:
    """Float64 coordinates ``x_j = j * length / n`` per axis, ``indexing="ij"`` (each ``(n,) * ndim``)."""
    x = torch.arange(n, dtype=torch.float64) * (length / n)
    return torch.meshgrid(*(x,) * ndim, indexing="ij")
