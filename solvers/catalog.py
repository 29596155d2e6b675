"""The solvers by equation name, and the exact propagator of an equation's linear part.

``pde_data`` describes equations by these names (a new one joins with ``register_solver``) (``burgers``, ``kdv``, ``ks``, ``ns``);
``operators`` uses ``linear_propagator`` to advance the linear part exactly (the
semilinear observer's ``linear="exact"``) without importing ``pde_data``.
"""

from __future__ import annotations

import torch

from solvers.base import SpectralSolver
from solvers.burgers import Burgers1D
from solvers.errors import InputError
from solvers.kdv import KdV1D
from solvers.kuramoto_sivashinsky import KuramotoSivashinsky1D
from solvers.navier_stokes import NavierStokes2D

SOLVERS: dict[str, type[SpectralSolver]] = {
    "burgers": Burgers1D,
    "kdv": KdV1D,
    "ks": KuramotoSivashinsky1D,
    "ns": NavierStokes2D,
}


def register_solver(equation: str, solver: type[SpectralSolver]) -> type[SpectralSolver]:
    """Name a solver class (from outside the package too) so that recipes and ``linear_propagator`` find it."""
    if equation in SOLVERS:
        raise ValueError(f"a solver for {equation!r} is registered twice")  # a programming error
    SOLVERS[equation] = solver
    return solver


def solver_class(equation: str) -> type[SpectralSolver]:
    """The solver of ``equation`` (a name in ``SOLVERS``)."""
    if equation not in SOLVERS:
        raise InputError(f"unknown equation {equation!r}; known: {', '.join(sorted(SOLVERS))}")
    return SOLVERS[equation]


def linear_propagator(equation: str, n: int, length: float, dt: float, coefficients: dict) -> torch.Tensor:
    """``exp(L dt)`` per Fourier mode of ``u_t = L u + N(u)``: complex128 on the rfftn grid of ``n`` points per axis.

    Advances the linear part exactly over ``dt`` (time units): ``irfftn(P * rfftn(u))``.
    """
    solver = solver_class(equation)(n=n, length=length, dt=dt, **coefficients)
    return torch.exp(solver.linear_symbol().to(torch.complex128) * dt)
