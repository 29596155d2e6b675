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

from solvers.base import SpectralSolver
from solvers.burgers import Burgers1D
from solvers.catalog import SOLVERS, linear_propagator, solver_class
from solvers.device import resolve_device
from solvers.errors import InputError, MissingFileError, SolverDivergedError
from solvers.etdrk import ETDRKStepper, etdrk_coefficients
from solvers.kdv import KdV1D
from solvers.kuramoto_sivashinsky import KuramotoSivashinsky1D, KuramotoSivashinsky2D
from solvers.navier_stokes import NavierStokes2D
from solvers.resample import fourier_resample

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
    "resolve_device",
    "solver_class",
]
