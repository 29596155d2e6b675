"""Random initial conditions: Gaussian random fields, LPSDA sine series, truncated Fourier series.

Every generator has ``sample(batch, generator=None, device="cpu", dtype=torch.float64)``
returning ``(batch, *grid)`` on the periodic grid ``x_j = j * length / n``. Random
numbers are drawn on the CPU in float64 from the given ``torch.Generator`` (or an
integer seed), so a seed gives the same field on every device.
"""

from __future__ import annotations

import math

import torch

from solvers.errors import InputError
from solvers.spectral import spectral_grid, squared_wavenumber

GeneratorLike = torch.Generator | int | None


def as_generator(generator: GeneratorLike) -> torch.Generator:
    """A CPU ``torch.Generator`` from a generator, an integer seed, or None (a fresh random seed)."""
    if isinstance(generator, torch.Generator):
        return generator
    created = torch.Generator()
    if generator is None:
        created.seed()
    elif isinstance(generator, int) and not isinstance(generator, bool):
        created.manual_seed(generator)
    else:
        raise TypeError(f"generator must be a torch.Generator, an int seed or None, got {type(generator).__name__}")
    return created


def _check_size(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class InitialCondition:
    """Common interface: ``sample`` checks its arguments, draws on the CPU in float64 (``_draw``), then moves."""

    def sample(
        self,
        batch: int,
        generator: GeneratorLike = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float64,
    ) -> torch.Tensor:
        """``(batch, *grid)`` samples on ``device`` in ``dtype``."""
        _check_size("batch", batch, 1)
        return self._draw(batch, as_generator(generator)).to(device=device, dtype=dtype)

    def _draw(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def describe(self) -> str:
        """A phrase for captions: "a ... field"."""
        raise NotImplementedError

    @classmethod
    def from_spec(cls, n: int, ndim: int, length: float, **parameters) -> InitialCondition:
        """The family on ``n`` points per axis of a ``ndim``-dimensional domain of side ``length`` with a
        recipe's parameters; a family that does not use the length or works in one dimension only says so here."""
        return cls(n, ndim=ndim, **parameters)


class GaussianRandomField(InitialCondition):
    """Zero-mean Gaussian random field with covariance ``sigma^2 (-lap + tau^2 I)^(-alpha)`` (FNO convention).

    The Laplacian is in physical units on ``[0, length)^d`` (eigenvalues
    ``(2 pi |m| / length)^2``) and the constant mode is zero. The pointwise
    covariance is ``C(x, x') = sum_{m != 0} lambda_m cos(2 pi m . (x - x') / length) / length^d``
    with ``lambda_m = sigma^2 ((2 pi |m| / length)^2 + tau^2)^(-alpha)``; on the unit
    box this is exactly the FNO data generator's field.

    Args:
        n: grid points per axis.
        ndim: 1 or 2.
        length: box side (default 1).
        alpha: smoothness (default 2.5).
        tau: inverse length scale (default 7).
        sigma: amplitude; default ``tau^(alpha - d/2)``, FNO's choice.
    """

    @classmethod
    def from_spec(cls, n: int, ndim: int, length: float, **parameters) -> GaussianRandomField:
        return cls(n, ndim=ndim, length=length, **parameters)

    def __init__(
        self,
        n: int,
        ndim: int = 1,
        length: float = 1.0,
        alpha: float = 2.5,
        tau: float = 7.0,
        sigma: float | None = None,
    ):
        self.n = _check_size("n", n, 2)
        if ndim not in (1, 2, 3):
            raise InputError(f"ndim must be 1, 2 or 3, got {ndim!r}")
        self.ndim = ndim
        for name, value in (("length", length), ("alpha", alpha), ("tau", tau)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InputError(f"{name} must be a finite number > 0, got {value!r}")
        self.length, self.alpha, self.tau = float(length), float(alpha), float(tau)
        self.sigma = float(sigma) if sigma is not None else self.tau ** (self.alpha - ndim / 2)

    def eigenvalues(self) -> torch.Tensor:
        """``lambda_m`` on the rfftn grid (float64), zero for the constant mode."""
        k2 = squared_wavenumber(self.n, self.length, self.ndim)
        values = self.sigma**2 * (k2 + self.tau**2) ** (-self.alpha)
        values.reshape(-1)[0] = 0.0
        return values

    def covariance(self, displacement: torch.Tensor) -> torch.Tensor:
        """``C(x, x + displacement)`` for displacements ``(..., ndim)`` (float64), summed over the grid's modes."""
        lam = self.eigenvalues()
        grids = spectral_grid(self.n, self.length, self.ndim)
        # full-spectrum sum: the rfft half counts twice except its self-conjugate planes
        weights = torch.full_like(lam, 2.0)
        last = weights.movedim(-1, 0)
        last[0] = 1.0
        if self.n % 2 == 0:
            last[-1] = 1.0
        flat_k = [torch.broadcast_to(k, lam.shape).reshape(-1) for k in grids]
        d = displacement.to(torch.float64).reshape(-1, self.ndim)
        angle = sum(d[:, i, None] * flat_k[i][None, :] for i in range(self.ndim))
        total = (torch.cos(angle) * (weights * lam).reshape(-1)[None, :]).sum(-1)
        return (total / self.length**self.ndim).reshape(displacement.shape[:-1])

    def _draw(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        # white noise filtered by sqrt(lambda) has exactly the covariance above, Nyquist modes included
        shape = (batch, *(self.n,) * self.ndim)
        noise = torch.randn(shape, generator=generator, dtype=torch.float64)
        axes = tuple(range(-self.ndim, 0))
        scale = torch.sqrt(self.eigenvalues() * self.n**self.ndim / self.length**self.ndim)
        return torch.fft.irfftn(torch.fft.rfftn(noise, dim=axes) * scale, s=shape[1:], dim=axes)

    def describe(self) -> str:
        return f"a zero-mean Gaussian random field with covariance {self.sigma:.4g}^2 (-Laplacian + {self.tau:g}^2)^-{self.alpha:g}"


class RandomSineSeries(InitialCondition):
    """LPSDA's initial condition: ``u(x) = sum_j A_j sin(2 pi l_j x / length + phi_j)``.

    ``A_j ~ U(-amplitude, amplitude)``, ``phi_j ~ U(0, 2 pi)``, ``l_j`` uniform over
    ``wavenumbers``; 1D only. The field depends on ``x / length`` alone, so the
    same draw serves any (jittered) domain length.

    Args:
        n: grid points. terms: number of sines (default 10). amplitude: default 0.5.
        wavenumbers: the integer wavenumbers drawn from (default ``(1, 2)``).
    """

    ndim = 1

    @classmethod
    def from_spec(cls, n: int, ndim: int, length: float, **parameters) -> RandomSineSeries:
        if ndim != 1:
            raise InputError("the sine-series initial condition is 1D only")
        return cls(n, **parameters)

    def __init__(self, n: int, terms: int = 10, amplitude: float = 0.5, wavenumbers: tuple[int, ...] = (1, 2)):
        self.n = _check_size("n", n, 2)
        self.terms = _check_size("terms", terms, 1)
        if not math.isfinite(amplitude) or amplitude <= 0:
            raise InputError(f"amplitude must be a finite number > 0, got {amplitude!r}")
        if not wavenumbers or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in wavenumbers):
            raise InputError(f"wavenumbers must be positive integers, got {wavenumbers!r}")
        self.amplitude = float(amplitude)
        self.wavenumbers = tuple(wavenumbers)

    def _draw(self, batch: int, g: torch.Generator) -> torch.Tensor:
        amplitudes = (2 * torch.rand(batch, self.terms, 1, generator=g, dtype=torch.float64) - 1) * self.amplitude
        phases = 2 * math.pi * torch.rand(batch, self.terms, 1, generator=g, dtype=torch.float64)
        choice = torch.randint(len(self.wavenumbers), (batch, self.terms, 1), generator=g)
        wavenumbers = torch.tensor(self.wavenumbers, dtype=torch.float64)[choice]
        position = torch.arange(self.n, dtype=torch.float64) / self.n  # x / length
        return (amplitudes * torch.sin(2 * math.pi * wavenumbers * position + phases)).sum(dim=1)

    def describe(self) -> str:
        waves = ", ".join(str(w) for w in self.wavenumbers)
        return (
            f"a sum of {self.terms} sines with amplitudes uniform in [-{self.amplitude:g}, {self.amplitude:g}], "
            f"random phases and wavenumbers from {{{waves}}} periods per domain"
        )


class TruncatedFourierSeries(InitialCondition):
    """Random smooth field from the lowest Fourier modes (exponax's truncated Fourier series).

    Real and imaginary parts of every mode with all ``|m_i| < cutoff`` (constant mode
    excluded) are standard normal; the field is then scaled so that its maximum
    absolute value is ``max_amplitude`` (per sample).

    Args:
        n: grid points per axis. ndim: 1 or 2. cutoff: modes kept per axis (default 5).
        max_amplitude: default 1.
    """

    def __init__(self, n: int, ndim: int = 1, cutoff: int = 5, max_amplitude: float = 1.0):
        self.n = _check_size("n", n, 2)
        if ndim not in (1, 2, 3):
            raise InputError(f"ndim must be 1, 2 or 3, got {ndim!r}")
        self.ndim = ndim
        self.cutoff = _check_size("cutoff", cutoff, 2)
        if 2 * self.cutoff > n:
            raise InputError(f"cutoff {cutoff} needs at least {2 * cutoff} grid points, got n = {n}")
        self.max_amplitude = float(max_amplitude)

    def _draw(self, batch: int, g: torch.Generator) -> torch.Tensor:
        spectral_shape = (*(self.n,) * (self.ndim - 1), self.n // 2 + 1)
        coefficients = torch.randn((batch, *spectral_shape, 2), generator=g, dtype=torch.float64)
        keep = torch.ones((), dtype=torch.bool)
        for k in spectral_grid(self.n, 2 * math.pi, self.ndim):  # integer wavenumbers
            keep = keep & (k.abs() < self.cutoff)
        keep = keep.clone()
        keep.reshape(-1)[0] = False
        spectrum = torch.view_as_complex(coefficients) * keep
        axes = tuple(range(-self.ndim, 0))
        field = torch.fft.irfftn(spectrum, s=(self.n,) * self.ndim, dim=axes)
        peak = field.flatten(1).abs().amax(dim=1).reshape(-1, *(1,) * self.ndim)
        return field * (self.max_amplitude / peak)

    def describe(self) -> str:
        return f"a random Fourier series of the modes below {self.cutoff}, scaled to peak {self.max_amplitude:g}"


#: kind -> family; a new family is a class with ``from_spec`` and one entry here
INITIAL_CONDITIONS: dict[str, type[InitialCondition]] = {
    "grf": GaussianRandomField,
    "sines": RandomSineSeries,
    "fourier": TruncatedFourierSeries,
}


def make_initial_condition(spec: dict, n: int, ndim: int, length: float):
    """Build an initial-condition generator from a recipe's ``{"kind": ..., **parameters}``."""
    parameters = dict(spec)
    kind = parameters.pop("kind", None)
    if kind not in INITIAL_CONDITIONS:
        raise InputError(f"unknown initial condition kind {kind!r}; known: {', '.join(INITIAL_CONDITIONS)}")
    return INITIAL_CONDITIONS[kind].from_spec(n, ndim, length, **parameters)
