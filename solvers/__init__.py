"""Classical pseudo-spectral solvers on periodic domains, in pure torch.

Batched over the first axis, on CPU or GPU, float64 or float32, differentiable.
Each equation is a small class giving its linear Fourier symbol and nonlinear
term; time stepping is one shared exponential integrator (ETDRK1-4).

    >>> import torch, solvers
    >>> ks = solvers.KuramotoSivashinsky1D(n=128, length=32 * torch.pi, dt=0.25)
    >>> x = ks.grid
    >>> u0 = (torch.cos(x / 16) * (1 + torch.sin(x / 16)))[None]
    >>> ks.solve(u0, [0.0, 10.0, 20.0]).shape
    torch.Size([1, 3, 128])
"""

from typing import TYPE_CHECKING

from solvers.lazy import lazy_exports

if TYPE_CHECKING:  # what the names are, for type checkers and the API reference; loaded on first use
    from solvers.base import SpectralSolver
    from solvers.burgers import Burgers1D
    from solvers.catalog import SOLVERS, linear_propagator, register_solver, solver_class
    from solvers.device import resolve_device
    from solvers.errors import InputError, MissingFileError, SolverDivergedError
    from solvers.etdrk import ETDRKStepper, etdrk_coefficients
    from solvers.kdv import KdV1D
    from solvers.kuramoto_sivashinsky import KuramotoSivashinsky1D, KuramotoSivashinsky2D
    from solvers.navier_stokes import NavierStokes2D
    from solvers.resample import fourier_resample

_EXPORTS = {
    "SpectralSolver": "solvers.base",
    "Burgers1D": "solvers.burgers",
    "SOLVERS": "solvers.catalog",
    "linear_propagator": "solvers.catalog",
    "register_solver": "solvers.catalog",
    "solver_class": "solvers.catalog",
    "resolve_device": "solvers.device",
    "InputError": "solvers.errors",
    "MissingFileError": "solvers.errors",
    "SolverDivergedError": "solvers.errors",
    "ETDRKStepper": "solvers.etdrk",
    "etdrk_coefficients": "solvers.etdrk",
    "KdV1D": "solvers.kdv",
    "KuramotoSivashinsky1D": "solvers.kuramoto_sivashinsky",
    "KuramotoSivashinsky2D": "solvers.kuramoto_sivashinsky",
    "NavierStokes2D": "solvers.navier_stokes",
    "fourier_resample": "solvers.resample",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "SOLVERS",
    "Burgers1D",
    "ETDRKStepper",
    "InputError",
    "KdV1D",
    "KuramotoSivashinsky1D",
    "KuramotoSivashinsky2D",
    "MissingFileError",
    "NavierStokes2D",
    "SolverDivergedError",
    "SpectralSolver",
    "etdrk_coefficients",
    "fourier_resample",
    "linear_propagator",
    "register_solver",
    "resolve_device",
    "solver_class",
]
